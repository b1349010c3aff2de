"""Labelled test clips where tracking is hard: hard cuts and people crossing.

Faces are real photos (cut out as in the walk-past trial) moved along straight paths over a
street-like backdrop. Every frame's ground truth, who is where, is known, so the tests and the
robustness benchmark can count what the engine got wrong: a person's shots fused into another
person's track (an identity switch), or an alert whose probe face shows someone else.

- ``hard_cut``: one person, then a cut to a different person at the same place and size, as
  when a recording is edited or a PTZ camera jumps to a preset. ``same_backdrop`` keeps the
  backdrop across the cut, so only the face changes (no scene-cut detector can see it).
- ``crossing``: two people walk across each other at the same distance, the second passing in
  front of the first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from openlfr.evaluation.walkpast import HEIGHT, WIDTH, background, face_cutout
from openlfr.vision.boxes import iou_matrix

FACE_SHARE = 0.62  # the face's width as a share of its cut-out's (as in the walk-past trial)
OVAL = (0.40, 0.49)  # half-axes of the cut-out's visible oval, as shares of its side (walkpast.face_cutout)


@dataclass(frozen=True)
class Appearance:
    """One person in view for a stretch of frames, moving linearly from ``start`` to ``end``:
    (centre x, centre y, cut-out width) in pixels. Higher layers are painted over lower ones."""

    identity: str
    image: Path
    first_frame: int
    frames: int
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    layer: int = 0

    def at(self, frame: int) -> tuple[float, float, float] | None:
        step = frame - self.first_frame
        if not 0 <= step < self.frames:
            return None
        u = step / max(self.frames - 1, 1)
        return tuple(a + (b - a) * u for a, b in zip(self.start, self.end, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True)
class Clip:
    """A labelled clip: who appears where, and which backdrop each frame shows (a change is a cut)."""

    appearances: list[Appearance]
    frames: int
    backdrops: list[tuple[int, int]] = field(default_factory=lambda: [(0, 0)])  # (first frame, seed)
    fps: int = 10

    def backdrop(self, frame: int) -> int:
        return [seed for first, seed in self.backdrops if first <= frame][-1]

    def truth(self, frame: int) -> list[tuple[str, np.ndarray]]:
        """Who is in view in a frame, front first, each with their cut-out's box (x1, y1, x2, y2)."""
        found = []
        for person in sorted(self.appearances, key=lambda p: -p.layer):
            where = person.at(frame)
            if where is not None:
                cx, cy, half = where[0], where[1], where[2] / 2
                found.append((person.identity, np.array([cx - half, cy - half, cx + half, cy + half])))
        return found

    def who(self, frame: int, box: np.ndarray) -> str | None:
        """The person a detected face box at ``frame`` shows: the frontmost whose visible oval
        (the cut-out's mask, as ``walkpast.face_cutout`` draws it) holds the box's centre, else the
        one it overlaps most; None if it is nobody's."""
        present = self.truth(frame)
        if not present:
            return None
        box = np.asarray(box, np.float64)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for identity, (x1, y1, x2, y2) in present:
            side = x2 - x1
            dx, dy = (cx - (x1 + x2) / 2) / (OVAL[0] * side), (cy - (y1 + y2) / 2) / (OVAL[1] * side)
            if dx * dx + dy * dy <= 1.0:
                return identity
        overlap = iou_matrix(box[None], np.stack([b for _, b in present]))[0]
        best = int(np.argmax(overlap))
        return present[best][0] if overlap[best] > 0.1 else None


def render(clip: Clip) -> Iterator[np.ndarray]:
    """The clip's BGR frames."""
    cutouts = {person.image: face_cutout(person.image) for person in clip.appearances}
    for frame in range(clip.frames):
        canvas = background(frame, clip.backdrop(frame))
        for person in sorted(clip.appearances, key=lambda p: p.layer):
            where = person.at(frame)
            if where is not None:
                _paint(canvas, cutouts[person.image], where)
        yield np.clip(canvas, 0, 255).astype(np.uint8)


def _paint(
    canvas: np.ndarray, cutout: tuple[np.ndarray, np.ndarray], where: tuple[float, float, float]
) -> None:
    crop, mask = cutout
    cx, cy, side = where
    size = max(8, round(side))
    face = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
    x0, y0 = round(cx - size / 2), round(cy - size / 2)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + size, canvas.shape[1]), min(y0 + size, canvas.shape[0])
    if xa >= xb or ya >= yb:
        return
    a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
    region = canvas[ya:yb, xa:xb]
    region[:] = region * (1 - a) + face[ya - y0 : yb - y0, xa - x0 : xb - x0] * a


def hard_cut(
    first: tuple[str, Path],
    second: tuple[str, Path],
    *,
    seconds: float = 3.0,
    fps: int = 10,
    face: float = 120.0,
    same_backdrop: bool = False,
) -> Clip:
    """One person near the centre, then a cut to another at the same place and size."""
    frames = round(seconds * fps)
    side = face / FACE_SHARE
    here = (WIDTH / 2, HEIGHT / 2, side)
    there = (WIDTH / 2 + 12, HEIGHT / 2 + 6, side * 1.04)  # a little drift while each is in view
    people = [
        Appearance(first[0], first[1], 0, frames, here, there),
        Appearance(second[0], second[1], frames, frames, there, here),
    ]
    backdrops = [(0, 0)] if same_backdrop else [(0, 0), (frames, 1)]
    return Clip(people, 2 * frames, backdrops, fps)


def crossing(
    walkers: Sequence[tuple[str, Path]], *, seconds: float = 4.0, fps: int = 10, face: float = 110.0
) -> Clip:
    """Two people cross at the same distance: the first left to right, the second right to left
    and in front, so the second hides the first where their paths meet."""
    frames = round(seconds * fps)
    side = face / FACE_SHARE
    y = HEIGHT / 2
    (a, a_image), (b, b_image) = walkers
    people = [
        Appearance(a, a_image, 0, frames, (WIDTH * 0.15, y, side), (WIDTH * 0.85, y + 10, side), 0),
        Appearance(b, b_image, 0, frames, (WIDTH * 0.85, y + 20, side), (WIDTH * 0.15, y + 10, side), 1),
    ]
    return Clip(people, frames, [(0, 0)], fps)
