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


EDGE_SHARE = 0.25  # of the distance between the eyes: how far inside the picture each point must be


def whole_faces(landmarks: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """(N,) whether each face lies whole in the picture: all five landmarks at least a quarter of
    the eyes' distance inside it. The detector places the points of a face cut by the edge on or
    just inside that edge, so a point that close to it is taken as cut off."""
    height, width = image_shape[:2]
    eyes = np.linalg.norm(landmarks[:, 1] - landmarks[:, 0], axis=1) if len(landmarks) else np.zeros(0)
    margin = np.maximum(EDGE_SHARE * eyes, 1.0)[:, None]
    x, y = landmarks[..., 0], landmarks[..., 1]
    inside = (x >= margin) & (x <= width - margin) & (y >= margin) & (y <= height - margin)
    return np.asarray(inside.all(axis=1))
