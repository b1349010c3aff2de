"""Runs several cameras at once: a reader thread and an engine thread per camera.

One camera failing, stalling or flapping never stops the others, and ``stop()`` returns
promptly: every blocking call here has a timeout.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from openlfr.live.alerts import AlertSink
from openlfr.live.engine import CameraEngine
from openlfr.live.thresholds import AlertThresholds
from openlfr.settings import LiveSettings
from openlfr.video import CameraReader, SourceSpec
from openlfr.vision import FaceAnalyzer
from openlfr.watchlist import Gallery

log = logging.getLogger(__name__)


class GalleryFeed(Protocol):
    """Keeps a running gallery current (a deployment's watchlist): ``check()`` says it changed."""

    gallery: Gallery

    def check(self) -> bool: ...


@dataclass(frozen=True)
class CameraStatus:
    """Everything a status line or the API shows for one camera."""

    name: str
    source: str
    state: str
    last_error: str | None
    connects: int
    decode_fps: float
    decoded: int
    dropped: int
    metrics: dict[str, Any]


class CameraWorker:
    """Pulls the newest frame from its reader and runs it through its engine."""

    def __init__(self, name: str, spec: SourceSpec, engine: CameraEngine, settings: LiveSettings) -> None:
        self.name = name
        self.spec = spec
        self.engine = engine
        self.reader = CameraReader(
            name,
            spec,
            backoff_initial=settings.backoff_initial,
            backoff_max=settings.backoff_max,
            max_lag=settings.max_frame_lag,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"engine-{name}", daemon=True)
        self._last_position: float | None = None
        self._last_connects = 0

    def start(self) -> None:
        self.reader.start()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.reader.stop(timeout)
        self._thread.join(timeout)

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        use_media_clock = self.spec.lossless
        try:
            while not self._stop.is_set():
                frame = self.reader.slot.get(timeout=0.25)
                if frame is None:
                    if self.reader.slot.closed:
                        break
                    continue
                if self.reader.connects != self._last_connects or (
                    self._last_position is not None and frame.position < self._last_position
                ):
                    self.engine.finish()  # a new connection or a loop back: old tracks cannot continue
                self._last_connects = self.reader.connects
                self._last_position = frame.position
                try:
                    self.engine.process(frame, frame.position if use_media_clock else frame.captured_at)
                except Exception:
                    self.engine.metrics.errors += 1
                    log.exception("camera %s: frame %d could not be processed", self.name, frame.index)
        finally:
            self.engine.finish()

    def status(self) -> CameraStatus:
        reader = self.reader.status()
        return CameraStatus(
            name=self.name,
            source=self.spec.display_uri,
            state=reader.state.value,
            last_error=reader.last_error,
            connects=reader.connects,
            decode_fps=round(reader.decode_fps, 2),
            decoded=reader.decoded,
            dropped=reader.dropped,
            metrics=self.engine.metrics.snapshot(),
        )


def engine_threads(live: LiveSettings, cameras: int, cores: int, analyzer: FaceAnalyzer) -> int:
    """ONNX Runtime threads per model call for a run's engines (``live.engine_threads``)."""
    if live.engine_threads is not None:
        return live.engine_threads
    return 1 if cameras >= cores else analyzer.settings.runtime.intra_op_threads


def available_cores() -> int:
    """Cores this process may use: those it may run on (``taskset``), fewer where a container's
    CPU quota (cgroup v2 ``cpu.max``, as ``docker --cpus`` sets) allows less."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota to read
    return cores


class LiveRunner:
    """All cameras of one run, sharing one analyzer (its sessions are thread-safe) and one gallery."""

    def __init__(
        self,
        sources: dict[str, SourceSpec],
        analyzer: FaceAnalyzer,
        gallery: Gallery,
        sink: AlertSink,
        settings: LiveSettings | None = None,
        *,
        tracking: bool = True,
    ) -> None:
        from openlfr.models.calibration import load_calibration, operating_point
        from openlfr.models.cluster_thresholds import load_cluster_thresholds

        base = settings or analyzer.settings.live
        calibration = load_calibration(analyzer.pack.name, analyzer.pack.calibration_folder)
        threshold, self.expected_false_alert_rate = operating_point(
            base.alert_threshold, base.false_alert_rate, calibration, max(len(gallery), 1)
        )
        self.settings = base.model_copy(update={"alert_threshold": threshold})
        self.sink = sink
        clusters = (
            load_cluster_thresholds(analyzer.pack.name, analyzer.pack.calibration_folder)
            if base.mitigation == "cluster_thresholds"
            else None
        )
        thresholds = AlertThresholds(threshold, gallery, clusters)
        log.info(
            "alert threshold %.3f for %d subjects%s",
            threshold,
            len(gallery),
            f": about 1 false alert in {1 / self.expected_false_alert_rate:,.0f} passers-by"
            if self.expected_false_alert_rate
            else "",
        )
        if base.mitigation != "none":
            log.info(
                "mitigation %s: thresholds rise for faces in clusters with more false matches",
                base.mitigation,
            )
        cores = available_cores()
        threads = engine_threads(base, len(sources), cores, analyzer)
        engines = analyzer.with_threads(threads)
        if engines is not analyzer:
            log.info(
                "%d camera(s) on %d core(s): the engines run their models on %d ONNX Runtime thread(s) "
                "per call (live.engine_threads)",
                len(sources),
                cores,
                threads,
            )
        if threads > cores:
            log.warning(
                "live.engine_threads %d is more than the %d core(s) this process may use: the threads "
                "will only take turns",
                threads,
                cores,
            )
        self.workers = [
            CameraWorker(
                name,
                spec,
                CameraEngine(
                    name, engines, gallery, sink, self.settings, tracking=tracking, thresholds=thresholds
                ),
                self.settings,
            )
            for name, spec in sources.items()
        ]
        for worker in self.workers:
            worker.engine.expected_false_alert_rate = self.expected_false_alert_rate

    def start(self) -> LiveRunner:
        for worker in self.workers:
            worker.start()
        return self

    def set_watchlist(self, gallery: Gallery) -> None:
        """Match against ``gallery`` from the next frame on, in every camera."""
        for worker in self.workers:
            worker.engine.gallery = gallery
            worker.engine.thresholds.gallery = gallery

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def run_until_done(
        self,
        duration: float | None = None,
        feed: GalleryFeed | None = None,
        guard: Callable[[], str | None] | None = None,
        on_tick: Callable[[list[CameraStatus]], None] | None = None,
        tick: float = 0.5,
        guard_every: float = 2.0,
    ) -> str | None:
        """Run the cameras until the files end, ``duration`` seconds pass or ``guard`` gives a reason
        to stop matching (returned); ``feed`` keeps the gallery current meanwhile. The cameras are
        stopped whatever ends the run, an interrupt included."""
        started = checked = time.monotonic()
        self.start()
        try:
            while not self.finished:
                if duration is not None and time.monotonic() - started > duration:
                    return None
                if feed is not None and feed.check():
                    self.set_watchlist(feed.gallery)
                if guard is not None and time.monotonic() - checked > guard_every:
                    checked = time.monotonic()
                    refusal = guard()
                    if refusal:
                        return refusal
                time.sleep(tick)
                if on_tick is not None:
                    on_tick(self.status())
            return None
        finally:
            self.stop()
            if on_tick is not None:
                on_tick(self.status())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every camera has finished (files end; live cameras only on stop). True if all did."""
        for worker in self.workers:
            worker.join(timeout)
        return all(worker.finished for worker in self.workers)

    @property
    def finished(self) -> bool:
        return all(worker.finished for worker in self.workers)

    def status(self) -> list[CameraStatus]:
        return [worker.status() for worker in self.workers]

    def __enter__(self) -> LiveRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
