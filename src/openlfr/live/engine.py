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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from openlfr.live.alerts import Alert, AlertSink
from openlfr.live.metrics import CameraMetrics
from openlfr.live.scene import SceneCutDetector
from openlfr.live.thresholds import AlertThresholds
from openlfr.live.tracker import IoUTracker
from openlfr.settings import LiveSettings
from openlfr.video.frames import DecodedPixels, Frame
from openlfr.vision import FaceAnalyzer
from openlfr.vision.boxes import iou_matrix, whole_faces
from openlfr.vision.embedder import l2_normalize
from openlfr.vision.quality import assess, passes_gate
from openlfr.vision.tensors import on_host
from openlfr.watchlist import Gallery, face_crop


@dataclass(eq=False)
class Shot:
    """One embedded face of a track: its template, quality, and the crop shown if it alerts."""

    template: np.ndarray = field(repr=False)
    quality: float
    crop: np.ndarray = field(repr=False)
    box: np.ndarray
    position: float  # media seconds of the frame it came from


@dataclass
class TrackMemory:
    """Biometric working memory of one track: its best embedded shots. In memory only."""

    track_id: int
    shots: list[Shot] = field(default_factory=list)  # the kept (best) shots only
    runs: int = 0  # recognizer runs so far, kept or not
    last_embedded: float = -1e9
    alerted: set[str] = field(default_factory=set)
    in_doubt: bool = False  # unsure this is still the same person, until a shot confirms it
    last_verified: float = -1e9  # when a shot last confirmed the track's person
    held: list[Shot] = field(default_factory=list)  # doubtful shots, not fused: someone else's?

    @property
    def embeddings(self) -> list[np.ndarray]:
        return [shot.template for shot in self.shots]

    @property
    def worst_kept_quality(self) -> float:
        return min((shot.quality for shot in self.shots), default=0.0)

    def keep(self, shot: Shot, limit: int) -> None:
        """Add a shot; past ``limit`` shots the lowest-quality one is dropped (and forgotten)."""
        self.shots.append(shot)
        self.runs += 1
        if len(self.shots) > limit:
            del self.shots[int(np.argmin([s.quality for s in self.shots]))]

    def fused(self) -> np.ndarray:
        """Quality-weighted sum of the kept shots, renormalised."""
        weights = np.asarray([shot.quality for shot in self.shots], np.float32)[:, None]
        templates = np.stack([shot.template for shot in self.shots])
        return l2_normalize((templates * weights).sum(axis=0, keepdims=True))[0]

    def best_shot(self) -> Shot:
        """The kept shot an operator sees: the best of those the fused template is made of."""
        return max(self.shots, key=lambda shot: shot.quality)


def scene_view(pixels: np.ndarray | DecodedPixels) -> np.ndarray:
    """What the scene-cut check looks at in every frame: the picture, or a decoded frame's
    brightness plane as decoded (no conversion), else its detector-sized picture."""
    if not isinstance(pixels, DecodedPixels):
        return pixels
    luma = pixels.luma()
    return luma if luma is not None else pixels.small()


def full_pixels(pixels: np.ndarray | DecodedPixels) -> np.ndarray:
    """The whole picture as an array: a decoded frame is converted the first time, and only a
    frame with faces to cut out ever is."""
    return pixels.host() if isinstance(pixels, DecodedPixels) else pixels


OVERLAPPING = 0.05  # IoU above which two faces' boxes count as one partly hiding the other


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
        on_shot: Callable[[int, np.ndarray, float], None] | None = None,
    ) -> None:
        """``on_shot(track_id, box, position)`` hears of every shot fused into a track (boxes only,
        nothing biometric): how evaluations count identity switches."""
        self.camera = camera
        self.on_shot = on_shot
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
        cut = self.settings.scene_cut_correlation
        self.scene = SceneCutDetector(cut) if cut is not None else None
        self.memories: dict[int, TrackMemory] = {}
        _ = analyzer.frames_device  # a frames_on_device the models cannot honour fails here, at start
        self._last_alert: dict[str, float] = {}
        self._next_single = -1
        self.last_boxes: list[tuple[np.ndarray, int, bool]] = []
        self.last_view: tuple[Frame, list[tuple[np.ndarray, int, bool]]] | None = None
        self.expected_false_alert_rate: float | None = None
        self._watched_until = 0.0
        self._detected_at = -1e9

    def process(self, frame: Frame, t: float | None = None) -> list[Alert]:
        """One frame; ``t`` is the tracking clock (media time for files, wall time for live)."""
        t = frame.position if t is None else t
        pixels = self.analyzer.pixels_of(frame)  # a tensor on the models' device with frames_on_device
        change = self.scene.change(scene_view(pixels), pixels.shape) if self.scene is not None else "none"
        if change == "resized":
            self._end_tracks()  # boxes of the old picture mean nothing in the new one
        elif change == "cut":
            self.metrics.scene_cuts += 1
            for known in self.memories.values():  # whoever stands where a track was must prove who they are
                known.in_doubt = True
        if change == "none" and not self._detection_due(
            t
        ):  # between detections: not converted, not looked at
            self.metrics.frame_done(frame.captured_at, detected=False)
            return []
        self._detected_at = t
        clock = time.perf_counter()
        detections = self.analyzer.detect(pixels)
        clock = self._stage("detect", clock)
        self.metrics.faces += len(detections)

        contested: set[int] = set()
        if self.tracking:
            update = self.tracker.update(detections, t)
            track_ids, contested = update.track_ids, update.contested
            for track_id in update.ended:
                self._forget(track_id)
        else:  # frame-by-frame baseline: every face is its own one-shot track
            track_ids = np.arange(self._next_single, self._next_single - len(detections), -1)
            self._next_single -= len(detections)
        clock = self._stage("track", clock)

        wanted: list[int] = []
        crops = self.analyzer.align(full_pixels(pixels), detections) if len(detections) else None
        qualities = assess(detections, on_host(crops)) if crops is not None else []
        whole = whole_faces(detections.landmarks, pixels.shape)  # faces cut by the frame's edge wait
        overlapped = self._overlapped(detections.boxes)  # so do faces partly behind another
        gate = self.analyzer.settings.quality
        for index, (track_id, quality) in enumerate(zip(track_ids, qualities, strict=True)):
            memory = self.memories.get(int(track_id))
            if memory is not None and (int(track_id) in contested or overlapped[index]):
                memory.in_doubt = True
            if track_id == -1 or not whole[index] or overlapped[index]:
                continue
            if not passes_gate(quality, gate.min_quality, gate.min_inter_eye):
                continue
            if memory is None:
                memory = self.memories[int(track_id)] = TrackMemory(int(track_id))
                self.metrics.tracks += 1
            if self._should_embed(memory, quality.score, t, int(track_id) in contested):
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
                shot = Shot(
                    template,
                    qualities[index].score,
                    face_crop(full_pixels(pixels), detections.boxes[index]),
                    detections.boxes[index].copy(),
                    frame.position,
                )
                touched.append(self._take(int(track_ids[index]), shot, track_ids, index, t))
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
        self.last_boxes = [
            (box, int(track_id), self._shown(int(track_id), t))
            for box, track_id in zip(detections.boxes, track_ids, strict=True)
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
        self._end_tracks()
        self.last_view = None

    def _end_tracks(self) -> None:
        for track_id in self.tracker.end_all():
            self._forget(track_id)
        for track_id in list(self.memories):
            self._forget(track_id)

    def _detection_due(self, t: float) -> bool:
        """Whether this frame is detected: every ``live.detect_interval`` seconds of the tracking
        clock (a clock that went back, a looped file, starts again), and every frame while someone
        watches the preview, or without tracking (the frame-by-frame baseline judges every frame)."""
        interval = self.settings.detect_interval if self.tracking else 0.0
        elapsed = t - self._detected_at
        return interval <= 0 or self._watched() or elapsed < 0 or elapsed >= interval - 1e-3

    def watch(self, seconds: float = 5.0) -> None:
        """Someone looks at this camera's privacy preview: for the next ``seconds`` every face it
        may show unblurred is checked by the recognizer in every frame."""
        self._watched_until = time.monotonic() + seconds

    def _overlapped(self, boxes: np.ndarray) -> np.ndarray:
        """(N,) which faces overlap another: a shot of one may show part of the other, so it is
        neither fused nor trusted until they part (only while tracking)."""
        if not self.tracking or len(boxes) < 2:
            return np.zeros(len(boxes), bool)
        overlap = iou_matrix(boxes, boxes)
        np.fill_diagonal(overlap, 0.0)
        return overlap.max(axis=1) > OVERLAPPING

    def _watched(self) -> bool:
        return time.monotonic() < self._watched_until

    def _shown(self, track_id: int, t: float) -> bool:
        """Whether the preview may show this face unblurred: its own track alerted, nothing has
        put in doubt that it is still the same person, and (while the preview is watched) the
        recognizer confirmed that in this very frame."""
        memory = self.memories.get(track_id)
        if memory is None or not memory.alerted:
            return False
        if self.settings.track_identity_threshold is None:  # identity checks off: trust the tracker
            return True
        recent = 0.0 if self._watched() else self.settings.verify_interval
        return not memory.in_doubt and t - memory.last_verified <= recent + 1e-6

    def _take(self, track_id: int, shot: Shot, track_ids: np.ndarray, index: int, t: float) -> TrackMemory:
        """Fuse a shot into its track if it shows the track's person. One that scores in between
        is held, not fused, and the track stays in doubt; a second such shot in a row, or one
        scoring below ``track_identity_threshold``, shows someone else: that track has ended, and
        the held shots and this one start a new track (one person per track)."""
        memory = self.memories[track_id]
        memory.last_embedded = t
        split_below, sure_from = self.settings.track_identity_threshold, self.settings.track_identity_confirm
        if self.tracking and memory.shots and split_below is not None:
            similarity = float(np.dot(shot.template, memory.fused()))
            if similarity < max(sure_from, split_below):
                if similarity >= split_below and not memory.held:
                    memory.held.append(shot)
                    memory.runs += 1
                    memory.in_doubt = True
                    return memory
                self.metrics.identity_splits += 1
                held = memory.held
                new_id = self.tracker.relabel(track_id)
                self._forget(track_id)
                memory = self.memories[new_id] = TrackMemory(new_id, last_embedded=t)
                self.metrics.tracks += 1
                track_ids[index] = new_id
                for earlier in held:
                    self._fuse(memory, earlier, t)
        memory.in_doubt, memory.held = False, []
        self._fuse(memory, shot, t)
        return memory

    def _fuse(self, memory: TrackMemory, shot: Shot, t: float) -> None:
        memory.keep(shot, max(self.settings.fused_shots, 1))
        memory.last_verified = t
        if self.on_shot is not None:
            self.on_shot(memory.track_id, shot.box, shot.position)

    def _should_embed(self, memory: TrackMemory, quality: float, t: float, contested: bool) -> bool:
        s = self.settings
        if not self.tracking:
            return True
        since = t - memory.last_embedded + 1e-6  # frame times are not exact
        if s.track_identity_threshold is not None and memory.shots and not contested:
            # Identity checks beyond the budget: every frame for a face the watched preview shows,
            # soon after a doubt, and now and then for every track.
            if memory.alerted and self._watched():
                return True
            if (memory.in_doubt and since >= s.embed_interval) or since >= s.verify_interval:
                return True
        if since < s.embed_interval:
            return False
        if memory.runs >= s.max_embeddings_per_track:
            return False
        if memory.runs < s.min_faces or len(memory.shots) < s.fused_shots:
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
        memory.alerted.add(best.subject)
        last = self._last_alert.get(best.subject)
        if last is not None and t - last < self.settings.cooldown:
            self.metrics.suppressed_by_cooldown += 1
            return None
        self._last_alert[best.subject] = t
        shot = memory.best_shot()
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
            probe_crop=shot.crop.copy(),
            reference=self.gallery.references.get(best.subject),
            expected_false_alert_rate=self.expected_false_alert_rate,
            probe_box=tuple(float(v) for v in shot.box),
            probe_position=shot.position,
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
