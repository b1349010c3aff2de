"""The recognition core in one object: detect, assess quality, align and embed.

Sessions are built once per analyzer and reused; the recognizer is only loaded when an
embedding is first asked for, so detection-only users never pay for it.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from openlfr.errors import MultipleFacesError, NoFaceError, ProviderUnavailableError
from openlfr.models import ModelPack, load_pack
from openlfr.settings import Settings, get_settings
from openlfr.video.frames import DevicePixels, Frame
from openlfr.vision.align import align_faces
from openlfr.vision.detector import SCRFDDetector
from openlfr.vision.embedder import ArcFaceEmbedder
from openlfr.vision.images import load_image
from openlfr.vision.quality import assess, passes_gate
from openlfr.vision.runtime import batch_wait_seconds, create_session, recognizer_batch_size
from openlfr.vision.types import Detections, Face


class FaceAnalyzer:
    """Detection, quality and embedding with one pack and one set of settings."""

    def __init__(self, settings: Settings | None = None, pack: ModelPack | None = None) -> None:
        self.settings = settings or get_settings()
        self.pack = pack or load_pack(self.settings.model_pack)

    @property
    def decodes(self) -> bool:
        """Whether video this process decodes may go to NVDEC (``live.decode_device``)."""
        return self.settings.live.decode_device != "cpu"

    @cached_property
    def detector(self) -> SCRFDDetector:
        return self.detector_on(create_session(self.pack.detector_path, self.settings.runtime, self.decodes))

    def detector_on(self, session, batch_wait: float | None = None) -> SCRFDDetector:  # type: ignore[no-untyped-def]
        """The pack's detector contract over any session (local, PyTorch, or a node's shared one)."""
        s, m = self.settings.detector, self.pack.manifest.detector
        if batch_wait is None:
            batch_wait = batch_wait_seconds(s.batch_wait_ms, session)
        return SCRFDDetector(
            session,
            input_size=s.input_size,
            input_mean=m.input_mean,
            input_std=m.input_std,
            bgr_to_rgb=m.bgr_to_rgb,
            score_threshold=s.score_threshold,
            nms_threshold=s.nms_threshold,
            min_face_size=s.min_face_size,
            max_faces=s.max_faces,
            fit_aspect=s.fit_aspect,
            batch_wait=batch_wait,
            max_batch=s.max_batch,
        )

    @cached_property
    def embedder(self) -> ArcFaceEmbedder:
        session = create_session(self.pack.recognizer_path, self.settings.runtime, self.decodes)
        return self.embedder_on(session, batch_wait_seconds(self.settings.recognition.batch_wait_ms, session))

    def embedder_on(self, session, batch_wait: float = 0.0) -> ArcFaceEmbedder:  # type: ignore[no-untyped-def]
        """The pack's recognizer contract over any session (local, PyTorch, or a node's shared one)."""
        m = self.pack.manifest.recognizer
        return ArcFaceEmbedder(
            session,
            input_mean=m.input_mean,
            input_std=m.input_std,
            bgr_to_rgb=m.bgr_to_rgb,
            batch_size=recognizer_batch_size(self.settings.recognition.batch_size, session),
            flip_fusion=self.settings.recognition.flip_fusion,
            batch_wait=batch_wait,
        )

    @cached_property
    def frames_device(self):  # type: ignore[no-untyped-def]
        """The PyTorch device frames are taken to (``live.frames_on_device``), or None where they
        stay numpy arrays. Both models must run in local PyTorch sessions on that one device:
        anything else is refused, never quietly done on the CPU."""
        if not self.settings.live.frames_on_device:
            return None
        devices = {getattr(model.session, "device", None) for model in (self.detector, self.embedder)}
        if None in devices or len(devices) != 1:
            where = ", ".join(model.session.get_providers()[0] for model in (self.detector, self.embedder))
            raise ProviderUnavailableError(
                f"live.frames_on_device needs both models in local PyTorch sessions on one device "
                f"(runtime.backend 'torch', not a node's shared actor); they run on {where}"
            )
        return devices.pop()

    def pixels_of(self, frame: Frame) -> np.ndarray:
        """What detection and alignment work on: the frame's BGR array, or with
        ``live.frames_on_device`` an (H, W, 3) uint8 tensor on the models' device (NVDEC's
        frames are already there; others are copied once, whole)."""
        device = self.frames_device
        if device is None:
            return frame.image
        pixels = frame.pixels
        if isinstance(pixels, DevicePixels):
            return pixels.tensor.to(device)
        import torch

        return torch.from_numpy(pixels).to(device)  # type: ignore[return-value]

    def backend_summary(self) -> str:
        """Where each model runs (loading both): the line printed at start, so no fallback goes unseen."""
        waits = (self.detector.batch_wait, self.embedder.batcher.max_wait if self.embedder.batcher else 0.0)
        detector, recognizer = (f"{w * 1000:g} ms" if w > 0 else "off" for w in waits)
        frames = f", frames on {self.frames_device}" if self.frames_device is not None else ""
        return (
            f"detector on {self.detector.session.get_providers()[0]} (batching {detector}), "
            f"recognizer on {self.embedder.session.get_providers()[0]} (batching {recognizer}){frames}"
        )

    @property
    def crop_size(self) -> int:
        return self.pack.manifest.recognizer.input_size

    def load(self, path: str | Path | bytes) -> np.ndarray:
        """Decode an image with the size limits from settings."""
        limits = self.settings.images
        return load_image(path, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes)

    def detect(self, image: np.ndarray) -> Detections:
        return self.detector.detect(image)

    def align(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Aligned crops for each detection (biometric: keep in memory only)."""
        return align_faces(image, detections.landmarks, self.crop_size)

    def analyze(
        self, image: np.ndarray, *, embed: bool = True, detections: Detections | None = None
    ) -> list[Face]:
        """Every face in the image with its quality and, if asked, its template."""
        detections = self.detect(image) if detections is None else detections
        if len(detections) == 0:
            return []
        crops = self.align(image, detections)
        qualities = assess(detections, crops)
        embeddings = self.embedder.embed(crops) if embed else [None] * len(detections)
        return [
            Face(
                box=detections.boxes[i],
                score=float(detections.scores[i]),
                landmarks=detections.landmarks[i],
                quality=qualities[i],
                embedding=embeddings[i],
            )
            for i in range(len(detections))
        ]

    def passes_gate(self, face: Face) -> bool:
        q = self.settings.quality
        return passes_gate(face.quality, q.min_quality, q.min_inter_eye)

    def single_face(self, image: np.ndarray, *, label: str = "image", largest: bool = False) -> Face:
        """The one face in an image, with its template; a typed error when there is none or several."""
        detections = self.detect(image)
        if len(detections) == 0:
            raise NoFaceError(f"{label}: no face found")
        if len(detections) > 1:
            if not largest:
                raise MultipleFacesError(
                    f"{label}: {len(detections)} faces found where one is needed "
                    "(use --largest to take the biggest)"
                )
            detections = detections.largest()
        return self.analyze(image, detections=detections)[0]

    def compare(self, a: Face, b: Face) -> float:
        """Cosine similarity of two faces' templates."""
        if a.embedding is None or b.embedding is None:
            raise ValueError("both faces need embeddings to be compared")
        return float(np.dot(a.embedding, b.embedding))
