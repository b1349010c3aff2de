"""ArcFace embeddings of aligned face crops: batched, L2-normalised, optionally flip-fused.

Output vectors are biometric templates: keep them in memory or in the encrypted store only.
"""

from __future__ import annotations

import copy
from typing import Self

import numpy as np

from openlfr.vision.batching import MicroBatcher
from openlfr.vision.sessions import ImageSession, ModelSession, feeds_images
from openlfr.vision.tensors import InputScaling, concat, mirrored


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class ArcFaceEmbedder:
    """Turn (N, S, S, 3) BGR uint8 aligned crops into (N, D) unit-length templates."""

    def __init__(
        self,
        session: ModelSession,
        *,
        input_mean: float = 127.5,
        input_std: float = 127.5,
        bgr_to_rgb: bool = True,
        batch_size: int = 16,
        flip_fusion: bool = False,
        batch_wait: float = 0.0,
    ) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.scaling = InputScaling(input_mean, input_std, bgr_to_rgb)
        self.feeds_images = feeds_images(session)
        self.batch_size = batch_size
        self.flip_fusion = flip_fusion
        self.dimension = int(session.get_outputs()[0].shape[-1])
        # with a wait, concurrent callers (all cameras, all requests) share one forward pass
        self.batcher = MicroBatcher(self.forward, 4 * batch_size, batch_wait) if batch_wait > 0 else None

    def on_session(self, session: ModelSession) -> Self:
        """This embedder, as configured, over another session of the same model."""
        twin = copy.copy(self)
        twin.session = session
        if self.batcher is not None:
            twin.batcher = MicroBatcher(twin.forward, self.batcher.max_batch, self.batcher.max_wait)
        return twin

    def network_input(self, crops: np.ndarray) -> np.ndarray:
        """What the session is fed: the uint8 crops where it scales them on its own device,
        else the normalised NCHW float32 blob."""
        return crops if self.feeds_images else self.scaling.blob(crops)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """The bare network on a batch from ``network_input``: raw, unnormalised features."""
        if isinstance(self.session, ImageSession):
            return self.session.run_images(batch, self.scaling)[0]
        return self.session.run(None, {self.input_name: batch})[0]

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """Unit-length templates for aligned crops, run in batches of ``batch_size``; the crops may
        be a tensor on a PyTorch session's device (``live.frames_on_device``)."""
        if len(crops) == 0:
            return np.zeros((0, self.dimension), np.float32)
        features = []
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start : start + self.batch_size]
            infer = self.batcher or self.forward
            if self.flip_fusion:
                both = infer(self.network_input(concat([chunk, mirrored(chunk)])))
                features.append(both[: len(chunk)] + both[len(chunk) :])
            else:
                features.append(infer(self.network_input(chunk)))
        return l2_normalize(np.concatenate(features))
