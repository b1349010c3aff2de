"""NVDEC's NV12 frames to BGR where they are, in PyTorch (``live.frames_on_device``).

``nv12_to_bgr`` gives the pixels ``cv2.COLOR_YUV2BGR_NV12`` and swscale give, to within a grey
level, following the frame's colour tags (``tests/test_device_frames.py`` checks it on the CPU,
where PyTorch runs the same code). Imported only when frames stay on a device, so the CPU path
never needs PyTorch.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from openlfr.video.frames import FULL_RANGE

Tensor = torch.Tensor

# (Kr, Kb) of the colour matrices FFmpeg tags frames with (AVColorSpace): BT.709, FCC,
# SMPTE 240M and BT.2020; anything else (BT.601 as 5 or 6, untagged 2) is BT.601, as swscale
# also reads it
LUMA_WEIGHTS = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 7: (0.212, 0.087), 9: (0.2627, 0.0593)}
BT601 = (0.299, 0.114)


@functools.cache
def yuv_to_bgr_matrix(
    colorspace: int = 2, full_range: bool = False, device: torch.device | None = None
) -> tuple[Tensor, Tensor]:
    """The 3×3 matrix taking (Y, U, V) less the returned offsets to (B, G, R), from the
    colour matrix's luma weights: limited range stretches Y from 16–235 and chroma from
    16–240 to the full 0–255. Kept per device, so no frame waits for a copy of it."""
    kr, kb = LUMA_WEIGHTS.get(colorspace, BT601)
    kg = 1.0 - kr - kb
    y_gain, c_gain = (1.0, 1.0) if full_range else (255 / 219, 255 / 224)
    matrix = torch.tensor(
        [
            [y_gain, c_gain * 2 * (1 - kb), 0.0],
            [y_gain, -c_gain * 2 * (1 - kb) * kb / kg, -c_gain * 2 * (1 - kr) * kr / kg],
            [y_gain, 0.0, c_gain * 2 * (1 - kr)],
        ]
    )
    offsets = torch.tensor([0.0 if full_range else 16.0, 128.0, 128.0])
    return matrix.to(device), offsets.to(device)


def nv12_to_bgr(luma: Tensor, chroma: Tensor, colorspace: int = 2, full_range: bool = False) -> Tensor:
    """(H, W) luma and (H/2, W/2, 2) interleaved chroma, uint8 on one device, to an (H, W, 3)
    uint8 BGR frame there. Chroma is repeated over each 2×2 block, as OpenCV does; an odd
    last row or column, which PyAV's export leaves out, repeats the one before it."""
    matrix, offsets = yuv_to_bgr_matrix(colorspace, full_range, luma.device)
    height, width = luma.shape
    planes = chroma.permute(2, 0, 1).repeat_interleave(2, dim=1).repeat_interleave(2, dim=2).float()
    if planes.shape[1:] != luma.shape:
        short = (0, width - planes.shape[2], 0, height - planes.shape[1])
        planes = F.pad(planes[None], short, mode="replicate")[0]
    yuv = torch.cat([luma[None].float(), planes])
    bgr = torch.einsum("cy,yhw->hwc", matrix, yuv - offsets[:, None, None])
    return bgr.round_().clamp_(0, 255).to(torch.uint8)


def frame_planes(frame: Any) -> tuple[Tensor, Tensor]:
    """An NV12 ``av.VideoFrame``'s planes as (H, W) and (H/2, W/2, 2) tensors through DLPack,
    without a copy: in GPU memory for NVDEC's frames kept there, in system memory otherwise.

    PyAV exports a CUDA frame only without a stream to synchronise with, and ``torch.from_dlpack``
    passes its current one, so the capsule is asked for here. FFmpeg's copy out of the decoder
    and PyTorch's kernels both run on the device's default stream, so they stay in order.
    """
    luma, chroma = (torch.from_dlpack(plane.__dlpack__()) for plane in frame.planes[:2])
    return luma, chroma


def decoded_to_bgr(frame: Any) -> Tensor:
    """A decoded NV12 frame as an (H, W, 3) uint8 BGR tensor where its planes are, following
    the frame's colour tags as ``video.sources.bgr_pixels`` does on the CPU.

    The planes borrow the decoder's buffer, which FFmpeg reuses once the frame is freed, so
    the conversion (which reads them) is finished before this returns.
    """
    luma, chroma = frame_planes(frame)
    bgr = nv12_to_bgr(luma, chroma, frame.colorspace, frame.color_range == FULL_RANGE)
    if bgr.is_cuda:  # waits for the work queued before it too: about one forward pass (docs/gpu)
        torch.cuda.current_stream(bgr.device).synchronize()
    return bgr
