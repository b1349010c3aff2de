"""One thread per camera: decode, hand over the newest frame, reconnect when the stream drops.

Reconnection uses capped exponential backoff (0.5 s, 1 s, 2 s ... up to ``backoff_max``),
reset once frames flow again. PyAV's decode loop simply ends when an RTSP server dies, so
for a live source an ending is treated as a disconnect, not as the end of the work.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from openlfr.video.frames import FrameSlot
from openlfr.video.sources import SourceError, SourceSpec, open_frames, quoted_error

log = logging.getLogger(__name__)


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    ENDED = "ended"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ReaderStatus:
    """A snapshot for status lines and the API."""

    state: CameraState
    last_error: str | None
    connects: int
    decoded: int
    dropped: int
    decode_fps: float


class CameraReader:
    """Reads one source on its own thread into a FrameSlot (``max_lag``: see ``FrameSlot``)."""

    def __init__(
        self,
        name: str,
        spec: SourceSpec,
        slot: FrameSlot | None = None,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_attempts: int | None = None,
        max_lag: float = 0.0,
    ) -> None:
        self.name = name
        self.spec = spec
        self.slot = slot or FrameSlot(lossless=spec.lossless, max_lag=max_lag)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.state = CameraState.CONNECTING
        self.last_error: str | None = None
        self.connects = 0
        self.decoded = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{name}", daemon=True)
        self._rate = _RateMeter()

    def start(self) -> CameraReader:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.slot.close()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> ReaderStatus:
        return ReaderStatus(
            self.state, self.last_error, self.connects, self.decoded, self.slot.dropped, self._rate.rate()
        )

    def _set(self, state: CameraState, error: str | None = None) -> None:
        if state != self.state:
            log.info("camera %s: %s%s", self.name, state.value, f" ({error})" if error else "")
        self.state = state
        if error is not None:
            self.last_error = error

    def _run(self) -> None:
        delay, failures = self.backoff_initial, 0
        try:
            while not self._stop.is_set():
                got_frames = False
                try:
                    for frame in open_frames(self.spec, self._stop):
                        if not got_frames:
                            got_frames = True
                            self.connects += 1
                            self._set(CameraState.LIVE)
                        self.decoded += 1
                        self._rate.tick()
                        self.slot.put(frame, self._stop)
                    if self._stop.is_set():
                        break
                    if not self.spec.is_live:
                        if self.spec.loop and got_frames:
                            continue
                        self._set(CameraState.ENDED)
                        break
                    error = "stream ended"
                except SourceError as exc:
                    if exc.permanent:
                        self._set(CameraState.FAILED, str(exc))
                        break
                    error = str(exc)
                except Exception as exc:  # never let one camera's surprise kill the thread silently
                    error = f"unexpected {type(exc).__name__}: {quoted_error(self.spec, exc)}"
                if got_frames:
                    delay, failures = self.backoff_initial, 0
                failures += 1
                if self.max_attempts is not None and failures >= self.max_attempts:
                    self._set(CameraState.FAILED, f"{error}; gave up after {failures} attempts")
                    break
                self._set(CameraState.RECONNECTING, error)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)
        finally:
            if self._stop.is_set() and self.state not in (CameraState.FAILED, CameraState.ENDED):
                self.state = CameraState.STOPPED
            self.slot.close()


class _RateMeter:
    """Events per second over the last few seconds."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self.times: deque[float] = deque()
        self.lock = threading.Lock()

    def tick(self) -> None:
        now = time.monotonic()
        with self.lock:
            self.times.append(now)
            cutoff = now - self.window
            while self.times and self.times[0] < cutoff:
                self.times.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        with self.lock:
            recent = [t for t in self.times if t >= now - self.window]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)
