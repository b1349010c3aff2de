"""Embed every image of an evaluation set, with and without mirror fusion, in one pass.

Evaluation images hold one subject near the centre (LFW and UTKFace are cropped around
them), so we take the detected face nearest the centre. When the detector finds nothing we
retry on the image with a wide black margin (a face that fills a tight crop is too big for
the detector's anchors), then at a low score threshold, and report how often that happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from openlfr.errors import ImageError
from openlfr.evaluation.cache import EmbeddingCache, image_digest
from openlfr.vision import FaceAnalyzer
from openlfr.vision.embedder import l2_normalize
from openlfr.vision.types import Detections

RETRY_SCORE_THRESHOLD = 0.1
PIPELINE_VERSION = "2"  # part of the cache key: bump when how faces are found or embedded changes


@dataclass(frozen=True)
class EmbeddedSet:
    """Templates for a list of images (biometric: held in memory for the evaluation only)."""

    paths: list[Path]
    plain: np.ndarray
    flipped: np.ndarray
    retried: int
    missing: list[Path]

    def templates(self, flip_fusion: bool) -> np.ndarray:
        """Unit-length templates: the plain ones, or plain + mirror summed then normalised."""
        if not flip_fusion:
            return l2_normalize(self.plain)
        return l2_normalize(self.plain + self.flipped)


def central_face(detections: Detections, image_shape: tuple[int, ...]) -> Detections:
    """The detection whose box centre is nearest the image centre."""
    centre = np.array([image_shape[1] / 2, image_shape[0] / 2])
    box_centres = (detections.boxes[:, :2] + detections.boxes[:, 2:]) / 2
    return detections[int(np.argmin(np.linalg.norm(box_centres - centre, axis=1)))]


def embed_images(
    analyzer: FaceAnalyzer,
    paths: Sequence[Path],
    progress: Callable[[int], None] | None = None,
    cache: EmbeddingCache | None = None,
) -> EmbeddedSet:
    """Raw plain and mirrored features for each image's central face (zeros where none was found)."""
    detector = analyzer.detector
    embedder = analyzer.embedder
    dimension = embedder.dimension
    plain = np.zeros((len(paths), dimension), np.float32)
    flipped = np.zeros((len(paths), dimension), np.float32)
    retried, missing = 0, []
    normal_threshold = detector.score_threshold
    for i, path in enumerate(paths):
        digest = image_digest(path) if cache is not None and path.is_file() else None
        cached = cache.get(digest) if cache is not None and digest else None
        if cached is not None:
            plain[i], flipped[i] = cached
            if not plain[i].any():
                missing.append(path)
            if progress:
                progress(1)
            continue
        try:
            image = analyzer.load(path)
        except ImageError:
            missing.append(path)
            if progress:
                progress(1)
            continue
        detections = detector.detect(image)
        if len(detections) == 0:  # tight crops (UTKFace): a face filling the frame needs a margin
            image = cv2.copyMakeBorder(
                image, *([image.shape[0] // 2] * 2), *([image.shape[1] // 2] * 2), cv2.BORDER_CONSTANT
            )
            detections = detector.detect(image)
            retried += 1
        if len(detections) == 0:
            detector.score_threshold = RETRY_SCORE_THRESHOLD
            try:
                detections = detector.detect(image)
            finally:
                detector.score_threshold = normal_threshold
        if len(detections) == 0:
            missing.append(path)
        else:
            crop = analyzer.align(image, central_face(detections, image.shape))
            both = embedder.forward(embedder.blob(np.concatenate([crop, crop[:, :, ::-1]])))
            plain[i], flipped[i] = both[0], both[1]
        if cache is not None and digest:
            cache.put(digest, plain[i], flipped[i])
        if progress:
            progress(1)
    if cache is not None:
        cache.save()
    return EmbeddedSet(list(paths), plain, flipped, retried, missing)
