"""Value types shared by every stage: detections as one batch of arrays, faces as results.

Arrays stay numpy arrays and batches stay batches, so a frame's N faces move through the
pipeline as (N, ...) arrays rather than N Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Detections:
    """N detected faces in one image: boxes (N, 4) x1 y1 x2 y2, scores (N,), landmarks (N, 5, 2).

    Landmark order: left eye, right eye (as seen in the image), nose tip, left and right mouth corners.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray) -> Detections:
        """Select faces by index, slice or boolean mask; always returns a Detections batch."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index])

    @property
    def areas(self) -> np.ndarray:
        wh = np.clip(self.boxes[:, 2:] - self.boxes[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    @property
    def inter_eye(self) -> np.ndarray:
        """Distance between the eye centres in pixels, the usual measure of face resolution."""
        return np.linalg.norm(self.landmarks[:, 1] - self.landmarks[:, 0], axis=1)

    def largest(self) -> Detections:
        return self[int(np.argmax(self.areas))] if len(self) else self


@dataclass(frozen=True)
class FaceQuality:
    """Per-face quality measures and the combined score in [0, 1] (see quality.py for the formula)."""

    inter_eye: float
    detector_score: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    roll: float
    score: float


@dataclass(frozen=True, eq=False)
class Face:
    """One analysed face. Biometric: ``embedding`` is a template and must never be logged or stored
    unencrypted; it is left out of ``repr`` so it cannot reach a log by accident."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    quality: FaceQuality
    embedding: np.ndarray | None = field(default=None, repr=False)
    found_by: str = "direct"  # the detection pass that found it (openlfr.vision.stills)
    cut_off: bool = False  # an eye, the nose or the mouth lies outside the picture

    @property
    def doubtful(self) -> bool:
        """Found only at a low detector score: reported, never used (drawings and textures score there)."""
        return self.found_by.startswith("low score")

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))

    def where(self) -> str:
        """Where the face is, for messages: its box and size in pixels."""
        x1, y1, x2, y2 = (round(float(v)) for v in self.box)
        return f"{x1},{y1}–{x2},{y2} ({x2 - x1}×{y2 - y1} px)"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description, without the embedding."""
        return {
            "found_by": self.found_by,
            "cut_off": self.cut_off,
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "quality": {k: round(float(v), 4) for k, v in vars(self.quality).items()},
        }
