"""A decoded frame, and the one-slot mailbox that keeps only the newest frame."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

BT601_TAGS = {2, 5, 6}  # AVColorSpace: unspecified, BT470BG, SMPTE170M
FULL_RANGE = 2  # AVColorRange JPEG
# 8-bit pixel formats whose first plane is the picture's brightness, one byte a pixel
LUMA_FIRST = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "nv12",
        "nv21",
        "nv16",
        "nv24",
        "gray",
    }
)


class DevicePixels:
    """A BGR frame kept where it was decoded, as an (H, W, 3) uint8 PyTorch tensor in GPU
    memory (``live.frames_on_device``). It is copied to system memory only when something
    asks for ``host()``: the console's preview, say, never the models' path."""

    def __init__(self, tensor: Any) -> None:
        self.tensor = tensor
        self._host: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def nbytes(self) -> int:
        return int(self.tensor.numel() * self.tensor.element_size())

    def host(self) -> np.ndarray:
        with self._lock:
            if self._host is None:
                self._host = self.tensor.cpu().numpy()
            return self._host


class DecodedPixels:
    """A frame still in the decoder's own picture format (YUV, in system memory), converted only
    when something looks at it: to full-resolution BGR once (``host``), and to a smaller size by
    the decoder's scaler in one step (``scaled``), which costs less than converting the whole
    picture and shrinking it. A frame nobody looks at (dropped, or between detections) is never
    converted at all."""

    def __init__(self, frame: Any, convert: Callable[[Any], np.ndarray]) -> None:
        self.frame = frame
        self._convert = convert
        self._host: np.ndarray | None = None
        self._small: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.frame.height, self.frame.width, 3)

    @property
    def nbytes(self) -> int:
        """Memory the frame holds as decoded."""
        return sum(plane.buffer_size for plane in self.frame.planes)

    def host(self) -> np.ndarray:
        """The whole frame as a BGR array, converted the first time it is asked for."""
        with self._lock:
            if self._host is None:
                self._host = self._convert(self.frame)
            return self._host

    def scaled(self, width: int, height: int) -> np.ndarray:
        """The frame as a BGR array of ``width`` × ``height`` (area-averaged when shrinking)."""
        with self._lock:
            if self._host is not None:
                shrinking = width < self._host.shape[1] or height < self._host.shape[0]
                method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
                small = cv2.resize(self._host, (width, height), interpolation=method)
            else:
                small = self.frame.reformat(width, height, "bgr24", interpolation="AREA").to_ndarray()
            self._small = small
            return small

    def luma(self) -> np.ndarray | None:
        """The frame's brightness plane as it was decoded, without a copy, for 8-bit YUV and grey
        pictures (None for others): what a cheap look at every frame needs (``live.scene``)."""
        if self.frame.format.name not in LUMA_FIRST:
            return None
        plane = self.frame.planes[0]
        rows = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
        return rows.reshape(plane.height, plane.line_size)[:, : plane.width]

    def small(self) -> np.ndarray:
        """The last ``scaled`` picture (the detector's), else a 256-pixel-wide one: enough for
        what looks at the scene as a whole (``live.scene``)."""
        if self._small is not None:
            return self._small
        width = min(256, self.frame.width)
        return self.scaled(width, max(1, round(self.frame.height * width / self.frame.width)))


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded picture. Biometric: it may show faces, so it lives in memory only.

    ``pixels`` is a BGR array, or ``DevicePixels`` where NVDEC's frame stayed on the GPU.
    ``captured_at`` is the wall-clock time (time.time()) when the frame left the decoder;
    latency to an alert is measured from it. ``position`` is the media time in seconds.
    """

    pixels: np.ndarray | DevicePixels | DecodedPixels
    index: int
    position: float
    captured_at: float

    @property
    def nbytes(self) -> int:
        return self.pixels.nbytes

    @property
    def image(self) -> np.ndarray:
        """The frame as a BGR array in system memory (copied there once if it is on the GPU)."""
        return self.pixels if isinstance(self.pixels, np.ndarray) else self.pixels.host()


class FrameSlot:
    """The frames waiting for a camera's engine, oldest first: none that arrived more than
    ``max_lag`` seconds before the newest, and at most ``MOST_BYTES`` of them. A live producer
    pushes out the oldest waiting frame past that and counts it as dropped, so a slow consumer
    never builds up latency or memory; ``max_lag`` 0 keeps only the newest frame. A ``lossless``
    slot makes the producer wait for an empty slot instead (for files processed frame by frame).

    Why frames may wait at all: most frames cost the engine a glance (``live.detect_interval``),
    a detected one with new faces several frame times. Without a little room the frames that
    arrive meanwhile are lost although the engine keeps up on average. Arrival is timed on the
    monotonic clock, so a wall clock set back or forward neither keeps nor drops frames."""

    MOST_BYTES = 64 * 2**20  # twenty 1080p frames as decoded, five 4K ones

    def __init__(self, lossless: bool = False, max_lag: float = 0.0) -> None:
        self.lossless = lossless
        self.max_lag = max_lag
        self._frames: deque[tuple[float, int, Frame]] = deque()  # (arrival, bytes, frame)
        self._bytes = 0
        self._closed = False
        self._condition = threading.Condition()
        self.dropped = 0

    def put(self, frame: Frame, stop: threading.Event | None = None) -> None:
        with self._condition:
            if self.lossless:
                while self._frames and not self._closed and not (stop and stop.is_set()):
                    self._condition.wait(0.1)
            now, size = time.monotonic(), frame.nbytes
            self._frames.append((now, size, frame))
            self._bytes += size
            while len(self._frames) > 1 and (
                self.max_lag <= 0 or now - self._frames[0][0] > self.max_lag or self._bytes > self.MOST_BYTES
            ):
                self._bytes -= self._frames.popleft()[1]
                self.dropped += 1
            self._condition.notify_all()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The oldest waiting frame, or None after ``timeout`` seconds or once closed and empty."""
        with self._condition:
            if not self._frames and not self._closed:
                self._condition.wait(timeout)
            if not self._frames:
                return None
            _, size, frame = self._frames.popleft()
            self._bytes -= size
            self._condition.notify_all()
            return frame

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
