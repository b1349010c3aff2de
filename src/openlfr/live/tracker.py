"""Face tracking by box overlap, in the ByteTrack family: one id per person walking past.

Each track predicts its box forward with a constant velocity. Confident detections are
matched to tracks first, by IoU; the less confident ones may then continue tracks that are
left over, but never start one. A track not seen for ``max_age`` seconds ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openlfr.vision.types import Detections


@dataclass
class TrackBox:
    """Where a track is and how it moves (no biometric data)."""

    track_id: int
    box: np.ndarray
    last_seen: float
    first_seen: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1

    def predicted(self, t: float) -> np.ndarray:
        return self.box + self.velocity * (t - self.last_seen)


@dataclass(frozen=True)
class TrackUpdate:
    """The outcome of one frame: the track id of each detection (-1: not tracked) and ended ids."""

    track_ids: np.ndarray
    ended: list[int]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of x1 y1 x2 y2 boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def greedy_match(similarity: np.ndarray, minimum: float) -> list[tuple[int, int]]:
    """Pairs (row, column), best similarity first, each row and column used once."""
    pairs = []
    if similarity.size == 0:
        return pairs
    rows, cols = np.nonzero(similarity >= minimum)
    order = np.argsort(-similarity[rows, cols])
    used_rows, used_cols = set(), set()
    for r, c in zip(rows[order], cols[order], strict=True):
        if r not in used_rows and c not in used_cols:
            pairs.append((int(r), int(c)))
            used_rows.add(r)
            used_cols.add(c)
    return pairs


class IoUTracker:
    """Associates each frame's detections with running tracks."""

    def __init__(self, *, high_score: float = 0.6, match_iou: float = 0.2, max_age: float = 1.0) -> None:
        self.high_score = high_score
        self.match_iou = match_iou
        self.max_age = max_age
        self.tracks: dict[int, TrackBox] = {}
        self._next_id = 1

    def update(self, detections: Detections, t: float) -> TrackUpdate:
        ids = np.full(len(detections), -1, np.int64)
        live = list(self.tracks.values())
        predicted = np.array([track.predicted(t) for track in live]).reshape(-1, 4)
        confident = np.flatnonzero(detections.scores >= self.high_score)
        doubtful = np.flatnonzero(detections.scores < self.high_score)
        free_tracks = list(range(len(live)))
        for group in (confident, doubtful):
            similarity = iou_matrix(detections.boxes[group], predicted[free_tracks])
            taken = set()
            for row, col in greedy_match(similarity, self.match_iou):
                track = live[free_tracks[col]]
                self._follow(track, detections.boxes[group[row]], t)
                ids[group[row]] = track.track_id
                taken.add(col)
            free_tracks = [index for i, index in enumerate(free_tracks) if i not in taken]
        for index in confident:
            if ids[index] == -1:
                ids[index] = self._start(detections.boxes[index], t)
        ended = [track_id for track_id, track in self.tracks.items() if t - track.last_seen > self.max_age]
        for track_id in ended:
            del self.tracks[track_id]
        return TrackUpdate(ids, ended)

    def end_all(self) -> list[int]:
        ended = list(self.tracks)
        self.tracks.clear()
        return ended

    def _start(self, box: np.ndarray, t: float) -> int:
        track_id = self._next_id
        self._next_id += 1
        self.tracks[track_id] = TrackBox(track_id, box.astype(np.float64), t, t)
        return track_id

    @staticmethod
    def _follow(track: TrackBox, box: np.ndarray, t: float) -> None:
        dt = t - track.last_seen
        if dt > 1e-6:
            track.velocity = 0.5 * track.velocity + 0.5 * (box - track.box) / dt
        track.box = box.astype(np.float64)
        track.last_seen = t
        track.hits += 1
