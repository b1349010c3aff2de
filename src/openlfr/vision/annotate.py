"""Draw detections on an image for people to check what the detector saw."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from openlfr.vision.types import Face

PASS_COLOUR = (60, 200, 60)  # BGR green: passes the quality gate
FAIL_COLOUR = (40, 40, 230)  # BGR red: below the gate
LANDMARK_COLOURS = ((255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (0, 255, 0))


def annotate(image: np.ndarray, faces: Sequence[Face], passed: Sequence[bool] | None = None) -> np.ndarray:
    """A copy of ``image`` with each face boxed, its landmarks dotted and its quality written."""
    canvas = image.copy()
    thickness = max(1, round(min(image.shape[:2]) / 400))
    for i, face in enumerate(faces):
        colour = PASS_COLOUR if passed is None or passed[i] else FAIL_COLOUR
        x1, y1, x2, y2 = (round(v) for v in face.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
        radius = max(1, round((x2 - x1) / 40))
        for (x, y), dot in zip(face.landmarks, LANDMARK_COLOURS, strict=True):
            cv2.circle(canvas, (round(x), round(y)), radius, dot, -1)
        label = f"#{i} q={face.quality.score:.2f}"
        scale = max(0.35, (x2 - x1) / 220)
        cv2.putText(
            canvas,
            label,
            (x1, max(0, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            colour,
            thickness,
            cv2.LINE_AA,
        )
    return canvas
