"""Video sources: what a URI means, and one connection's worth of decoded frames.

Files, RTSP, HTTP(S) streams (MJPEG, HLS, MPEG-TS) go through PyAV. V4L2 webcams go through
OpenCV, because PyAV's wheels carry no V4L2 demuxer. Image folders are read in name order.

``open_frames`` yields frames until the source ends or drops; it raises ``SourceError``
with ``permanent=True`` for problems retrying cannot fix (no such file, not a video, no
decoder) and ``permanent=False`` for those worth retrying (refused, timed out, 401 while a
password is being fixed).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import av.error
import cv2
import numpy as np

from openlfr.errors import ProviderUnavailableError
from openlfr.redaction import redact_text, redact_url
from openlfr.video.frames import BT601_TAGS, FULL_RANGE, DecodedPixels, DevicePixels, Frame
from openlfr.video.hwdecode import (
    DecodeChoice,
    DecodeDevice,
    hwaccel_for,
    resolve_decode_device,
    stop_sharing_the_context,
)

SourceKind = Literal["file", "rtsp", "http", "webcam", "folder"]
log = logging.getLogger(__name__)
NOT_THE_DECODER = (
    TimeoutError,
    ConnectionError,
    av.error.ExitError,
    av.error.ConnectionRefusedError,
    av.error.HTTPUnauthorizedError,
    av.error.FileNotFoundError,
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class SourceError(Exception):
    """A source could not be opened or read; ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SourceSpec:
    """A camera or recording and how to read it."""

    uri: str
    kind: SourceKind
    loop: bool = False
    realtime: bool = False
    lossless: bool = False
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    open_timeout: float = 10.0
    read_timeout: float = 5.0
    folder_fps: float = 10.0
    decode_device: DecodeChoice = "cpu"  # NVDEC under auto or cuda: see openlfr.video.hwdecode
    keep_on_device: bool = False  # NVDEC's frames stay in GPU memory (live.frames_on_device)

    @property
    def is_live(self) -> bool:
        """Network streams and webcams end only when something breaks."""
        return self.kind in ("rtsp", "http", "webcam")

    @property
    def display_uri(self) -> str:
        """The URI with any password replaced, safe for logs and status lines."""
        return redact_url(self.uri)


def parse_source(uri: str, **options: object) -> SourceSpec:
    """Work out the kind of source from its URI; options are SourceSpec fields."""
    lowered = uri.lower()
    kind: SourceKind
    if lowered.startswith(("rtsp://", "rtsps://")):
        kind = "rtsp"
    elif lowered.startswith(("http://", "https://")):
        kind = "http"
    elif re.fullmatch(r"/dev/video\d+|webcam:\d+", lowered):
        kind = "webcam"
    else:
        if lowered.startswith("file://"):
            uri = uri[len("file://") :]
        kind = "folder" if Path(uri).is_dir() else "file"
    return SourceSpec(uri=uri, kind=kind, **options)  # type: ignore[arg-type]


def open_frames(spec: SourceSpec, stop: threading.Event) -> Iterator[Frame]:
    """Frames from one connection to the source, until it ends, fails or ``stop`` is set."""
    if spec.kind == "folder":
        yield from _folder_frames(spec, stop)
    elif spec.kind == "webcam":
        yield from _webcam_frames(spec, stop)
    else:
        yield from _pyav_frames(spec, stop)


def _pyav_frames(spec: SourceSpec, stop: threading.Event) -> Iterator[Frame]:
    options = {}
    if spec.kind == "rtsp":
        options["rtsp_transport"] = spec.rtsp_transport
    if spec.kind == "file" and not Path(spec.uri).is_file():
        raise SourceError(f"{spec.uri}: no such file", permanent=True)
    device = _decode_device(spec)
    started = time.monotonic()
    opener = functools.partial(
        av.open, spec.uri, options=options, timeout=(spec.open_timeout, spec.read_timeout)
    )
    try:
        hwaccel = hwaccel_for(device, spec.decode_device, spec.keep_on_device)
        try:
            container = opener(hwaccel=hwaccel)
        except OSError as exc:
            if not stop_sharing_the_context(exc, hwaccel):
                raise
            container = opener(hwaccel=hwaccel_for(device, spec.decode_device, spec.keep_on_device))
    except Exception as exc:
        stalled = time.monotonic() - started >= 0.9 * spec.open_timeout
        raise _on_device(device, exc, _classify(spec, exc, stalled), stalled) from None
    try:
        if not container.streams.video:
            raise SourceError(f"{spec.display_uri}: has no video stream", permanent=True)
        stream = container.streams.video[0]
        if device == "cpu":  # NVDEC does the work on the GPU: no threads of ours
            context = stream.codec_context
            stream.thread_type = decoder_threads(spec, (context.width or 0) * (context.height or 0))
        pacer = _Pacer(spec.realtime)
        index, last = 0, time.monotonic()
        try:
            for decoded in container.decode(stream):
                last = time.monotonic()
                if stop.is_set():
                    return
                if index == 0 and device == "cuda" and not stream.codec_context.is_hwaccel:
                    log.warning(
                        "%s: NVDEC cannot decode this stream; it decodes on the CPU", spec.display_uri
                    )
                position = float(decoded.time) if decoded.time is not None else index / 25.0
                pacer.wait(position, stop)
                yield Frame(decoded_pixels(decoded), index, position, time.time())
                index += 1
        except Exception as exc:
            stalled = time.monotonic() - last >= 0.9 * spec.read_timeout
            raise _on_device(device, exc, _classify(spec, exc, stalled), stalled) from None
        if index == 0 and not spec.is_live:
            raise SourceError(f"{spec.display_uri}: no frame could be decoded", permanent=True)
    finally:
        container.close()


ONE_CORE_DECODES = 1920 * 1088  # pixels a frame of which one core decodes several times in real time


def decoder_threads(spec: SourceSpec, pixels: int) -> str:
    """FFmpeg's threading on the CPU. Frame threads decode several frames at once and hand each
    one out a frame per thread late: throughput for a file read as fast as it goes, only latency
    (and jitter for the engines beside it) for a camera up to 1080p, which one core decodes 7×
    faster than it films. A bigger picture (4K takes a 2-vCPU core's whole time) keeps them."""
    camera = spec.is_live or spec.realtime
    return "SLICE" if camera and 0 < pixels <= ONE_CORE_DECODES else "AUTO"


def decoded_pixels(frame: av.VideoFrame) -> DecodedPixels | DevicePixels:
    """A decoded frame's pixels: converted to BGR on the GPU and kept there for a frame NVDEC left
    in GPU memory (``keep_on_device``), else kept as decoded and converted when looked at."""
    if frame.format.name == "cuda" and frame.sw_format is not None and frame.sw_format.name == "nv12":
        from openlfr.video.device_pixels import decoded_to_bgr

        return DevicePixels(decoded_to_bgr(frame))
    return DecodedPixels(frame, bgr_pixels)


def bgr_pixels(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as a BGR array.

    NVDEC hands frames back as NV12, which OpenCV converts at about twice swscale's speed on
    one core (``python -m benchmarks live``). OpenCV knows only BT.601 in limited range, so
    it takes just the frames tagged so or untagged, where it differs from swscale by one or
    two grey levels; BT.709 and full-range frames, and every other format, go through
    swscale, which follows the tags, so a camera's colours do not depend on the decoder.
    """
    bt601 = frame.colorspace in BT601_TAGS and frame.color_range != FULL_RANGE
    if frame.format.name == "nv12" and bt601 and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_NV12)
    return frame.to_ndarray(format="bgr24")


def _on_device(device: DecodeDevice, exc: Exception, error: SourceError, stalled: bool) -> SourceError:
    """Name NVDEC in a failure it may have caused, with the setting that avoids it (not in
    time-outs, refusals and missing files, which no decoder causes)."""
    if device == "cpu" or stalled or isinstance(exc, NOT_THE_DECODER):
        return error
    return SourceError(f"{error} [decoding on NVDEC; live.decode_device 'cpu' avoids it]", error.permanent)


def _decode_device(spec: SourceSpec) -> DecodeDevice:
    try:
        return resolve_decode_device(spec.decode_device)
    except ProviderUnavailableError as exc:
        raise SourceError(f"{spec.display_uri}: {quoted_error(spec, exc)}", permanent=True) from None


def _classify(spec: SourceSpec, exc: Exception, stalled: bool = False) -> SourceError:
    """Map PyAV's errors to a readable reason and whether to retry.

    FFmpeg reports an interrupted read as whatever the half-read data looked like (often
    'invalid data'), so a failure after waiting the whole timeout is called a time-out.
    """
    name = spec.display_uri
    if isinstance(exc, SourceError):
        return exc
    if stalled and spec.is_live:
        return SourceError(f"{name}: timed out (no data within the time limit)", permanent=False)
    if isinstance(exc, av.error.HTTPUnauthorizedError) or "401" in str(exc):
        return SourceError(f"{name}: wrong or missing credentials (401 Unauthorized)", permanent=False)
    if isinstance(exc, av.error.FileNotFoundError) and not spec.is_live:
        return SourceError(f"{name}: no such file", permanent=True)
    if isinstance(
        exc, av.error.InvalidDataError | av.error.DecoderNotFoundError | av.error.PatchWelcomeError
    ):
        return SourceError(
            f"{name}: not a video, or a codec openlfr cannot decode ({quoted_error(spec, exc)})",
            permanent=not spec.is_live,
        )
    if isinstance(exc, av.error.ExitError | TimeoutError):
        return SourceError(f"{name}: timed out (no data for {spec.read_timeout:g} s)", permanent=False)
    if isinstance(exc, ConnectionRefusedError | av.error.ConnectionRefusedError):
        return SourceError(f"{name}: connection refused", permanent=False)
    reason = getattr(exc, "strerror", None) or quoted_error(spec, exc) or type(exc).__name__
    return SourceError(f"{name}: {redact_text(reason)}", permanent=not spec.is_live)


def quoted_error(spec: SourceSpec, exc: BaseException) -> str:
    """An error's text as it may be shown: FFmpeg quotes the whole URI, password and all, so the
    URI is replaced by its redacted form (whatever its password holds), then any other URL."""
    return redact_text(str(exc).replace(spec.uri, spec.display_uri))


class _Pacer:
    """Sleeps so that frames come out at the media's own pace (a file playing as a camera)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.origin: tuple[float, float] | None = None

    def wait(self, position: float, stop: threading.Event) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.origin is None or position < self.origin[1]:
            self.origin = (now, position)
            return
        delay = (self.origin[0] + position - self.origin[1]) - now
        if delay > 0:
            stop.wait(delay)


def _folder_frames(spec: SourceSpec, stop: threading.Event) -> Iterator[Frame]:
    folder = Path(spec.uri)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"{folder}: no images in this folder", permanent=True)
    pacer = _Pacer(spec.realtime)
    yielded = 0
    for index, path in enumerate(files):
        if stop.is_set():
            return
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue  # unreadable files are skipped; the count of frames shows it
        position = index / spec.folder_fps
        pacer.wait(position, stop)
        yield Frame(image, index, position, time.time())
        yielded += 1
    if yielded == 0:
        raise SourceError(f"{folder}: none of its images could be read", permanent=True)


def _webcam_frames(spec: SourceSpec, stop: threading.Event) -> Iterator[Frame]:
    device = int(spec.uri.split(":")[1]) if spec.uri.startswith("webcam:") else spec.uri
    if isinstance(device, str) and not Path(device).exists():
        raise SourceError(f"{device}: no such camera device", permanent=False)
    capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
    try:
        if not capture.isOpened():
            raise SourceError(f"{spec.uri}: the camera could not be opened", permanent=False)
        index, start = 0, time.monotonic()
        while not stop.is_set():
            ok, image = capture.read()
            if not ok:
                return
            yield Frame(image, index, time.monotonic() - start, time.time())
            index += 1
    finally:
        capture.release()
