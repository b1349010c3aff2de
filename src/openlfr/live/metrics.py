"""Per-camera counters, rates, latency percentiles and stage timings. Numbers only, never faces."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

STAGES = ("detect", "track", "quality", "embed", "search")
STAGE_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Histogram:
    """Cumulative counts of observations at or below each bound (as Prometheus histograms are)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    observed: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.observed += 1

    def copy(self) -> Histogram:
        twin = Histogram(self.bounds)
        twin.counts, twin.total, twin.observed = list(self.counts), self.total, self.observed
        return twin


@dataclass
class CameraMetrics:
    """What a camera's engine has done, safe to publish."""

    frames: int = 0
    detected_frames: int = 0
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
    stage_seconds: dict[str, Histogram] = field(
        default_factory=lambda: {stage: Histogram(STAGE_BUCKETS_S) for stage in STAGES}
    )
    alert_seconds: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS_S))

    def frame_done(self, captured_at: float, detected: bool = True) -> None:
        """Count a processed frame, and for one the detector looked at (``live.detect_interval``),
        how long after capture its processing finished."""
        with self._lock:
            self.frames += 1
            self._frame_times.append(time.monotonic())
            if detected:
                self.detected_frames += 1
                self._frame_latencies.append((time.time() - captured_at) * 1000)

    def stage(self, name: str, seconds: float) -> None:
        """Exponential moving average of each stage's time per frame, in ms."""
        with self._lock:
            self.stage_ms[name] = 0.9 * self.stage_ms[name] + 0.1 * seconds * 1000
            self.stage_seconds[name].observe(seconds)

    def alert_latency(self, ms: float) -> None:
        with self._lock:
            self._latencies.append(ms)
            self.alert_seconds.observe(ms / 1000)

    def histograms(self) -> tuple[dict[str, Histogram], Histogram]:
        """Copies of the stage-time and capture-to-alert histograms (seconds), for a scrape."""
        with self._lock:
            return {k: h.copy() for k, h in self.stage_seconds.items()}, self.alert_seconds.copy()

    def processed_fps(self, window: float = 3.0) -> float:
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._frame_times if t >= now - window]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def latency_percentiles(self, frames: bool = False) -> tuple[float, float] | None:
        """p50 and p95 of capture-to-alert latency (or capture-to-processed for the frames the
        detector looked at), ms."""
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
            "detected_frames": self.detected_frames,
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
