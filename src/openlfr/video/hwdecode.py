"""Where video is decoded: on the CPU, or on an NVIDIA GPU's NVDEC.

PyAV's wheels carry an FFmpeg built with the CUDA hwaccel, so NVDEC needs no extra package,
only an NVIDIA driver. Decoded frames are copied back to system memory and converted to BGR,
so nothing after decoding changes; what NVDEC saves is the decoding itself, the part that
holds one CPU core to about 110 frames/s of 1080p.

``auto`` decodes on NVDEC when a probe decode succeeds on this machine, ``cuda`` makes NVDEC's
absence an error (never a silent CPU fallback), and ``cpu`` never tries. Each machine probes
for itself, once per process, because in a cluster the cameras decode wherever Ray placed
them. The probe needs the driver's video capability (libnvcuvid), which containers grant
with ``NVIDIA_DRIVER_CAPABILITIES`` including ``video``.
"""

from __future__ import annotations

import functools
import io
from typing import Literal

import av
import numpy as np
from av.codec.hwaccel import HWAccel

from openlfr.errors import ProviderUnavailableError

DecodeChoice = Literal["auto", "cpu", "cuda"]
DecodeDevice = Literal["cpu", "cuda"]
PROBE_SIZE = 128  # above NVDEC's smallest H.264 picture (48×16)


def probe_clip() -> bytes:
    """Two frames of raw H.264, made here, so the probe needs no file."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = PROBE_SIZE
        stream.pix_fmt = "yuv420p"
        for shade in (64, 192):
            image = np.full((PROBE_SIZE, PROBE_SIZE, 3), shade, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def nvdec(allow_software_fallback: bool = False, keep_on_gpu: bool = False) -> HWAccel:
    """FFmpeg's CUDA hwaccel; frames come back to system memory unless ``keep_on_gpu``.

    ``primary_ctx`` makes every camera share the GPU's primary CUDA context (the one PyTorch
    uses) instead of creating one of its own, which would cost memory and time-slicing per
    camera; PyAV sets it only for frames kept on the GPU.
    """
    return HWAccel(
        device_type="cuda",
        allow_software_fallback=allow_software_fallback,
        options={"primary_ctx": "1"},
        is_hw_owned=keep_on_gpu,
    )


def decode_probe(clip: bytes, hwaccel: HWAccel | None) -> int:
    """How many frames of ``clip`` decode with ``hwaccel`` (None: on the CPU)."""
    with av.open(io.BytesIO(clip), format="h264", hwaccel=hwaccel) as container:
        return sum(1 for _ in container.decode(video=0))


@functools.cache
def nvdec_unavailable() -> str | None:
    """None when NVDEC decodes the probe clip on this machine, else the reason it cannot."""
    try:
        clip = probe_clip()
    except Exception as exc:  # an FFmpeg built without libx264 (PyAV's wheels have it)
        return f"cannot make the probe clip ({type(exc).__name__}: {exc})"
    try:
        frames = decode_probe(clip, nvdec())
    except Exception as exc:  # FFmpeg reports a missing driver as EPERM, ENOSYS or similar
        return f"FFmpeg could not open a CUDA decoder, no NVIDIA driver or GPU? ({type(exc).__name__}: {exc})"
    return None if frames else "the CUDA decoder returned no frame"


def resolve_decode_device(choice: str) -> DecodeDevice:
    """The device a source decodes on, for the setting ``live.decode_device``."""
    if choice == "cpu":
        return "cpu"
    if choice not in ("auto", "cuda"):
        raise ProviderUnavailableError(f"unknown decode device {choice!r}; choose auto, cpu or cuda")
    reason = nvdec_unavailable()
    if reason is None:
        return "cuda"
    if choice == "cuda":
        raise ProviderUnavailableError(
            f"live.decode_device 'cuda' requested but NVDEC is not usable here: {reason}; "
            "openlfr does not fall back to CPU decoding silently (set it to 'auto' or 'cpu')"
        )
    return "cpu"


def hwaccel_for(device: DecodeDevice, choice: str) -> HWAccel | None:
    """The hwaccel for one source. Under 'auto' a stream NVDEC cannot take (some MJPEG, 4:2:2,
    oversized pictures) decodes on the CPU, and the source logs it; under 'cuda' it fails."""
    return nvdec(allow_software_fallback=choice == "auto") if device == "cuda" else None


def decoder_name(choice: str) -> str:
    """One word for a status table: NVDEC, CPU, or why the source will be refused."""
    try:
        return "NVDEC" if resolve_decode_device(choice) == "cuda" else "CPU"
    except ProviderUnavailableError:
        return "refused: no NVDEC"


def decoding_summary(choice: str) -> str:
    """The start line's account of where video is decoded, and why not on the GPU when it is not."""
    device = resolve_decode_device(choice)
    if device == "cuda":
        return "decoding on NVDEC (CUDA hwaccel, frames copied to system memory as BGR)"
    if choice == "cpu":
        return "decoding on the CPU (live.decode_device = 'cpu')"
    return f"decoding on the CPU (auto: {nvdec_unavailable()})"
