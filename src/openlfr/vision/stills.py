"""Finding every face of a still photo, whatever its size in the picture.

The detector's anchors cover faces from about 16 to 512 pixels of its network input, and a
still is letterboxed into that input whole. A face that fills the picture (a custody photo,
an ID photo, a face chip exported by another system) therefore lands far above the largest
anchor, and a small face in a large photo far below the smallest. So a still gets up to
four passes, each only when the earlier ones left a reason for it:

1. ``direct``: the picture as it is.
2. ``padded``: nothing found, or a face touches the picture's edge: the picture in the middle
   of a black canvas twice its size, so a filling face comes down to half the input. Faces it
   finds replace the edge-touching ones they overlap; faces found only directly are kept.
3. ``tiled``: still nothing (or every face is wanted), in a picture larger than the network
   input: overlapping tiles at the picture's own resolution, so a face a few dozen pixels wide
   is not shrunk below sight.
4. ``low score``: still nothing (in any quarter turn, where those are looked at): the padded
   canvas at a low detector score threshold. Such a face is reported but never passes the
   quality gate (drawings and textures score there).

Each face records the pass that found it. Where a subject is chosen (``orient``), the picture
is also looked at turned by each quarter turn: a photo scanned upside down or taken sideways
without an EXIF orientation gives the detector an upside-down face whose mouth it takes for the
eyes, and a template of nobody; the face is taken from the turn where the detector is surest.
The measurements behind these choices are in ``benchmarks/robustness.py`` and the README.

Aligning a still follows the same concern. Where a tight crop leaves part of the 112×112
aligned face outside the picture, a thin missing band is best filled by mirroring the
picture (the recognizer then sees hair and background, as in the full photo), while a large
missing part is best left black, as the recognizer saw faces cut by the frame in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from openlfr.vision.align import similarity_transforms
from openlfr.vision.boxes import iou_matrix
from openlfr.vision.detector import SCRFDDetector
from openlfr.vision.types import Detections

PAD_FRACTION = 0.5  # of the picture's width and height, on every side
EDGE_TOLERANCE = 1.0  # pixels: a box this close to the picture's edge touches it
REPLACE_IOU = 0.3  # a padded-pass face replaces a direct one it overlaps this much
TILE_OVERLAP = 0.25
TILE_ABOVE = 1.5  # a picture this many times the network input (or more) is large enough to tile
TURN_MARGIN = 0.05  # a turned picture's detection must be this much surer to replace the upright one
LOW_SCORE_THRESHOLD = 0.1
MIRROR_FILL_MAX_OUTSIDE = 0.25  # share of the aligned face outside the picture up to which it is mirrored

PASSES = ("direct", "padded", "tiled", "low score")


@dataclass(frozen=True, eq=False)
class StillDetections:
    """The faces of a still and, for each, the pass that found it."""

    detections: Detections
    found_by: list[str]

    def __len__(self) -> int:
        return len(self.detections)

    def __getitem__(self, index: int | np.ndarray) -> StillDetections:
        chosen = np.atleast_1d(np.arange(len(self))[index])
        return StillDetections(self.detections[chosen], [self.found_by[i] for i in chosen])


def touches_edge(boxes: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Which boxes reach the picture's edge (the detector clips boxes to the picture)."""
    height, width = image_shape[:2]
    return (
        (boxes[:, 0] <= EDGE_TOLERANCE)
        | (boxes[:, 1] <= EDGE_TOLERANCE)
        | (boxes[:, 2] >= width - EDGE_TOLERANCE)
        | (boxes[:, 3] >= height - EDGE_TOLERANCE)
    )


def _shifted(detections: Detections, dx: float, dy: float, image_shape: tuple[int, ...]) -> Detections:
    """Detections moved by (dx, dy), boxes clipped to the picture (landmarks are not: they are
    where the face's points are, even if a point lies just outside)."""
    if len(detections) == 0:
        return detections
    offset = np.array([dx, dy], np.float32)
    boxes = detections.boxes + np.tile(offset, 2)
    height, width = image_shape[:2]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return Detections(boxes, detections.scores, detections.landmarks + offset)


def _concat(parts: list[Detections]) -> Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Detections.empty()
    return Detections(
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.landmarks for p in parts]),
    )


def _padded(detector: SCRFDDetector, image: np.ndarray, score_threshold: float | None = None) -> Detections:
    height, width = image.shape[:2]
    pad_y, pad_x = round(height * PAD_FRACTION), round(width * PAD_FRACTION)
    canvas = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
    found = detector.detect(canvas, score_threshold=score_threshold)
    return _shifted(found, -pad_x, -pad_y, image.shape)


def _tiled(detector: SCRFDDetector, image: np.ndarray) -> Detections:
    """Faces in overlapping tiles of the network's input size at the picture's own resolution."""
    tile_w, tile_h = detector.input_size
    height, width = image.shape[:2]

    def starts(length: int, tile: int) -> list[int]:
        if length <= tile:
            return [0]
        step = max(1, int(tile * (1 - TILE_OVERLAP)))
        return sorted({*range(0, length - tile, step), length - tile})

    found = []
    for y in starts(height, tile_h):
        for x in starts(width, tile_w):
            tile = image[y : y + tile_h, x : x + tile_w]
            inner = detector.detect(tile)
            found.append(_shifted(inner[~touches_edge(inner.boxes, tile.shape)], x, y, image.shape))
    merged = _concat(found)
    return merged[detector.suppress(merged.boxes, merged.scores)] if len(merged) else merged


def _added(found: StillDetections, extra: Detections, label: str) -> StillDetections:
    """``found`` with the faces of ``extra`` that overlap none of it."""
    if len(extra) == 0:
        return found
    fresh = iou_matrix(found.detections.boxes, extra.boxes).max(axis=0, initial=0.0) < REPLACE_IOU
    merged = _concat([found.detections, extra[fresh]])
    return StillDetections(merged, found.found_by + [label] * int(fresh.sum()))


def _large(detector: SCRFDDetector, image: np.ndarray) -> bool:
    tile_w, tile_h = detector.input_size
    return image.shape[1] > tile_w * TILE_ABOVE or image.shape[0] > tile_h * TILE_ABOVE


def _passes(detector: SCRFDDetector, image: np.ndarray, every_face: bool) -> StillDetections:
    direct = detector.detect(image)
    found = StillDetections(direct, ["direct"] * len(direct))
    at_edge = touches_edge(direct.boxes, image.shape)
    if not len(direct) or at_edge.any():
        padded = _padded(detector, image)
        overlap = iou_matrix(direct.boxes, padded.boxes)
        replaced = at_edge & (overlap.max(axis=1, initial=0.0) >= REPLACE_IOU)
        found = _added(found[np.flatnonzero(~replaced)], padded, "padded")
    if (every_face or not len(found)) and _large(detector, image):
        found = _added(found, _tiled(detector, image), "tiled")
    return found


def _turned_back(detections: Detections, turns: int, shape: tuple[int, ...]) -> Detections:
    """Detections made on ``np.rot90(image, turns)`` in the coordinates of ``image`` itself (a
    rotation, never a mirror, so each landmark keeps its meaning)."""
    height, width = shape[:2]

    def back(xy: np.ndarray) -> np.ndarray:
        x, y = xy[..., 0], xy[..., 1]
        for step in range(turns, 0, -1):  # undo the last counter-clockwise quarter turn first
            before = width if (step - 1) % 2 == 0 else height  # the width of the picture before it
            x, y = before - y, x
        return np.stack([x, y], axis=-1)

    corners = back(np.stack([detections.boxes[:, :2], detections.boxes[:, 2:]], axis=1).astype(np.float64))
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    points = back(detections.landmarks.astype(np.float64))
    return Detections(boxes.astype(np.float32), detections.scores, points.astype(np.float32))


def _upright(detector: SCRFDDetector, image: np.ndarray, found: StillDetections) -> StillDetections:
    """Faces of a picture taken sideways or upside down (no EXIF orientation to say so): each face
    is taken from the quarter turn of the picture where the detector is surest of it."""
    best = found
    for turns in (1, 2, 3):
        turned = np.ascontiguousarray(np.rot90(image, turns))
        seen = _turned_back(detector.detect(turned), turns, image.shape)
        if len(seen) == 0:
            continue
        overlap = iou_matrix(best.detections.boxes, seen.boxes)
        current = best.detections
        boxes, scores, points = current.boxes.copy(), current.scores.copy(), current.landmarks.copy()
        labels = list(best.found_by)
        for i in range(len(best)):
            j = int(np.argmax(overlap[i])) if overlap.shape[1] else -1
            if j >= 0 and overlap[i, j] >= REPLACE_IOU and seen.scores[j] > scores[i] + TURN_MARGIN:
                boxes[i], scores[i], points[i] = seen.boxes[j], seen.scores[j], seen.landmarks[j]
                labels[i] = f"{labels[i].split(', turned')[0]}, turned {90 * turns}°"
        kept = StillDetections(Detections(boxes, scores, points), labels)
        best = _added(kept, seen[seen.scores >= detector.turned_score_threshold], f"turned {90 * turns}°")
    return best


def detect_still(
    detector: SCRFDDetector, image: np.ndarray, *, every_face: bool = False, orient: bool = False
) -> StillDetections:
    """Every face of a still, each with the pass that found it (see the module's docstring).
    ``every_face`` tiles a large picture even when bigger faces were found; ``orient`` also looks
    at the picture turned by each quarter turn."""
    found = _passes(detector, image, every_face)
    if orient:
        found = _upright(detector, image, found)
    if not len(found):
        found = _added(found, _padded(detector, image, LOW_SCORE_THRESHOLD), "low score")
    return found


def outside_share(landmarks: np.ndarray, image_shape: tuple[int, ...], size: int = 112) -> np.ndarray:
    """(N,) share of each face's aligned crop that falls outside the picture."""
    matrices = similarity_transforms(landmarks, size)
    grid = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5), axis=-1).reshape(-1, 2)
    height, width = image_shape[:2]
    shares = np.empty(len(matrices))
    for i, matrix in enumerate(matrices):
        source = (grid - matrix[:, 2]) @ np.linalg.inv(matrix[:, :2]).T
        inside = (source[:, 0] >= 0) & (source[:, 0] < width) & (source[:, 1] >= 0) & (source[:, 1] < height)
        shares[i] = 1.0 - inside.mean()
    return shares


def mirror_fill(landmarks: np.ndarray, image_shape: tuple[int, ...], size: int = 112) -> np.ndarray:
    """(N,) whether each face's aligned crop is better filled by mirroring than left black."""
    share = outside_share(landmarks, image_shape, size)
    return (share > 0) & (share <= MIRROR_FILL_MAX_OUTSIDE)
