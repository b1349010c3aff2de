"""YuNet (OpenCV Zoo) decoding in the detector contract: the rest is ``SCRFDDetector``'s.

At strides 8, 16 and 32, one anchor per cell predicts a class and an objectness probability (the
face score is their geometric mean), the box centre as an offset from the cell and its width and
height as logarithms, all in units of the stride, and five keypoints as offsets from the cell.
Outputs come in the order cls, obj, bbox, kps, each for the three strides. The network takes BGR
pixels as they are (no mean, no scaling).
"""

from __future__ import annotations

import numpy as np

from openlfr.vision.detector import STRIDES, SCRFDDetector


class YuNetDetector(SCRFDDetector):
    """Faces from YuNet's twelve outputs; letterbox, batching, NMS and limits as for SCRFD."""

    OUTPUTS = 12  # class, objectness, box and keypoints at three strides

    def candidates(
        self, outputs: list[np.ndarray], index: int, height: int, width: int, threshold: float
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        boxes, scores, points = [], [], []
        for level, stride in enumerate(STRIDES):
            face = np.clip(outputs[level][index, :, 0], 0, 1) * np.clip(outputs[level + 3][index, :, 0], 0, 1)
            score = np.sqrt(face)
            keep = np.flatnonzero(score >= threshold)
            if keep.size == 0:
                continue
            cells = self.anchor_centres(height // stride, width // stride, stride, per_cell=1)[keep]
            box = outputs[level + 6][index, keep]
            centres = cells + box[:, :2] * stride
            half = np.exp(box[:, 2:4]) * stride / 2
            boxes.append(np.concatenate([centres - half, centres + half], axis=1))
            points.append(cells[:, None, :] + outputs[level + 9][index, keep].reshape(-1, 5, 2) * stride)
            scores.append(score[keep])
        return boxes, scores, points
