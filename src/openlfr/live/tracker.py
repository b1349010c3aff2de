"""Face tracking by box overlap, in the ByteTrack family: one id per person walking past.

Each track predicts its box forward with a constant velocity. Confident detections are
matched to tracks first, by IoU; the less confident ones may then continue tracks that are
left over, but never start one. A track not seen for ``max_age`` seconds ends.

Overlap alone cannot tell two people apart where their boxes meet, so the tracker says when
a match was in doubt: another track or another face overlapped it, the box jumped away from
where the track was heading, or its size changed abruptly. The engine then checks the
track's identity with a template before trusting it again (``live.engine``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openlfr.vision.boxes import iou_matrix
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
    """The outcome of one frame: the track id of each detection (-1: not tracked), ended ids,
    and the tracks whose match this frame was in doubt."""

    track_ids: np.ndarray
    ended: list[int]
    contested: set[int] = field(default_factory=set)


SURE_IOU = 0.5  # a match overlapping its prediction less than this is in doubt
SIZE_JUMP = 1.6  # nor may a box's side grow or shrink by more than this factor in one frame


def greedy_match(similarity: np.ndarray, minimum: float) -> list[tuple[int, int]]:
    """Pairs (row, column), best similarity first, each row and column used once."""
    pairs: list[tuple[int, int]] = []
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
        overlaps = iou_matrix(detections.boxes, predicted)
        contested: set[int] = set()
        for group in (confident, doubtful):
            similarity = overlaps[np.ix_(np.asarray(group, np.intp), np.asarray(free_tracks, np.intp))]
            taken = set()
            for row, col in greedy_match(similarity, self.match_iou):
                track = live[free_tracks[col]]
                detection, index = int(group[row]), free_tracks[col]
                if self._in_doubt(overlaps, detection, index, track, detections.boxes[detection]):
                    contested.add(track.track_id)
                self._follow(track, detections.boxes[detection], t)
                ids[detection] = track.track_id
                taken.add(col)
            free_tracks = [index for i, index in enumerate(free_tracks) if i not in taken]
        for index in map(int, confident):
            if ids[index] == -1:
                ids[index] = self._start(detections.boxes[index], t)
        ended = [track_id for track_id, track in self.tracks.items() if t - track.last_seen > self.max_age]
        for track_id in ended:
            del self.tracks[track_id]
        return TrackUpdate(ids, ended, contested)

    def _in_doubt(
        self, overlaps: np.ndarray, detection: int, index: int, track: TrackBox, box: np.ndarray
    ) -> bool:
        """Whether matching this detection to this track could have handed it to another person."""
        rivals = overlaps[:, index] >= self.match_iou
        rivals[detection] = False
        competitors = overlaps[detection] >= self.match_iou
        competitors[index] = False
        side = max(float(box[2] - box[0]), 1.0) / max(float(track.box[2] - track.box[0]), 1.0)
        return bool(
            rivals.any()
            or competitors.any()
            or overlaps[detection, index] < SURE_IOU
            or not 1 / SIZE_JUMP <= side <= SIZE_JUMP
        )

    def end_all(self) -> list[int]:
        ended = list(self.tracks)
        self.tracks.clear()
        return ended

    def relabel(self, track_id: int) -> int:
        """Give a track's box a new id (it now follows someone else); the old id has ended."""
        track = self.tracks.pop(track_id)
        track.track_id, track.hits = self._next_id, 1
        self._next_id += 1
        self.tracks[track.track_id] = track
        return track.track_id

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
