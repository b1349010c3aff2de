"""Per-camera counters, rates, latency percentiles and stage timings. Numbers only, never faces."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

STAGES = ("detect", "track", "quality", "embed", "search")


@dataclass
class CameraMetrics:
    """What a camera's engine has done, safe to publish."""

    frames: int = 0
    faces: int = 0
    tracks: int = 0
    tracks_ended_unmatched: int = 0
    embeddings: int = 0
    alerts: int = 0
    suppressed_by_cooldown: int = 0
    held_by_mitigation: int = 0
    identity_splits: int = 0
    scene_cuts: int = 0
    errors: int = 0
    stage_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    _frame_latencies: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    _frame_times: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def frame_done(self, captured_at: float) -> None:
        """Count a processed frame and how long after capture its processing finished."""
        with self._lock:
            self.frames += 1
            self._frame_times.append(time.monotonic())
            self._frame_latencies.append((time.time() - captured_at) * 1000)

    def stage(self, name: str, seconds: float) -> None:
        """Exponential moving average of each stage's time per frame, in ms."""
        with self._lock:
            self.stage_ms[name] = 0.9 * self.stage_ms[name] + 0.1 * seconds * 1000

    def alert_latency(self, ms: float) -> None:
        with self._lock:
            self._latencies.append(ms)

    def processed_fps(self, window: float = 3.0) -> float:
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._frame_times if t >= now - window]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def latency_percentiles(self, frames: bool = False) -> tuple[float, float] | None:
        """p50 and p95 of capture-to-alert latency (or capture-to-processed for every frame), ms."""
        with self._lock:
            values = list(self._frame_latencies if frames else self._latencies)
        if not values:
            return None
        p50, p95 = np.percentile(values, [50, 95])
        return float(p50), float(p95)

    def snapshot(self) -> dict[str, object]:
        latency = self.latency_percentiles()
        frame_latency = self.latency_percentiles(frames=True)
        return {
            "frames": self.frames,
            "processed_fps": round(self.processed_fps(), 2),
            "faces": self.faces,
            "tracks": self.tracks,
            "tracks_ended_unmatched": self.tracks_ended_unmatched,
            "embeddings": self.embeddings,
            "alerts": self.alerts,
            "suppressed_by_cooldown": self.suppressed_by_cooldown,
            "held_by_mitigation": self.held_by_mitigation,
            "identity_splits": self.identity_splits,
            "scene_cuts": self.scene_cuts,
            "errors": self.errors,
            "latency_ms_p50": round(latency[0], 1) if latency else None,
            "latency_ms_p95": round(latency[1], 1) if latency else None,
            "frame_latency_ms_p50": round(frame_latency[0], 1) if frame_latency else None,
            "frame_latency_ms_p95": round(frame_latency[1], 1) if frame_latency else None,
            "stage_ms": {k: round(v, 2) for k, v in self.stage_ms.items()},
        }
