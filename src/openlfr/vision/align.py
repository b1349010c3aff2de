"""Five-point similarity alignment to the 112×112 ArcFace template.

The recognizer was trained on faces warped so that the eyes, nose and mouth corners land on
fixed points. We fit the least-squares similarity (rotation, uniform scale, translation)
from each face's five landmarks to those points (Umeyama's closed form, for the whole batch
at once) and warp with OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def similarity_transforms(landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """(N, 2, 3) affine matrices mapping each face's (5, 2) landmarks onto the template."""
    src = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    src_mean = src.mean(axis=1, keepdims=True)
    dst_mean = dst.mean(axis=0)
    src_c = src - src_mean
    dst_c = dst - dst_mean
    covariance = np.einsum("pi,npj->nij", dst_c, src_c) / 5.0
    u, s, vt = np.linalg.svd(covariance)
    reflection = np.sign(np.linalg.det(u) * np.linalg.det(vt))
    d = np.stack([np.ones_like(reflection), reflection], axis=1)
    rotation = np.einsum("nij,nj,njk->nik", u, d, vt)
    src_var = (src_c**2).sum(axis=(1, 2)) / 5.0
    scale = (s * d).sum(axis=1) / np.maximum(src_var, 1e-12)
    linear = rotation * scale[:, None, None]
    translation = dst_mean - np.einsum("nij,nj->ni", linear, src_mean[:, 0])
    return np.concatenate([linear, translation[:, :, None]], axis=2)


def align_faces(
    image: np.ndarray, landmarks: np.ndarray, size: int = 112, mirror: np.ndarray | None = None
) -> np.ndarray:
    """Warp each face of ``image`` into an aligned (N, size, size, 3) crop. Biometric output.
    A frame that is a PyTorch tensor on a device (``live.frames_on_device``) gives its crops there.
    Outside the picture a crop is black, or mirrored where ``mirror`` says so (stills only)."""
    matrices = similarity_transforms(landmarks, size)
    if not isinstance(image, np.ndarray):
        from openlfr.vision import device

        return device.warp(image, matrices, size)
    crops = np.empty((len(matrices), size, size, 3), np.uint8)
    for i, matrix in enumerate(matrices):
        border = cv2.BORDER_REFLECT_101 if mirror is not None and mirror[i] else cv2.BORDER_CONSTANT
        crops[i] = cv2.warpAffine(
            image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0
        )
    return crops
