"""The recognition core in one object: detect, assess quality, align and embed.

Sessions are built once per analyzer and reused; the recognizer is only loaded when an
embedding is first asked for, so detection-only users never pay for it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort

from openlfr.errors import (
    LowQualityFaceError,
    ModelPackError,
    MultipleFacesError,
    NoFaceError,
    ProviderUnavailableError,
)
from openlfr.models import ModelPack, load_pack
from openlfr.models.operating import for_pack
from openlfr.settings import Settings, get_settings
from openlfr.video.frames import DecodedPixels, DevicePixels, Frame
from openlfr.vision.align import align_faces
from openlfr.vision.boxes import whole_faces
from openlfr.vision.detector import SCRFDDetector
from openlfr.vision.embedder import ArcFaceEmbedder
from openlfr.vision.images import load_image
from openlfr.vision.quality import assess, passes_gate
from openlfr.vision.runtime import batch_wait_seconds, create_session, recognizer_batch_size, runs_on_cpu
from openlfr.vision.stills import PASSES, StillDetections, detect_still, mirror_fill
from openlfr.vision.types import Detections, Face
from openlfr.vision.yunet import YuNetDetector

DOMINANCE = 2.0  # a face this many times the area of the next one is clearly the subject
LISTED = 5  # faces named in a refusal; the rest are counted


@dataclass(frozen=True, eq=False)
class Chosen:
    """The face a still was taken to show, and the other faces in it (largest first)."""

    face: Face
    others: list[Face]


def dominant_face(faces: list[Face], largest: bool = False) -> int | None:
    """Index of the face a still is of, or None when that is unclear. Only a whole face the
    detector believes can be the subject: the largest such face, if it is the only one or at
    least ``DOMINANCE`` times the area of every other (``largest``: whatever the others). A face
    that is cut off, or barely believed, is chosen only where it dominates the picture itself,
    so that the caller refuses it with its reason rather than take a face in the background."""
    by_size = sorted(range(len(faces)), key=lambda i: -faces[i].area)
    usable = [i for i in by_size if not faces[i].cut_off and not faces[i].doubtful]
    if not usable or faces[by_size[0]].area >= DOMINANCE * faces[usable[0]].area:
        return by_size[0]
    best, rivals = usable[0], usable[1:]
    if largest or not rivals or faces[best].area >= DOMINANCE * faces[rivals[0]].area:
        return best
    return None


class FaceAnalyzer:
    """Detection, quality and embedding with one pack and one set of settings."""

    def __init__(self, settings: Settings | None = None, pack: ModelPack | None = None) -> None:
        settings = settings or get_settings()
        self.pack = pack or load_pack(settings.model_pack)
        self.settings = for_pack(settings, self.pack.manifest)
        self._siblings: dict[int, FaceAnalyzer] = {}  # by ONNX Runtime threads per call
        self._siblings_lock = threading.Lock()

    def with_threads(self, threads: int) -> FaceAnalyzer:
        """This analyzer with its models on ``threads`` ONNX Runtime threads per call: itself where
        it runs so already, or where its sessions are not ONNX Runtime's own on the CPU (PyTorch,
        a GPU, a node's shared models); else a copy, made once per thread count, whose detector
        and recognizer are its own, as configured, over new sessions of the same weights, read
        again and checked against the pack's checksums."""
        if threads == self.settings.runtime.intra_op_threads:
            return self
        with self._siblings_lock:
            sibling = self._siblings.get(threads)
            if sibling is None:
                sibling = self._siblings[threads] = self._on_threads(threads)
        return sibling

    def _on_threads(self, threads: int) -> FaceAnalyzer:
        own = (self.detector.session, self.embedder.session)
        if not all(isinstance(session, ort.InferenceSession) and runs_on_cpu(session) for session in own):
            return self
        runtime = self.settings.runtime.model_copy(update={"intra_op_threads": threads})
        sibling = copy.copy(self)  # a subclass stays itself, with whatever it overrides
        sibling.settings = self.settings.model_copy(update={"runtime": runtime})
        sibling._siblings, sibling._siblings_lock = {}, threading.Lock()
        sibling.__dict__["detector"] = self.detector.on_session(
            create_session(self.pack.checked_model("detector"), runtime, self.decodes)
        )
        sibling.__dict__["embedder"] = self.embedder.on_session(
            create_session(self.pack.checked_model("recognizer"), runtime, self.decodes)
        )
        return sibling

    @property
    def decodes(self) -> bool:
        """Whether video this process decodes may go to NVDEC (``live.decode_device``)."""
        return self.settings.live.decode_device != "cpu"

    @cached_property
    def detector(self) -> SCRFDDetector:
        return self.detector_on(create_session(self.pack.detector_model, self.settings.runtime, self.decodes))

    def detector_on(self, session, batch_wait: float | None = None) -> SCRFDDetector:
        """The pack's detector contract over any session (local, PyTorch, or a node's shared one)."""
        s, m = self.settings.detector, self.pack.manifest.detector
        if batch_wait is None:
            batch_wait = batch_wait_seconds(s.batch_wait_ms, session)
        family = YuNetDetector if m.family == "yunet" else SCRFDDetector
        if len(session.get_outputs()) != family.OUTPUTS:
            raise ModelPackError(
                f"pack {self.pack.name}: its detector gives {len(session.get_outputs())} outputs, where a "
                f"{m.family!r} detector gives {family.OUTPUTS}; is its family right in the manifest?"
            )
        detector = family(
            session,
            input_size=s.input_size,
            input_mean=m.input_mean,
            input_std=m.input_std,
            bgr_to_rgb=m.bgr_to_rgb,
            score_threshold=s.score_threshold,
            turned_score_threshold=s.turned_score_threshold,
            nms_threshold=s.nms_threshold,
            min_face_size=s.min_face_size,
            max_faces=s.max_faces,
            fit_aspect=s.fit_aspect,
            batch_wait=batch_wait,
            max_batch=s.max_batch,
        )
        self._try(
            lambda: detector.detect_batch([np.zeros((64, 96, 3), np.uint8), np.zeros((96, 64, 3), np.uint8)])
        )
        return detector

    @cached_property
    def embedder(self) -> ArcFaceEmbedder:
        session = create_session(self.pack.recognizer_model, self.settings.runtime, self.decodes)
        return self.embedder_on(session, batch_wait_seconds(self.settings.recognition.batch_wait_ms, session))

    def embedder_on(self, session, batch_wait: float = 0.0) -> ArcFaceEmbedder:
        """The pack's recognizer contract over any session (local, PyTorch, or a node's shared one)."""
        m = self.pack.manifest.recognizer
        embedder = ArcFaceEmbedder(
            session,
            input_mean=m.input_mean,
            input_std=m.input_std,
            bgr_to_rgb=m.bgr_to_rgb,
            batch_size=recognizer_batch_size(self.settings.recognition.batch_size, session),
            flip_fusion=self.settings.recognition.flip_fusion,
            batch_wait=batch_wait,
        )
        if embedder.dimension != m.embedding_size:
            raise ModelPackError(
                f"pack {self.pack.name}: its recognizer gives {embedder.dimension}-D templates, "
                f"where its manifest says embedding_size = {m.embedding_size}"
            )
        self._try(lambda: embedder.embed(np.zeros((2, m.input_size, m.input_size, 3), np.uint8)))
        return embedder

    def _try(self, forward: Callable[[], object]) -> None:
        """One small batch through a model as the pack describes it: a model that does not keep
        the contract is refused when it loads, with the reason, not on the first camera frame."""
        try:
            forward()
        except Exception as exc:  # ONNX Runtime's and PyTorch's own untyped errors
            raise ModelPackError(
                f"pack {self.pack.name}: its models do not work as its manifest describes them "
                f"({type(exc).__name__}: {str(exc)[:300]})"
            ) from None

    def use_sessions(self, detector, recognizer) -> None:
        """Run on sessions made elsewhere (a node's shared models) instead of loading the pack's own."""
        self.detector = self.detector_on(detector, batch_wait=0.0)
        self.embedder = self.embedder_on(recognizer)

    @cached_property
    def frames_device(self):
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

    def pixels_of(self, frame: Frame) -> np.ndarray | DecodedPixels:
        """What detection and alignment work on: the frame's BGR array, a decoded frame not yet
        converted (the detector has the decoder scale it; see ``full_pixels``), or with
        ``live.frames_on_device`` an (H, W, 3) uint8 tensor on the models' device (NVDEC's
        frames are already there; others are copied once, whole)."""
        device = self.frames_device
        if device is None:
            return frame.pixels if isinstance(frame.pixels, DecodedPixels) else frame.image
        pixels = frame.pixels
        if isinstance(pixels, DevicePixels):
            return pixels.tensor.to(device)
        import torch

        return torch.from_numpy(frame.image).to(device)  # type: ignore[return-value]

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
        return load_image(
            path,
            max_pixels=limits.max_pixels,
            max_bytes=limits.max_bytes,
            max_decoded_bytes=limits.max_decoded_bytes,
        )

    def detect(self, image: np.ndarray | DecodedPixels) -> Detections:
        """One detector pass over a video frame (the live engine's view: no retries)."""
        return self.detector.detect(image)

    def find_faces(
        self, image: np.ndarray, *, every_face: bool = False, orient: bool = False
    ) -> StillDetections:
        """Every face of a still photo, whatever its size in the picture (see ``vision.stills``)."""
        return detect_still(self.detector, image, every_face=every_face, orient=orient)

    def align(self, image: np.ndarray, detections: Detections, *, still: bool = False) -> np.ndarray:
        """Aligned crops for each detection (biometric: keep in memory only). A still's faces
        that a tight crop cuts are filled as ``vision.stills`` measured best."""
        mirror = mirror_fill(detections.landmarks, image.shape, self.crop_size) if still else None
        return align_faces(image, detections.landmarks, self.crop_size, mirror=mirror)

    def analyze(
        self,
        image: np.ndarray,
        *,
        embed: bool = True,
        found: StillDetections | None = None,
        every_face: bool = False,
        orient: bool = False,
    ) -> list[Face]:
        """Every face of a still with its quality, the pass that found it and, if asked, its
        template (``every_face`` and ``orient`` as in ``find_faces``)."""
        found = self.find_faces(image, every_face=every_face, orient=orient) if found is None else found
        if len(found) == 0:
            return []
        detections = found.detections
        crops = self.align(image, detections, still=True)
        qualities = assess(detections, crops)
        inside = whole_faces(detections.landmarks, image.shape)
        embeddings = self.embedder.embed(crops) if embed else [None] * len(detections)
        return [
            Face(
                box=detections.boxes[i],
                score=float(detections.scores[i]),
                landmarks=detections.landmarks[i],
                quality=qualities[i],
                embedding=embeddings[i],
                found_by=found.found_by[i],
                cut_off=not inside[i],
            )
            for i in range(len(detections))
        ]

    def passes_gate(self, face: Face) -> bool:
        """The quality gate; a face cut off by the picture's edge, or found only at a low detector
        score, never passes it."""
        q = self.settings.quality
        whole = not face.cut_off and not face.doubtful
        return whole and passes_gate(face.quality, q.min_quality, q.min_inter_eye)

    def subject_face(
        self,
        image: np.ndarray,
        *,
        label: str = "image",
        largest: bool = False,
        embed: bool = True,
        hint: str = "crop the picture to one person, or use --largest",
    ) -> Chosen:
        """The face a still is of: its only face, or the clearly dominant one (see
        ``dominant_face``), or with ``largest`` the biggest; a typed error when there is none, or
        when several are equally plausible (they are listed, so the user can crop or choose)."""
        faces = self.analyze(image, embed=embed, orient=True)
        if not faces:
            raise NoFaceError(f"{label}: no face found (tried: {', '.join(PASSES)}, every quarter turn)")
        faces = sorted(faces, key=lambda face: -face.area)
        chosen = dominant_face(faces, largest)
        if chosen is None:
            listed = "; ".join(f"face {i + 1} at {f.where()}" for i, f in enumerate(faces[:LISTED]))
            if len(faces) > LISTED:
                listed += f"; {len(faces) - LISTED} smaller"
            raise MultipleFacesError(
                f"{label}: {len(faces)} faces and none clearly the subject ({listed}); {hint}",
                faces=len(faces),
            )
        if faces[chosen].cut_off:
            raise LowQualityFaceError(
                f"{label}: the face at {faces[chosen].where()} is cut off by the picture's edge "
                "(an eye, the nose or the mouth is outside it); use a picture showing the whole face"
            )
        if faces[chosen].doubtful:
            raise LowQualityFaceError(
                f"{label}: the only face-like thing, at {faces[chosen].where()}, was found at a detector "
                f"score of {faces[chosen].score:.2f}, too low to be sure it is a face"
            )
        return Chosen(faces[chosen], [f for i, f in enumerate(faces) if i != chosen])

    def compare(self, a: Face, b: Face) -> float:
        """Cosine similarity of two faces' templates."""
        if a.embedding is None or b.embedding is None:
            raise ValueError("both faces need embeddings to be compared")
        return float(np.dot(a.embedding, b.embedding))
