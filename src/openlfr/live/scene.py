"""Scene cuts: the moment a camera's picture is replaced by another one.

A recording edited together, a PTZ camera jumping to a preset, a stream switched to another
source or a change of resolution all put different people where the tracker expects the
last ones. Each frame is reduced to the detail of a small grey thumbnail (the thumbnail less
its own blur, so two street scenes with the same sky-over-ground layout still differ); a cut
is a frame whose detail no longer correlates with the previous frame's. Correlation ignores a
change of brightness or contrast (a light switched on, auto-exposure), and a pan or people
walking keep most of the detail in place. On the shared videos, the generated demo and the
walk-past trial, cuts scored 0.02 to 0.11 and every other frame 0.33 or more; the threshold
sits between (``live.scene_cut_correlation``).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

THUMB_WIDTH, THUMB_HEIGHT = 64, 36
DETAIL_SIGMA = 3.0  # thumbnail pixels: what the detail is measured against
FLAT = 1.0  # grey levels of detail below which a frame is featureless (a black or blank frame)


def detail(image: np.ndarray) -> np.ndarray:
    """A (36, 64) float32 map of a frame's detail: a BGR array, a tensor on a device, or a
    brightness plane."""
    height, width = image.shape[:2]
    step = max(1, min(height // (THUMB_HEIGHT * 4), width // (THUMB_WIDTH * 4)))
    sampled = image[::step, ::step]
    if not isinstance(sampled, np.ndarray):  # a PyTorch tensor (live.frames_on_device)
        sampled = sampled.float().mean(dim=2).cpu().numpy()
    elif sampled.ndim == 2:  # a brightness plane (a decoded frame's, unconverted)
        sampled = sampled.astype(np.float32)
    else:
        sampled = sampled.astype(np.float32).mean(axis=2)
    thumb = cv2.resize(sampled, (THUMB_WIDTH, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
    return thumb - cv2.GaussianBlur(thumb, (0, 0), DETAIL_SIGMA)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two detail maps; 1 when both are featureless, 0 when only one is."""
    sa, sb = float(a.std()), float(b.std())
    if sa < FLAT or sb < FLAT:
        return 1.0 if sa < FLAT and sb < FLAT else 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


class SceneCutDetector:
    """Says, frame by frame, whether the picture was cut to another scene or another size.

    A featureless frame (black, or white from a flash) is skipped: it shows nobody, and the next
    real frame is compared with the last one before it."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._previous: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None

    def change(
        self, image: np.ndarray, shape: tuple[int, ...] | None = None
    ) -> Literal["none", "cut", "resized"]:
        """``image`` may be a smaller copy of the frame, whose own ``shape`` is then given."""
        shape = tuple(image.shape if shape is None else shape)
        if self._shape is not None and shape != self._shape:
            self._previous, self._shape = None, shape
            return "resized"
        self._shape = shape
        current = detail(image)
        if float(current.std()) < FLAT:
            return "none"
        previous, self._previous = self._previous, current
        if previous is None:
            return "none"
        return "cut" if correlation(previous, current) < self.threshold else "none"
