"""Build a gallery from a folder: one sub-folder of reference photos per subject.

Each photo must show one usable face (passing the quality gate). When a photo shows several,
the largest is taken only if it is clearly the subject (``vision.analyzer.dominant_face``);
otherwise the photo is rejected with the reason, and so is any unreadable file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from openlfr.errors import DatasetError, FaceError, ImageError
from openlfr.vision import Face, FaceAnalyzer
from openlfr.watchlist.gallery import Gallery

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
REFERENCE_SIZE = 160


@dataclass
class EnrolmentReport:
    """What was enrolled and what was refused, with reasons (no biometric data)."""

    enrolled: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[Path, str]] = field(default_factory=list)


def face_crop(
    image: np.ndarray, box: np.ndarray, size: int = REFERENCE_SIZE, margin: float = 0.3
) -> np.ndarray:
    """A square crop around a face box, for people to look at (biometric), in system memory
    even when the frame is a tensor on a device (``live.frames_on_device``)."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = size / max(side, 1.0)
    matrix = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]], np.float32)
    if not isinstance(image, np.ndarray):
        from openlfr.vision import device

        return device.warp(image, matrix[None], size, replicate_border=True)[0].cpu().numpy()
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def reference_face(analyzer: FaceAnalyzer, image: np.ndarray) -> tuple[Face | None, str]:
    """The usable face a reference photo is of, or None with the reason."""
    try:
        face = analyzer.subject_face(image, label="photo").face
    except FaceError as exc:
        return None, str(exc).removeprefix("photo: ")
    if not analyzer.passes_gate(face):
        return None, f"the face does not pass the quality gate (quality {face.quality.score:.2f})"
    least = analyzer.settings.governance.enrol_min_detector_score
    if face.score < least:
        return (
            None,
            f"the detector is only {face.score:.2f} sure this is a face (at least {least:.2f} needed)",
        )
    return face, ""


def load_watchlist_folder(
    folder: Path, analyzer: FaceAnalyzer, progress: Callable[[int], None] | None = None
) -> tuple[Gallery, EnrolmentReport]:
    """Enrol every subject sub-folder of ``folder``."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: watchlist folder not found")
    subjects = sorted(p for p in folder.iterdir() if p.is_dir())
    if not subjects:
        raise DatasetError(f"{folder}: no subject sub-folders (one folder of photos per subject)")
    gallery = Gallery(analyzer.embedder.dimension)
    report = EnrolmentReport()
    for subject_dir in subjects:
        templates, reference = [], None
        for path in sorted(p for p in subject_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                image = analyzer.load(path)
            except ImageError as exc:
                report.rejected.append((path, str(exc)))
                continue
            face, reason = reference_face(analyzer, image)
            if face is None:
                report.rejected.append((path, reason))
            else:
                assert face.embedding is not None  # analysed with embed=True
                templates.append(face.embedding)
                if reference is None:
                    reference = face_crop(image, face.box)
            if progress:
                progress(1)
        if templates:
            gallery.add(subject_dir.name, np.stack(templates), reference)
            report.enrolled[subject_dir.name] = len(templates)
    if len(gallery) == 0:
        raise DatasetError(f"{folder}: no subject could be enrolled ({len(report.rejected)} photos rejected)")
    return gallery, report
