"""Runs the live engine for every deployment that may match now, and stops it the moment it may not.

Every few seconds the supervisor looks for live deployments: each one that passes the legal
gate (live, authorised, approved watchlist, signage, inside its window) gets a ``LiveRunner``
over its cameras with the durable alert sink; a running one whose gate closes (ended,
window over) is stopped and its counters saved. Video files given as cameras loop in real
time, which is how the demo and the browser tests play a recording as a camera.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import cv2
from sqlalchemy import select

from openlfr.api.background import Background
from openlfr.errors import OpenLFRError
from openlfr.governance import deployments as dep
from openlfr.governance import runner_lease as lease
from openlfr.governance.context import Governance
from openlfr.governance.live_session import LiveSession, open_live_session
from openlfr.live.metrics import Histogram
from openlfr.live.preview import privacy_preview
from openlfr.live.runner import CameraStatus, LiveRunner
from openlfr.store.models import Deployment

log = logging.getLogger(__name__)
ACTOR = "service"


@dataclass
class Running:
    session: LiveSession
    runner: LiveRunner
    saved: tuple[int, int] = (0, 0)  # faces and tracks already added to the deployment's counters


class WatchlistKeeper(Background):
    """Keeps every running engine's gallery equal to its watchlist, on a thread of its own: stopping
    another deployment's cameras (which may wait on streams that hang) never delays a removal."""

    def __init__(self, supervisor: DeploymentSupervisor, interval: float) -> None:
        super().__init__("watchlists")
        self.supervisor = supervisor
        self.interval = interval

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.supervisor.sync_watchlists()
            except Exception:
                log.exception("watchlist sync")
            self._stop.wait(self.interval)


class DeploymentSupervisor(Background):
    """Starts and stops the live engines, and keeps each one's watchlist current: a subject
    removed or expired leaves every camera's gallery within ``governance.watchlist_sync_seconds``."""

    def __init__(self, gov: Governance, interval: float) -> None:
        super().__init__("supervisor")
        self.gov = gov
        self.interval = interval
        self.sync_interval = gov.settings.governance.watchlist_sync_seconds
        self.running: dict[str, Running] = {}
        self.refusals: dict[str, str] = {}
        self.owner = lease.runner_name("service")
        self._lock = threading.Lock()
        self.keeper = WatchlistKeeper(self, self.sync_interval)

    def start(self):
        self.keeper.start()
        return super().start()

    def stop(self, timeout: float = 10.0) -> None:
        self.keeper.stop(timeout)
        super().stop(timeout)
        for deployment_id in list(self.running):
            self._halt(deployment_id, "service stopping")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("supervisor")
            self._stop.wait(self.interval)

    def sync_watchlists(self) -> None:
        """Each running deployment's gallery made equal to its watchlist now."""
        with self._lock:
            running = list(self.running.items())
        for deployment_id, run in running:
            try:
                watchlist = run.session.watchlist
                if watchlist.check():
                    run.runner.set_watchlist(watchlist.gallery)
                    log.info(
                        "deployment %s: watchlist now %d subjects", deployment_id, len(watchlist.gallery)
                    )
            except OpenLFRError as exc:  # database briefly away: keep the gallery, try again soon
                log.warning("deployment %s: watchlist not checked: %s", deployment_id, exc)

    def tick(self) -> None:
        with self.gov.store.session() as session:
            live = set(session.scalars(select(Deployment.id).where(Deployment.state == "live")))
        for deployment_id in live - set(self.running):
            self._launch(deployment_id)
        for deployment_id, running in list(self.running.items()):
            try:
                taken = lease.claim(self.gov, deployment_id, self.owner)
            except OpenLFRError:  # database briefly away: keep running, the spool protects alerts
                taken = None
            reason = f"now running under {taken}" if taken else running.session.still_allowed()
            if reason or running.runner.finished:
                self._halt(deployment_id, reason or "every camera ended")
            else:
                self._save_counts(deployment_id, running)

    def _save_counts(self, deployment_id: str, running: Running) -> None:
        """Add what the cameras counted since the last save, so live reports stay current."""
        statuses = running.runner.status()
        totals = (
            sum(int(s.metrics["faces"]) for s in statuses),
            sum(int(s.metrics["tracks"]) for s in statuses),
        )
        faces, tracks = totals[0] - running.saved[0], totals[1] - running.saved[1]
        if faces or tracks:
            try:
                dep.record_counts(self.gov, deployment_id, faces, tracks)
                running.saved = totals
            except OpenLFRError as exc:
                log.error("deployment %s: counters not saved yet: %s", deployment_id, exc)

    def _launch(self, deployment_id: str) -> None:
        try:
            held = lease.claim(self.gov, deployment_id, self.owner)
            if held:
                self._refuse(deployment_id, f"already running under {held}")
                return
            session = open_live_session(self.gov, deployment_id, ACTOR)
        except OpenLFRError as exc:
            self._refuse(deployment_id, str(exc))
            lease.release(self.gov, deployment_id, self.owner)
            return
        sources = session.camera_sources()
        runner = LiveRunner(sources, self.gov.analyzer, session.gallery, session.sink, session.live)
        with self._lock:
            self.running[deployment_id] = Running(session, runner.start())
        self.refusals.pop(deployment_id, None)
        log.info("deployment %s: %d camera(s) running", session.name, len(sources))

    def _halt(self, deployment_id: str, reason: str) -> None:
        with self._lock:
            running = self.running.pop(deployment_id, None)
        if running is None:
            return
        running.runner.stop()
        running.session.sink.close()
        self._save_counts(deployment_id, running)
        lease.release(self.gov, deployment_id, self.owner)
        log.info("deployment %s stopped: %s", deployment_id, reason)

    def _refuse(self, deployment_id: str, reason: str) -> None:
        """Remember why a deployment is not running (logged once per new reason)."""
        if self.refusals.get(deployment_id) != reason:
            log.warning("deployment %s not started: %s", deployment_id, reason)
        self.refusals[deployment_id] = reason

    def spooled(self) -> int:
        """Alerts of running deployments waiting in their encrypted spools for the database."""
        with self._lock:
            sinks = [running.session.sink for running in self.running.values()]
        return sum(sink.pending() for sink in sinks)

    def histograms(self) -> dict[tuple[str, str], tuple[dict[str, Histogram], Histogram]]:
        """Each running camera's stage-time and capture-to-alert histograms, by (deployment, camera)."""
        with self._lock:
            running = list(self.running.items())
        return {
            (deployment_id, worker.name): worker.engine.metrics.histograms()
            for deployment_id, run in running
            for worker in run.runner.workers
        }

    def status(self) -> dict[str, list[CameraStatus]]:
        with self._lock:
            return {d: r.runner.status() for d, r in self.running.items()}

    def has_camera(self, deployment_id: str, camera: str) -> bool:
        with self._lock:
            running = self.running.get(deployment_id)
        return running is not None and any(w.name == camera for w in running.runner.workers)

    def preview_jpeg(self, deployment_id: str, camera: str) -> bytes | None:
        """The camera's newest frame with every non-alert face pixelated, as JPEG (never stored)."""
        with self._lock:
            running = self.running.get(deployment_id)
        if running is None:
            return None
        worker = next((w for w in running.runner.workers if w.name == camera), None)
        if worker is not None:
            worker.engine.watch()  # from now on, every face shown unblurred is checked in every frame
        view = worker.engine.last_view if worker else None
        if view is None:
            return None
        frame, boxes = view
        preview = privacy_preview(frame.image, boxes)
        ok, jpeg = cv2.imencode(".jpg", preview, [cv2.IMWRITE_JPEG_QUALITY, 75])
        return jpeg.tobytes() if ok else None
