"""Score-level fusion of two packs' recognizers on the same aligned faces, measured as a pack.

The first pack finds and aligns each face; both recognizers embed that one crop. Each template is
made unit length on its own, weighted, and the two are joined, so the cosine of two joined
templates is the weighted mean of the two packs' cosines: ``w·s₁ + (1 − w)·s₂``. Everything
downstream (calibration, open-set identification, the demographic study, cluster thresholds)
then treats the fused model as one more pack, compared with the others at equal false match rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openlfr.errors import ModelPackError
from openlfr.evaluation.embeddings import OnnxFaceModel, raw_features
from openlfr.models.pack import pack_manifest
from openlfr.vision import FaceAnalyzer
from openlfr.vision.embedder import l2_normalize

SEPARATOR = "+"


def fused_parts(name: str) -> tuple[str, str] | None:
    """The two packs a name such as ``buffalo_s+yunet_sface`` fuses (checked, before any work
    starts), or None for one pack: a folder that exists is a pack, even with a ``+`` in its path."""
    if SEPARATOR not in name or Path(name).expanduser().is_dir():
        return None
    parts = name.split(SEPARATOR)
    if len(parts) != 2 or not all(parts) or "dlib" in parts:
        raise ModelPackError(
            f"{name!r}: a fusion names two ONNX packs (built-in names or folders) joined by "
            f"{SEPARATOR!r}, such as 'buffalo_s{SEPARATOR}yunet_sface'"
        )
    first, second = (pack_manifest(part) for part in parts)
    if first.recognizer.input_size != second.recognizer.input_size:
        raise ModelPackError(
            f"{name!r}: the packs align faces to {first.recognizer.input_size} and "
            f"{second.recognizer.input_size} px; a fusion embeds one crop with both"
        )
    return parts[0], parts[1]


def check_pack_name(name: str) -> None:
    """Refuses, with the reason, a pack the study could not run: before any pack's study starts."""
    if name != "dlib" and fused_parts(name) is None:
        pack_manifest(name)


def joined(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """Unit parts, scaled by √w and √(1 − w), side by side: dot products fuse as weighted means."""
    return np.concatenate([np.sqrt(weight) * l2_normalize(first), np.sqrt(1 - weight) * l2_normalize(second)])


class FusedFaceModel:
    """Two ONNX packs as one ``FaceModel``: the first's detector and alignment, both recognizers."""

    def __init__(self, first: FaceAnalyzer, second: FaceAnalyzer, weight: float = 0.5) -> None:
        if first.crop_size != second.crop_size:
            raise ModelPackError(
                f"packs {first.pack.name} and {second.pack.name} align faces to different sizes"
            )
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
