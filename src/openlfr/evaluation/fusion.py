"""Score-level fusion of two packs' recognizers on the same aligned faces, measured as a pack.

The first pack finds and aligns each face; both recognizers embed that one crop. Each template is
made unit length on its own, weighted, and the two are joined, so the cosine of two joined
templates is the weighted mean of the two packs' cosines: ``w·s₁ + (1 − w)·s₂``. Everything
downstream (calibration, open-set identification, the demographic study, cluster thresholds)
then treats the fused model as one more pack, compared with the others at equal false match rate.
"""

from __future__ import annotations

import numpy as np

from openlfr.evaluation.embeddings import OnnxFaceModel, raw_features
from openlfr.vision import FaceAnalyzer
from openlfr.vision.embedder import l2_normalize

SEPARATOR = "+"


def joined(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """Unit parts, scaled by √w and √(1 − w), side by side: dot products fuse as weighted means."""
    return np.concatenate([np.sqrt(weight) * l2_normalize(first), np.sqrt(1 - weight) * l2_normalize(second)])


class FusedFaceModel:
    """Two ONNX packs as one ``FaceModel``: the first's detector and alignment, both recognizers."""

    def __init__(self, first: FaceAnalyzer, second: FaceAnalyzer, weight: float = 0.5) -> None:
        if first.crop_size != second.crop_size:
            raise ValueError(f"packs {first.pack.name} and {second.pack.name} align faces to different sizes")
        self.finder = OnnxFaceModel(first)
        self.first, self.second, self.weight = first, second, weight
        self.name = f"{first.pack.name}{SEPARATOR}{second.pack.name}"
        self.dimension = first.embedder.dimension + second.embedder.dimension
        self.fingerprint = f"fused-{self.finder.fingerprint}-{second.pack.fingerprint}-w{weight:g}"

    @property
    def retried(self) -> int:
        return self.finder.retried

    def central_features(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        crop = self.finder.central_crop(image_bgr)
        if crop is None:
            return None
        (a_plain, a_mirror), (b_plain, b_mirror) = (
            raw_features(model.embedder, crop) for model in (self.first, self.second)
        )
        return joined(a_plain, b_plain, self.weight), joined(a_mirror, b_mirror, self.weight)
