"""Embed every image of an evaluation set, with and without mirror fusion, in one pass.

Evaluation images hold one subject near the centre (LFW and UTKFace are cropped around
them), so we take the detected face nearest the centre. Faces are found as every still's are
(``vision.stills``: a padded canvas for faces that fill the picture, then tiles, then a low
score threshold), and we report how many needed more than the direct pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from openlfr.errors import FaceError, ImageError, LowQualityFaceError
from openlfr.evaluation.cache import EmbeddingCache, image_digest
from openlfr.settings import ImageSettings
from openlfr.vision import FaceAnalyzer
from openlfr.vision.embedder import ArcFaceEmbedder, l2_normalize
from openlfr.vision.images import load_image
from openlfr.vision.stills import StillDetections
from openlfr.vision.types import Detections

PIPELINE_VERSION = "3"  # part of the cache key: bump when how faces are found or embedded changes


@dataclass(frozen=True)
class EmbeddedSet:
    """Templates for a list of images (biometric: held in memory for the evaluation only)."""

    paths: list[Path]
    plain: np.ndarray
    flipped: np.ndarray
    retried: int
    missing: list[Path]
    reasons: dict[Path, str] = field(default_factory=dict)  # why each missing image gave no template

    def templates(self, flip_fusion: bool) -> np.ndarray:
        """Unit-length templates: the plain ones, or plain + mirror summed then normalised."""
        if not flip_fusion:
            return l2_normalize(self.plain)
        return l2_normalize(self.plain + self.flipped)


def central_index(detections: Detections, image_shape: tuple[int, ...]) -> int:
    """Index of the detection whose box centre is nearest the image centre."""
    centre = np.array([image_shape[1] / 2, image_shape[0] / 2])
    box_centres = (detections.boxes[:, :2] + detections.boxes[:, 2:]) / 2
    return int(np.argmin(np.linalg.norm(box_centres - centre, axis=1)))


def raw_features(embedder: ArcFaceEmbedder, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A recognizer's raw features of one aligned crop and of its mirror image."""
    both = embedder.forward(embedder.network_input(np.concatenate([crop, crop[:, :, ::-1]])))
    return both[0], both[1]


class FaceModel(Protocol):
    """What the evaluation needs from a model pack: the central face's plain and mirrored features."""

    name: str
    dimension: int

    @property
    def fingerprint(self) -> str: ...

    def central_features(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None: ...


class OnnxFaceModel:
    """An ONNX pack (SCRFD + ArcFace contract) behind ``FaceModel``, finding faces as stills are found.

    For a ``register`` (a gallery or a cross-matching register, where a template stands for a
    person), a picture is also looked at in every quarter turn, and its central face must pass
    the quality gate, or the picture is refused with the reason. The evaluation keeps every face
    it finds, as the published protocols do."""

    def __init__(self, analyzer: FaceAnalyzer, register: bool = False) -> None:
        self.analyzer = analyzer
        self.register = register
        self.name = analyzer.pack.name
        self.dimension = analyzer.embedder.dimension
        d = analyzer.settings.detector
        size = f"{d.input_size[0]}x{d.input_size[1]}"
        self.fingerprint = f"{analyzer.pack.fingerprint}-p{PIPELINE_VERSION}-{size}-{d.score_threshold}"
        self.retried = 0

    def central_features(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        crop = self.central_crop(image_bgr)
        return None if crop is None else raw_features(self.analyzer.embedder, crop)

    def central_crop(self, image_bgr: np.ndarray) -> np.ndarray | None:
        """The aligned (1, S, S, 3) crop of the face nearest the picture's centre, if any."""
        found = self.analyzer.find_faces(image_bgr, orient=self.register)
        if len(found) == 0:
            return None
        index = central_index(found.detections, image_bgr.shape)
        if self.register:
            self._check(image_bgr, found[index])
        if found.found_by[index] != "direct":
            self.retried += 1
        return self.analyzer.align(image_bgr, found.detections[index], still=True)

    def _check(self, image: np.ndarray, found: StillDetections) -> None:
        """A register's face must be one a person could use: whole, believed, of usable quality."""
        (face,) = self.analyzer.analyze(image, embed=False, found=found)
        if face.cut_off:
            raise LowQualityFaceError("the face is cut off by the picture's edge")
        if face.doubtful:
            raise LowQualityFaceError(f"found only at a detector score of {face.score:.2f}: is it a face?")
        if not self.analyzer.passes_gate(face):
            raise LowQualityFaceError(
                f"the face does not pass the quality gate (quality {face.quality.score:.2f})"
            )


def register_model(analyzer: FaceAnalyzer) -> OnnxFaceModel:
    """The model for a gallery's or a cross-matching register's pictures (see ``OnnxFaceModel``)."""
    return OnnxFaceModel(analyzer, register=True)


def embed_images(
    model: FaceModel | FaceAnalyzer,
    paths: Sequence[Path],
    progress: Callable[[int], None] | None = None,
    cache: EmbeddingCache | None = None,
    image_limits: ImageSettings | None = None,
) -> EmbeddedSet:
    """Raw plain and mirrored features for each image's central face (zeros where none was found)."""
    if isinstance(model, FaceAnalyzer):
        image_limits = image_limits or model.settings.images
        model = OnnxFaceModel(model)
    limits = image_limits or ImageSettings()
    plain = np.zeros((len(paths), model.dimension), np.float32)
    flipped = np.zeros((len(paths), model.dimension), np.float32)
    missing, reasons = [], {}
    retried_before = getattr(model, "retried", 0)
    for i, path in enumerate(paths):
        digest = image_digest(path) if cache is not None and path.is_file() else None
        cached = cache.get(digest) if cache is not None and digest else None
        if cached is not None:
            plain[i], flipped[i] = cached
        else:
            try:
                features = model.central_features(
                    load_image(path, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes)
                )
            except (ImageError, FaceError) as exc:
                features, reasons[path] = None, str(exc)
            if features is not None:
                plain[i], flipped[i] = features
            if cache is not None and digest:
                cache.put(digest, plain[i], flipped[i])
        if not plain[i].any():
            missing.append(path)
            reasons.setdefault(path, "no face found")
        if progress:
            progress(1)
    if cache is not None:
        cache.save()
    return EmbeddedSet(
        list(paths), plain, flipped, getattr(model, "retried", 0) - retried_before, missing, reasons
    )
