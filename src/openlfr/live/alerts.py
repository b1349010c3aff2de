"""Alerts and the sinks they go to (console and JSON lines now; store and WebSocket later).

An alert is a possible match for a person to review, never a decision. It carries the probe
crop and the reference image so an operator can compare them: biometric data, kept out of
``repr`` and out of JSON unless images are explicitly asked for.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from openlfr.vision.images import encode_jpeg
from openlfr.watchlist import Candidate


@dataclass(frozen=True, eq=False)
class Alert:
    camera: str
    subject: str
    score: float
    threshold: float
    track_id: int
    candidates: list[Candidate]
    supporting_faces: int
    frame_time: float
    raised_at: float
    media_position: float
    probe_crop: np.ndarray = field(repr=False)
    reference: np.ndarray | None = field(default=None, repr=False)
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    expected_false_alert_rate: float | None = None
    probe_box: tuple[float, ...] | None = None  # where the probe face was in its frame
    probe_position: float | None = None  # media seconds of the probe face's frame
    sighting_of: str | None = None  # the alert this sighting belongs to, where grouped in memory
    sighting: int = 1  # its number within that alert

    @property
    def latency_ms(self) -> float:
        """From the frame leaving the decoder to the alert being raised."""
        return (self.raised_at - self.frame_time) * 1000

    def to_dict(self, include_images: bool = False) -> dict[str, object]:
        data: dict[str, object] = {
            "alert_id": self.alert_id,
            "camera": self.camera,
            "subject": self.subject,
            "score": round(self.score, 4),
            "threshold": self.threshold,
            "expected_false_alert_rate": self.expected_false_alert_rate,
            "track_id": self.track_id,
            "supporting_faces": self.supporting_faces,
            "candidates": [{"subject": c.subject, "score": round(c.score, 4)} for c in self.candidates],
            "frame_time": self.frame_time,
            "raised_at": self.raised_at,
            "media_position": round(self.media_position, 3),
            "probe_box": [round(v, 1) for v in self.probe_box] if self.probe_box else None,
            "probe_position": round(self.probe_position, 3) if self.probe_position is not None else None,
            "latency_ms": round(self.latency_ms, 1),
            "sighting_of": self.sighting_of,
            "sighting": self.sighting,
        }
        if include_images:
            data["probe_jpeg_base64"] = jpeg_base64(self.probe_crop)
            data["reference_jpeg_base64"] = (
                jpeg_base64(self.reference) if self.reference is not None else None
            )
        return data


def jpeg_base64(image: np.ndarray) -> str:
    return base64.b64encode(encode_jpeg(image)).decode()


class AlertSink(Protocol):
    def emit(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


class CollectingSink:
    """Keeps alerts in memory (for the API's queue and for tests)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()

    def emit(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)

    def close(self) -> None:
        pass


class JsonLinesSink:
    """One JSON object per alert, flushed at once so a crash loses nothing already raised."""

    def __init__(self, target: Path | IO[str], include_images: bool = False) -> None:
        self._owned = isinstance(target, Path)
        self._file: IO[str] = target.open("a", encoding="utf-8") if isinstance(target, Path) else target
        self.include_images = include_images
        self._lock = threading.Lock()

    def emit(self, alert: Alert) -> None:
        line = json.dumps(alert.to_dict(self.include_images))
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._owned:
            self._file.close()


class FanOutSink:
    """Sends every alert to several sinks; one failing sink does not starve the others."""

    def __init__(self, *sinks: AlertSink) -> None:
        self.sinks = list(sinks)
        self.errors = 0

    def emit(self, alert: Alert) -> None:
        for sink in self.sinks:
            try:
                sink.emit(alert)
            except Exception:
                self.errors += 1

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
