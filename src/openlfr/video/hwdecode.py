"""Where video is decoded: on the CPU, or on an NVIDIA GPU's NVDEC.

PyAV's wheels carry an FFmpeg built with the CUDA hwaccel, so NVDEC needs no extra package,
only an NVIDIA driver. Decoded frames are copied back to system memory and converted to BGR,
so nothing after decoding changes; what NVDEC saves is the decoding itself, the part that
holds one CPU core to about 110 frames/s of 1080p. With ``live.frames_on_device`` they stay
in GPU memory instead, and PyTorch converts them there (``openlfr.vision.device``).

``auto`` decodes on NVDEC when a probe decode succeeds on this machine, ``cuda`` makes NVDEC's
absence an error (never a silent CPU fallback), and ``cpu`` never tries. Each machine probes
for itself, once per process, because in a cluster the cameras decode wherever Ray placed
them. The probe needs the driver's video capability (libnvcuvid), which containers grant
with ``NVIDIA_DRIVER_CAPABILITIES`` including ``video``.
"""

from __future__ import annotations

import errno
import functools
import io
import logging
import threading
from typing import Literal

import av
import numpy as np
from av.codec.hwaccel import HWAccel

from openlfr.errors import ProviderUnavailableError

DecodeChoice = Literal["auto", "cpu", "cuda"]
DecodeDevice = Literal["cpu", "cuda"]
PROBE_SIZE = 128  # above NVDEC's smallest H.264 picture (48×16)
log = logging.getLogger(__name__)


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


SHARED_CONTEXT = {"primary_ctx": "1"}  # every camera on the GPU's primary CUDA context
OWN_CONTEXT: dict[str, str] = {}  # each decoder makes a CUDA context of its own


def nvdec(
    allow_software_fallback: bool = False, keep_on_gpu: bool = False, options: dict[str, str] | None = None
) -> HWAccel:
    """FFmpeg's CUDA hwaccel; frames come back to system memory unless ``keep_on_gpu``.

    By default every camera shares the GPU's primary CUDA context, the one PyTorch and ONNX
    Runtime use too, instead of costing a context (memory and time-slicing) each. FFmpeg can
    share it only with its own flags, so the probe falls back to a context per decoder where
    another library made the primary context first (see ``claim_the_gpu_for_decoding``).
    """
    return HWAccel(
        device_type="cuda",
        allow_software_fallback=allow_software_fallback,
        options=dict(cuda_context_options() if options is None else options),
        is_hw_owned=keep_on_gpu,
    )


_HELD_OPEN: list[av.container.InputContainer] = []  # see claim_the_gpu_for_decoding


def decode_probe(clip: bytes, hwaccel: HWAccel | None, hold: bool = False) -> int:
    """How many frames of ``clip`` decode with ``hwaccel`` (None: on the CPU); ``hold`` keeps the
    decoder, and with it its CUDA context, open for the life of the process."""
    container = av.open(io.BytesIO(clip), format="h264", hwaccel=hwaccel)
    assert isinstance(container, av.container.InputContainer)
    frames = 0
    try:
        for _ in container.decode(video=0):
            frames += 1
    except BaseException:
        container.close()
        raise
    if hold and frames:
        _HELD_OPEN.append(container)
    else:
        container.close()
    return frames


@functools.cache
def _probe() -> tuple[dict[str, str] | None, str | None]:
    """The CUDA context options NVDEC decodes the probe clip with here, or why it cannot."""
    try:
        clip = probe_clip()
    except Exception as exc:  # an FFmpeg built without libx264 (PyAV's wheels have it)
        return None, f"cannot make the probe clip ({type(exc).__name__}: {exc})"
    failures: list[str] = []
    for options in (SHARED_CONTEXT, OWN_CONTEXT):
        try:
            if decode_probe(clip, nvdec(options=options), hold=options is SHARED_CONTEXT):
                if options is OWN_CONTEXT:
                    log.warning(
                        "NVDEC cannot share the GPU's primary CUDA context, which another library "
                        "created first with other flags (%s); each camera's decoder makes its own",
                        failures[0],
                    )
                return options, None
            failures.append("the CUDA decoder returned no frame")
        except Exception as exc:  # FFmpeg reports a missing driver as EPERM, ENOSYS or similar
            failures.append(f"{type(exc).__name__}: {exc}")
    return None, f"FFmpeg could not open a CUDA decoder, no NVIDIA driver or GPU? ({failures[0]})"


_probe_lock = threading.Lock()  # camera threads starting together probe once


def _probed() -> tuple[dict[str, str] | None, str | None]:
    with _probe_lock:
        return _probe()


def nvdec_unavailable() -> str | None:
    """None when NVDEC decodes the probe clip on this machine, else the reason it cannot."""
    return _probed()[1]


_refused: list[str] = []  # why a decoder could not share the context after the probe could


def cuda_context_options() -> dict[str, str]:
    """How decoders get their CUDA context here: shared when the probe could share it and no
    decoder has been refused it since."""
    options = _probed()[0]
    return OWN_CONTEXT if _refused else (SHARED_CONTEXT if options is None else options)


def context_sharing() -> str:
    """How the decoders get their CUDA context, in words for start lines and results."""
    return "shared" if cuda_context_options() is SHARED_CONTEXT else "one per camera"


def stop_sharing_the_context(exc: BaseException, hwaccel: HWAccel | None) -> bool:
    """After FFmpeg refused a decoder the shared context (ENOTSUP: another library created it
    with other flags), give this and every later decoder a context of its own; True when
    that was the failure, so the caller opens the stream again. Decided by the hwaccel that
    failed, so that cameras refused at the same moment all retry."""
    shared = hwaccel is not None and hwaccel.options.get("primary_ctx") == "1"
    if not shared or getattr(exc, "errno", None) != errno.ENOTSUP:
        return False
    if not _refused:
        log.warning("NVDEC cannot share the GPU's primary CUDA context (%s); each decoder makes its own", exc)
    _refused.append(str(exc))
    return True


def claim_the_gpu_for_decoding() -> None:
    """Probe NVDEC before an inference library first touches the GPU.

    FFmpeg shares the primary CUDA context only when it has FFmpeg's flags (blocking sync),
    and PyTorch or ONNX Runtime would create it with their own. So the probe creates it, and
    its decoder stays open to keep it alive: the inference library then uses that context as
    it is, and the cameras and the models of one process share it (seen on an H200: released
    after the probe, the context came back with PyTorch's flags and the cameras' decoders
    failed). On a machine without NVDEC this costs one failed probe, which ``auto`` makes anyway.
    """
    nvdec_unavailable()


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


def hwaccel_for(device: DecodeDevice, choice: str, keep_on_gpu: bool = False) -> HWAccel | None:
    """The hwaccel for one source. Under 'auto' a stream NVDEC cannot take (some MJPEG, 4:2:2,
    oversized pictures) decodes on the CPU, and the source logs it; under 'cuda' it fails.

    ``keep_on_gpu`` leaves NVDEC's frames in GPU memory (``live.frames_on_device``), but only
    on the shared context: there FFmpeg's copy out of the decoder and PyTorch's kernels run in
    order on the context's default stream. A decoder with a context of its own would hand
    PyTorch memory of another context with no ordering, so its frames are copied back."""
    if device != "cuda":
        return None
    kept = keep_on_gpu and frames_can_stay_on_the_gpu()
    return nvdec(allow_software_fallback=choice == "auto", keep_on_gpu=kept)


def frames_can_stay_on_the_gpu() -> bool:
    """Whether NVDEC's frames may stay in GPU memory: only while decoders share the context."""
    return cuda_context_options() is SHARED_CONTEXT


def decoder_name(choice: str) -> str:
    """One word for a status table: NVDEC, CPU, or why the source will be refused."""
    try:
        return "NVDEC" if resolve_decode_device(choice) == "cuda" else "CPU"
    except ProviderUnavailableError:
        return "refused: no NVDEC"


def decoding_summary(choice: str, frames_on_device: bool = False) -> str:
    """The start line's account of where video is decoded, and why not on the GPU when it is not."""
    device = resolve_decode_device(choice)
    if device == "cuda":
        if not frames_on_device:
            frames = "frames copied to system memory as BGR"
        elif frames_can_stay_on_the_gpu():
            frames = "frames kept in GPU memory, converted to BGR there"
        else:
            frames = "frames copied to system memory as BGR: they stay on the GPU only on a shared context"
        return f"decoding on NVDEC (CUDA hwaccel, {context_sharing()} CUDA context, {frames})"
    if choice == "cpu":
        return "decoding on the CPU (live.decode_device = 'cpu')"
    return f"decoding on the CPU (auto: {nvdec_unavailable()})"
