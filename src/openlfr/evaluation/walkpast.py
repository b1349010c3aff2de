"""Synthetic walk-past video for the NPL-style trial: labelled faces walking towards a camera.

Each passer-by is a face image from a labelled set, cut out with a soft elliptical mask and
composited onto a moving background. Over a walk the face grows from about 24 px to about
200 px wide (constant walking speed gives a 1/distance growth), drifts across its lane, turns
(yaw as horizontal squeeze, plus in-plane roll), passes through changing light, and picks up
motion blur that grows as it nears the camera. Two lanes walk at once. The clip is then
H.264-compressed like a camera stream. Nothing here decides anything: the trial scores what
the live engine makes of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from openlfr.vision.images import load_image

WIDTH, HEIGHT = 1280, 720
LANES = (0.33, 0.67)  # lane centres, as fractions of the width


@dataclass(frozen=True)
class Walk:
    """One passer-by's appearance in the clip."""

    image: Path
    lane: int
    first_frame: int
    frames: int
    seed: int


@dataclass(frozen=True)
class SceneSettings:
    fps: int = 10
    walk_seconds: float = 3.0
    gap_seconds: float = 0.6
    start_width: float = 24.0
    end_width: float = 200.0
    crf: int = 28

    @property
    def walk_frames(self) -> int:
        return round(self.walk_seconds * self.fps)


def schedule(images: Sequence[Path], scene: SceneSettings, seed: int = 0) -> list[Walk]:
    """Alternate passers-by between the lanes, each lane starting its next walker after a gap."""
    step = scene.walk_frames + round(scene.gap_seconds * scene.fps)
    offset = step // 2  # the lanes are out of phase, so two faces are rarely the same size
    walks = []
    for i, image in enumerate(images):
        lane = i % len(LANES)
        walks.append(Walk(image, lane, (i // len(LANES)) * step + lane * offset, scene.walk_frames, seed + i))
    return walks


def face_cutout(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The central head region of an aligned face image and a feathered elliptical alpha mask."""
    image = load_image(path)
    h, w = image.shape[:2]
    side = int(min(h, w) * 0.64)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = image[y0 : y0 + side, x0 : x0 + side]
    mask = np.zeros((side, side), np.float32)
    cv2.ellipse(mask, (side // 2, side // 2), (int(side * 0.40), int(side * 0.49)), 0, 0, 360, 1.0, -1)
    return crop, cv2.GaussianBlur(mask, (0, 0), side * 0.04)


def background(frame_index: int, seed: int = 0) -> np.ndarray:
    """A textured street-like backdrop that pans slowly (a handheld or wind-shaken camera)."""
    rng = np.random.default_rng(seed)
    grey = rng.uniform(70, 180, (18, 32, 1)) + rng.uniform(-12, 12, (18, 32, 3))  # muted street colours
    base = cv2.resize(grey.astype(np.float32), (WIDTH + 80, HEIGHT + 80))
    base = cv2.GaussianBlur(base, (0, 0), 9)
    base[: (HEIGHT + 80) // 3] = base[: (HEIGHT + 80) // 3] * 0.6 + 90  # a lighter upper band (sky, walls)
    dx = int(40 + 30 * np.sin(frame_index / 37.0))
    dy = int(40 + 12 * np.sin(frame_index / 23.0))
    return base[dy : dy + HEIGHT, dx : dx + WIDTH].copy()


@dataclass(frozen=True)
class Placement:
    """Where and how a walker appears at one moment of their walk."""

    cx: float
    cy: float
    side: int  # the cut-out's side before the yaw squeeze
    squeeze: float  # horizontal scale from the turned head
    roll: float  # degrees
    light: float
    blur: int

    @property
    def size(self) -> tuple[int, int]:
        return max(4, int(self.side * self.squeeze)), self.side

    def box(self) -> np.ndarray:
        """The cut-out's box (x1, y1, x2, y2) in the frame."""
        out_w, out_h = self.size
        x0, y0 = int(self.cx - out_w / 2), int(self.cy - out_h / 2)
        return np.array([x0, y0, x0 + out_w, y0 + out_h], np.float64)


def placement(walk: Walk, t: float, scene: SceneSettings) -> Placement:
    """A walker at walk progress ``t`` in [0, 1] (each walker's own turns, light and drift)."""
    rng = np.random.default_rng(walk.seed)
    yaw_amplitude, roll_amplitude = rng.uniform(10, 30), rng.uniform(3, 10)
    light_start, light_end = rng.uniform(0.55, 1.3, 2)
    drift = rng.uniform(-0.08, 0.08)
    # Constant speed towards the camera: apparent size grows as 1 / distance.
    ratio = scene.start_width / scene.end_width
    face_width = scene.start_width / (1 - (1 - ratio) * t)
    yaw = np.radians(yaw_amplitude * np.sin(2 * np.pi * (t + walk.seed * 0.13)))
    return Placement(
        cx=WIDTH * (LANES[walk.lane] + drift * t),
        cy=HEIGHT * (0.30 + 0.38 * t),
        side=max(8, int(face_width / 0.62)),  # the cut-out is a little wider than the face itself
        squeeze=max(0.55, float(np.cos(yaw))),
        roll=roll_amplitude * np.sin(2 * np.pi * (0.7 * t + walk.seed * 0.29)),
        light=light_start + (light_end - light_start) * t,
        blur=int(1 + 7 * t),  # approach blur: vertical streaks, stronger close to the camera
    )


def walker_at(walks: Sequence[Walk], frame: int, box: np.ndarray, scene: SceneSettings) -> int | None:
    """The index of the walker whose cut-out best overlaps ``box`` at ``frame``, or None."""
    from openlfr.vision.boxes import iou_matrix

    present = [
        (i, placement(w, (frame - w.first_frame) / max(w.frames - 1, 1), scene).box())
        for i, w in enumerate(walks)
        if 0 <= frame - w.first_frame < w.frames
    ]
    if not present:
        return None
    overlap = iou_matrix(np.asarray(box, np.float64)[None], np.stack([b for _, b in present]))[0]
    best = int(np.argmax(overlap))
    return present[best][0] if overlap[best] > 0.1 else None


def render_walker(
    canvas: np.ndarray, walk: Walk, cutout: tuple[np.ndarray, np.ndarray], t: float, scene: SceneSettings
) -> None:
    """Paint one passer-by at walk progress ``t`` in [0, 1] onto ``canvas`` (float32 BGR)."""
    crop, mask = cutout
    where = placement(walk, t, scene)
    scale = where.side / crop.shape[0]
    centre = np.array([crop.shape[1] / 2, crop.shape[0] / 2])
    matrix = cv2.getRotationMatrix2D(tuple(centre), where.roll, 1.0)
    matrix = np.diag([scale * where.squeeze, scale]) @ matrix
    out_w, out_h = where.size
    matrix[:, 2] += np.array([out_w / 2, out_h / 2]) - matrix[:, :2] @ centre
    face: np.ndarray = cv2.warpAffine(crop, matrix, (out_w, out_h), flags=cv2.INTER_AREA).astype(np.float32)
    alpha = cv2.warpAffine(mask, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
    blur = where.blur
    if blur > 1:
        kernel = np.zeros((blur, blur), np.float32)
        kernel[:, blur // 2] = 1.0 / blur
        face = cv2.filter2D(face, -1, kernel)
        alpha = cv2.filter2D(alpha, -1, kernel)
    face *= where.light
    x0, y0 = int(where.cx - out_w / 2), int(where.cy - out_h / 2)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + out_w, WIDTH), min(y0 + out_h, HEIGHT)
    if xa >= xb or ya >= yb:
        return
    a = alpha[ya - y0 : yb - y0, xa - x0 : xb - x0, None]
    region = canvas[ya:yb, xa:xb]
    region[:] = region * (1 - a) + face[ya - y0 : yb - y0, xa - x0 : xb - x0] * a


def scene_frames(walks: Sequence[Walk], scene: SceneSettings) -> Iterator[np.ndarray]:
    """Every frame of the clip, in order (cut-outs are loaded once per walker and then dropped)."""
    total = max((w.first_frame + w.frames for w in walks), default=0)
    active: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for index in range(total):
        canvas = background(index)
        for number, walk in enumerate(walks):
            t_frame = index - walk.first_frame
            if 0 <= t_frame < walk.frames:
                if number not in active:
                    active[number] = face_cutout(walk.image)
                render_walker(canvas, walk, active[number], t_frame / max(walk.frames - 1, 1), scene)
            elif t_frame >= walk.frames:
                active.pop(number, None)
        yield np.clip(canvas, 0, 255).astype(np.uint8)
