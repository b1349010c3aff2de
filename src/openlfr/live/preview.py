"""Live preview frames that show only what an operator may see: every non-alert face is pixelated."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

ALERT_COLOUR = (0, 0, 255)
OTHER_COLOUR = (160, 160, 160)


def privacy_preview(
    image: np.ndarray, faces: Sequence[tuple[np.ndarray, int, bool]], blocks: int = 6
) -> np.ndarray:
    """A copy of ``image`` with faces boxed; faces not under an alert are reduced to ``blocks``² tiles.

    ``faces`` holds (box, track id, alerted) as the engine's ``last_boxes`` gives them.
    """
    preview = image.copy()
    height, width = image.shape[:2]
    for box, _track_id, alerted in faces:
        x1, y1, x2, y2 = box
        pad_x, pad_y = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
        left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
        right, bottom = min(width, int(x2 + pad_x) + 1), min(height, int(y2 + pad_y) + 1)
        if right - left < 2 or bottom - top < 2:
            continue
        if not alerted:
            region = preview[top:bottom, left:right]
            small = cv2.resize(region, (blocks, blocks), interpolation=cv2.INTER_AREA)
            preview[top:bottom, left:right] = cv2.resize(
                small, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST
            )
        colour = ALERT_COLOUR if alerted else OTHER_COLOUR
        cv2.rectangle(preview, (left, top), (right - 1, bottom - 1), colour, 2 if alerted else 1)
    return preview
