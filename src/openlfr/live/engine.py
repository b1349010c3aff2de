"""One camera's recognition engine: frame in, alerts out.

Per frame: detect, track, measure quality. Per track: embed a shot every ``embed_interval``
up to a cap, keep only the ``fused_shots`` best by quality (a new shot must beat the worst kept
one), fuse them into one quality-weighted template and search the watchlist. The walk-past
trial chose this: a person walking towards the camera looks best in the last frames, so the
budget must last the whole track, and early small shots must not dilute the fused template.
An alert needs the fused score at or above the threshold with at least ``min_faces``
embedded shots behind it; one alert per (track, subject), and a subject
that alerted on this camera stays quiet for ``cooldown`` seconds.

Privacy by construction: a track's crops and templates live only in its ``TrackMemory``.
When the track ends that object is dropped at once; only counters survive. Nothing here
writes to disk or logs a crop or a template.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from openlfr.live.alerts import Alert, AlertSink
from openlfr.live.metrics import CameraMetrics
from openlfr.live.thresholds import AlertThresholds
from openlfr.live.tracker import IoUTracker
from openlfr.settings import LiveSettings
from openlfr.video.frames import Frame
from openlfr.vision import FaceAnalyzer
from openlfr.vision.embedder import l2_normalize
from openlfr.vision.quality import assess, passes_gate
from openlfr.vision.tensors import on_host
from openlfr.watchlist import Gallery, face_crop


@dataclass
class TrackMemory:
    """Biometric working memory of one track: best shots and embedded templates. In memory only."""

    track_id: int
    best_quality: float = 0.0
    probe_crop: np.ndarray | None = None
    embeddings: list[np.ndarray] = field(default_factory=list)  # the kept (best) shots only
    weights: list[float] = field(default_factory=list)
    runs: int = 0  # recognizer runs so far, kept or not
    last_embedded: float = -1e9
    alerted: set[str] = field(default_factory=set)

    @property
    def worst_kept_quality(self) -> float:
        return min(self.weights, default=0.0)

    def keep(self, template: np.ndarray, quality: float, limit: int) -> None:
        """Add a shot; past ``limit`` shots the lowest-quality one is dropped (and forgotten)."""
        self.embeddings.append(template)
        self.weights.append(quality)
        self.runs += 1
        if len(self.weights) > limit:
            worst = int(np.argmin(self.weights))
            del self.embeddings[worst], self.weights[worst]

    def fused(self) -> np.ndarray:
        """Quality-weighted sum of the embedded shots, renormalised."""
        weights = np.asarray(self.weights, np.float32)[:, None]
        return l2_normalize((np.stack(self.embeddings) * weights).sum(axis=0, keepdims=True))[0]


class CameraEngine:
    """Runs frames of one camera through detection, tracking, best-shot embedding and search."""

    def __init__(
        self,
        camera: str,
        analyzer: FaceAnalyzer,
        gallery: Gallery,
        sink: AlertSink,
        settings: LiveSettings | None = None,
        *,
        tracking: bool = True,
        thresholds: AlertThresholds | None = None,
    ) -> None:
        self.camera = camera
        self.analyzer = analyzer
        self.gallery = gallery
        self.sink = sink
        self.settings = settings or analyzer.settings.live
        self.tracking = tracking
        self.thresholds = thresholds or AlertThresholds(self.settings.alert_threshold, gallery)
        self.metrics = CameraMetrics()
        self.tracker = IoUTracker(
            high_score=self.settings.track_high_score,
            match_iou=self.settings.track_match_iou,
            max_age=self.settings.track_max_age,
        )
        self.memories: dict[int, TrackMemory] = {}
        _ = analyzer.frames_device  # a frames_on_device the models cannot honour fails here, at start
        self._last_alert: dict[str, float] = {}
        self._next_single = -1
        self.last_boxes: list[tuple[np.ndarray, int, bool]] = []
        self.last_view: tuple[Frame, list[tuple[np.ndarray, int, bool]]] | None = None
        self.expected_false_alert_rate: float | None = None

    def process(self, frame: Frame, t: float | None = None) -> list[Alert]:
        """One frame; ``t`` is the tracking clock (media time for files, wall time for live)."""
        t = frame.position if t is None else t
        clock = time.perf_counter()
        image = self.analyzer.pixels_of(frame)  # a tensor on the models' device with frames_on_device
        detections = self.analyzer.detect(image)
        clock = self._stage("detect", clock)
        self.metrics.faces += len(detections)

        if self.tracking:
            update = self.tracker.update(detections, t)
            track_ids = update.track_ids
            for track_id in update.ended:
                self._forget(track_id)
        else:  # frame-by-frame baseline: every face is its own one-shot track
            track_ids = np.arange(self._next_single, self._next_single - len(detections), -1)
            self._next_single -= len(detections)
        clock = self._stage("track", clock)

        wanted: list[int] = []
        crops = self.analyzer.align(image, detections) if len(detections) else None
        qualities = assess(detections, on_host(crops)) if crops is not None else []
        gate = self.analyzer.settings.quality
        for index, (track_id, quality) in enumerate(zip(track_ids, qualities, strict=True)):
            if track_id == -1 or not passes_gate(quality, gate.min_quality, gate.min_inter_eye):
                continue
            memory = self.memories.get(int(track_id))
            if memory is None:
                memory = self.memories[int(track_id)] = TrackMemory(int(track_id))
                self.metrics.tracks += 1
            if quality.score > memory.best_quality:
                memory.best_quality = quality.score
                memory.probe_crop = face_crop(image, detections.boxes[index])
            if self._should_embed(memory, quality.score, t):
                wanted.append(index)
        clock = self._stage("quality", clock)

        alerts: list[Alert] = []
        if wanted:
            assert crops is not None
            templates = self.analyzer.embedder.embed(crops[wanted])
            self.metrics.embeddings += len(wanted)
            clock = self._stage("embed", clock)
            touched = []
            for index, template in zip(wanted, templates, strict=True):
                memory = self.memories[int(track_ids[index])]
                memory.keep(template, qualities[index].score, max(self.settings.fused_shots, 1))
                memory.last_embedded = t
                touched.append(memory)
            fused = np.stack([memory.fused() for memory in touched])
            results = self.gallery.search(fused, self.settings.top_k)
            for memory, probe, candidates in zip(touched, fused, results, strict=True):
                alert = self._decide(memory, probe, candidates, frame, t)
                if alert is not None:
                    alerts.append(alert)
            self._stage("search", clock)

        if not self.tracking:
            for track_id in track_ids:
                self._forget(int(track_id))
        alerted = {track_id for track_id, memory in self.memories.items() if memory.alerted}
        self.last_boxes = [
            (box, int(t), int(t) in alerted) for box, t in zip(detections.boxes, track_ids, strict=True)
        ]
        self.last_view = (frame, self.last_boxes)  # memory only; the console shows it blurred
        self.metrics.frame_done(frame.captured_at)
        for alert in alerts:
            self.metrics.alerts += 1
            self.metrics.alert_latency(alert.latency_ms)
            self.sink.emit(alert)
        return alerts

    def finish(self) -> None:
        """End every open track (the stream ended): their biometric memory goes at once."""
        for track_id in self.tracker.end_all():
            self._forget(track_id)
        for track_id in list(self.memories):
            self._forget(track_id)
        self.last_view = None

    def _should_embed(self, memory: TrackMemory, quality: float, t: float) -> bool:
        s = self.settings
        if not self.tracking:
            return True
        if (
            memory.runs >= s.max_embeddings_per_track
            or t - memory.last_embedded < s.embed_interval - 1e-6  # frame times are not exact
        ):
            return False
        if memory.runs < s.min_faces or len(memory.embeddings) < s.fused_shots:
            return True
        return quality > memory.worst_kept_quality + s.improvement

    def _decide(
        self, memory: TrackMemory, probe: np.ndarray, candidates: list, frame: Frame, t: float
    ) -> Alert | None:
        if not candidates:
            return None
        best = candidates[0]
        required = self.settings.min_faces if self.tracking else 1
        if best.score < self.thresholds.base or memory.runs < required:
            return None
        threshold = self.thresholds.for_match(probe, best.subject)
        if best.score < threshold:
            self.metrics.held_by_mitigation += 1
            return None
        if best.subject in memory.alerted:
            return None
        last = self._last_alert.get(best.subject)
        if last is not None and t - last < self.settings.cooldown:
            memory.alerted.add(best.subject)
            self.metrics.suppressed_by_cooldown += 1
            return None
        memory.alerted.add(best.subject)
        self._last_alert[best.subject] = t
        assert memory.probe_crop is not None
        return Alert(
            camera=self.camera,
            subject=best.subject,
            score=best.score,
            threshold=threshold,
            track_id=memory.track_id,
            candidates=candidates,
            supporting_faces=memory.runs,
            frame_time=frame.captured_at,
            raised_at=time.time(),
            media_position=frame.position,
            probe_crop=memory.probe_crop.copy(),
            reference=self.gallery.references.get(best.subject),
            expected_false_alert_rate=self.expected_false_alert_rate,
        )

    def _forget(self, track_id: int) -> None:
        memory = self.memories.pop(track_id, None)
        if memory is not None and not memory.alerted:
            self.metrics.tracks_ended_unmatched += 1
        # Dropping the last reference frees the crops and templates; nothing was written anywhere.
        del memory

    def _stage(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.metrics.stage(name, now - since)
        return now
