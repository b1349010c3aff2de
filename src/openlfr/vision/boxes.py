"""Geometry of face boxes (x1, y1, x2, y2) shared by detection, stills and tracking."""

from __future__ import annotations

import numpy as np


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


def landmarks_inside(landmarks: np.ndarray, image_shape: tuple[int, ...], margin: float = 1.0) -> np.ndarray:
    """(N,) whether all five landmarks of each face lie in the picture: a face whose eye, nose or
    mouth point is outside is cut off by the edge, and its other points are the detector's guess."""
    height, width = image_shape[:2]
    x, y = landmarks[..., 0], landmarks[..., 1]
    inside = (x >= -margin) & (x <= width + margin) & (y >= -margin) & (y <= height + margin)
    return inside.all(axis=1)
