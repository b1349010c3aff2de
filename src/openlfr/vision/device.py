"""The image work around the models, in PyTorch on the inference device (``live.frames_on_device``).

On a GPU node the CPU, not the GPU, limited our calls (docs/gpu): NVDEC's frames were copied
back to system memory, converted to BGR, letterboxed and cut into face crops there, and sent
back to the GPU. With frames on the device, NVDEC's frames are taken into PyTorch through
DLPack and converted there (``video.device_pixels``); the detector's letterbox and the face
alignment run where the networks do. Only small things cross back: the detector's outputs, the
112×112 crops the quality measures read, and the operator's crop of a face being kept.

Every function here takes the same inputs as its OpenCV counterpart and gives the same pixels
to within a grey level or two (``tests/test_device_frames.py`` checks each on the CPU, where
PyTorch runs the same code): ``resized`` matches the detector's ``cv2.resize``, ``warp``
matches ``cv2.warpAffine``.

This module is imported only when frames go to a device, so the CPU path and the
``make demo`` install never need PyTorch.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def canvas(batch: int, height: int, width: int, device: torch.device) -> Tensor:
    """A zero (B, height, width, 3) uint8 network canvas on ``device``."""
    return torch.zeros((batch, height, width, 3), dtype=torch.uint8, device=device)


def resized(image: Tensor, width: int, height: int) -> Tensor:
    """An (H, W, 3) uint8 image resized as ``cv2.resize`` does for the detector's letterbox:
    shrinking averages each output pixel's area of the input (``INTER_AREA``), enlarging is
    bilinear."""
    h, w = image.shape[:2]
    planes = image.permute(2, 0, 1)[None].float()
    if width >= w and height >= h:
        out = F.interpolate(planes, size=(height, width), mode="bilinear", align_corners=False)
    elif h % height == 0 and w % width == 0:  # whole factors (1080p to 640×360): plain averages
        out = F.interpolate(planes, size=(height, width), mode="area")
    else:  # PyTorch's "area" would average whole pixels; OpenCV weighs the fractions
        rows, columns = area_weights(h, height, image.device), area_weights(w, width, image.device)
        out = torch.einsum("yh,bchw,xw->bcyx", rows, planes, columns)
    return out[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8)


@functools.cache
def area_weights(source: int, target: int, device: torch.device) -> Tensor:
    """The (target, source) matrix that shrinks a line of ``source`` pixels to ``target``: each
    output pixel is the mean of the stretch of input it covers, partial pixels in proportion.
    A camera's frames all have one size, so each is made once."""
    scale = source / target
    edges = torch.arange(target + 1, dtype=torch.float64, device=device) * scale
    starts = torch.arange(source, dtype=torch.float64, device=device)
    overlap = torch.minimum(edges[1:, None], starts + 1) - torch.maximum(edges[:-1, None], starts)
    return (overlap.clamp_(min=0) / scale).float()


def inverse_affine(matrices: np.ndarray) -> np.ndarray:
    """(N, 2, 3) inverses of (N, 2, 3) affine matrices, zeros for a singular one (a face whose
    landmarks collapsed to a point), as ``cv2.invertAffineTransform`` gives."""
    linear, shift = np.asarray(matrices, np.float64)[:, :, :2], np.asarray(matrices, np.float64)[:, :, 2]
    det = np.linalg.det(linear)
    safe = np.where(det == 0, 1.0, det)
    inverse = (
        np.stack(
            [
                np.stack([linear[:, 1, 1], -linear[:, 0, 1]], -1),
                np.stack([-linear[:, 1, 0], linear[:, 0, 0]], -1),
            ],
            axis=1,
        )
        / safe[:, None, None]
    )
    inverse[det == 0] = 0.0
    return np.concatenate([inverse, -np.einsum("nij,nj->ni", inverse, shift)[:, :, None]], axis=2)


def warp(image: Tensor, matrices: np.ndarray, size: int, replicate_border: bool = False) -> Tensor:
    """(N, size, size, 3) uint8 crops of one (H, W, 3) uint8 image, each pixel taken through
    the inverse of its (2, 3) affine ``matrices`` row, bilinear, as ``cv2.warpAffine`` does:
    zeros outside the image, or its edge pixels repeated with ``replicate_border``."""
    if len(matrices) == 0:
        return torch.zeros((0, size, size, 3), dtype=torch.uint8, device=image.device)
    h, w = image.shape[:2]
    inverse = torch.as_tensor(inverse_affine(matrices), dtype=torch.float32, device=image.device)
    ys, xs = torch.meshgrid(
        torch.arange(size, device=image.device, dtype=torch.float32),
        torch.arange(size, device=image.device, dtype=torch.float32),
        indexing="ij",
    )
    points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # (size, size, 3) crop pixels
    source = torch.einsum("nij,yxj->nyxi", inverse, points)  # (N, size, size, 2) image pixels
    # pixel centres at whole numbers: -1 and 1 are the first and last pixel's centres
    grid = torch.stack([source[..., 0] * (2 / max(w - 1, 1)), source[..., 1] * (2 / max(h - 1, 1))], -1) - 1
    planes = image.permute(2, 0, 1)[None].float()
    crops = F.grid_sample(
        planes,
        grid.reshape(1, -1, size, 2),
        mode="bilinear",
        padding_mode="border" if replicate_border else "zeros",
        align_corners=True,
    )
    crops = crops[0].reshape(3, len(matrices), size, size).permute(1, 2, 3, 0)
    return crops.round_().clamp_(0, 255).to(torch.uint8)
