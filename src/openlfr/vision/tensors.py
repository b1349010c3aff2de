"""Image batches to network input tensors, on the CPU or on the session's own device.

On the CPU each image's colour planes are split apart and scaled straight into a
preallocated NCHW buffer by OpenCV (``split`` and ``addWeighted``): 0.72× the time of numpy's
strided arithmetic for a 640×384 frame (0.44 ms against 0.62, ``python -m benchmarks vision``),
with the same float32 values to within one rounding (``pixel · 1/std − mean/std`` where numpy
computed ``(pixel − mean) · 1/std``).

A session that offers ``run_images`` (our PyTorch one, and a node's shared inference actor)
takes the uint8 images themselves and scales them where it computes: on a GPU machine the
CPU's float arithmetic is likely much of what held our calls below the bare network
(docs/gpu), and a uint8 batch is a quarter of the bytes to copy or to send to another process.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def to_nchw(images: np.ndarray, mean: float, std: float, bgr_to_rgb: bool = True) -> np.ndarray:
    """(B, H, W, 3) uint8 BGR images to (B, 3, H, W) float32 ``(pixel - mean) / std``."""
    batch, height, width, _ = images.shape
    blob = np.empty((batch, 3, height, width), np.float32)
    scale, shift = 1.0 / std, -mean / std
    order = (2, 1, 0) if bgr_to_rgb else (0, 1, 2)
    for image, planes in zip(images, blob, strict=True):
        for channel, plane in zip(cv2.split(np.ascontiguousarray(image)), order, strict=True):
            cv2.addWeighted(channel, scale, channel, 0.0, shift, dst=planes[plane], dtype=cv2.CV_32F)
    return blob


@dataclass(frozen=True)
class InputScaling:
    """How a network wants its pixels: ``(pixel - mean) / std``, colour planes RGB or BGR."""

    mean: float
    std: float
    bgr_to_rgb: bool = True

    def blob(self, images: np.ndarray) -> np.ndarray:
        """The float32 NCHW blob, computed here on the CPU."""
        return to_nchw(images, self.mean, self.std, self.bgr_to_rgb)


# Batches are numpy arrays, or PyTorch tensors on the inference device where frames stay
# there (``live.frames_on_device``); these few operations take either, so the batching and
# the embedder need not know which.


def concat(parts: list) -> np.ndarray:
    """Rows of several batches as one. Callers sharing a model may mix arrays and tensors (a
    camera's device frames and an API request's photo): then all go where the tensors are."""
    tensors = [part for part in parts if not isinstance(part, np.ndarray)]
    if not tensors:
        return np.concatenate(parts)
    import torch

    device = tensors[0].device
    return torch.cat([torch.as_tensor(part).to(device) for part in parts])  # type: ignore[return-value]


def mirrored(images: np.ndarray) -> np.ndarray:
    """(B, H, W, C) images flipped left to right."""
    return images[:, :, ::-1] if isinstance(images, np.ndarray) else images.flip(2)


def on_host(images: np.ndarray) -> np.ndarray:
    """A batch in system memory (copied there if it is a tensor on a device)."""
    return images if isinstance(images, np.ndarray) else images.cpu().numpy()
