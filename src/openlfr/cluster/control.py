"""The control actor of one deployment in cluster mode, pinned to the head node.

It does on the cluster what ``DeploymentSupervisor`` does in one process: it opens the live
session only if the legal gate allows (live, authorised, approved watchlist, signage, inside
the window), starts one camera actor per camera spread over the nodes, relays their alerts
into the durable store sink, keeps the deployment's counters current, records every camera
restart in the audit trail, and stops everything the moment the gate closes. Keys, the store
and the alert spool stay on the head node; worker nodes only ever see templates in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from openlfr.cluster.camera import CameraActor
from openlfr.cluster.inference import start_inference
from openlfr.cluster.nodes import require_ray
from openlfr.errors import OpenLFRError, PolicyViolation
from openlfr.governance import deployments as dep
from openlfr.governance import runner_lease as lease
from openlfr.governance.context import Governance
from openlfr.governance.live_session import open_live_session
from openlfr.live.alerts import Alert
from openlfr.settings import Settings
from openlfr.store import open_store
from openlfr.store.models import Deployment

log = logging.getLogger(__name__)
ACTOR = "cluster"


class DeploymentControl:
    """Starts, watches and stops a deployment's camera actors; the only writer to the store."""

    def __init__(self, settings: Settings, deployment_id: str, started_by: str = ACTOR) -> None:
        ray = require_ray()
        self.ray = ray
        self.settings = settings
        self.gov = Governance(open_store(settings), settings)
        self.owner = lease.runner_name("cluster")
        held = lease.claim(self.gov, deployment_id, self.owner)
        if held:
            raise PolicyViolation(f"deployment {deployment_id} is already running under {held}")
        self.session = open_live_session(self.gov, deployment_id, started_by)
        with self.gov.store.session() as session:
            weights = self.gov.get(session, Deployment, deployment_id).model_fingerprint
        self.deployment_id = deployment_id
        self.state = "running"
        self.reason: str | None = None
        self.cameras: dict[str, Any] = {}
        self.seen: dict[str, dict[str, object]] = {}
        self.restarts: dict[str, int] = {}
        self._saved: dict[str, tuple[str, int, int]] = {}
        self._lock = threading.Lock()
        self._counting = threading.Lock()  # the final save on stop may race the supervisor's
        self._stop = threading.Event()
        remote_camera = ray.remote(CameraActor).options(
            num_cpus=settings.cluster.camera_cpus,
            num_gpus=settings.cluster.camera_gpus,
            max_restarts=-1,
            max_concurrency=4,
            scheduling_strategy="SPREAD",
        )
        self.inference = start_inference(ray, settings) if settings.cluster.inference == "node" else {}
        gallery = self.session.watchlist.gallery.templates_only()
        me = ray.get_runtime_context().current_actor
        for name, spec in self.session.camera_sources().items():
            self.cameras[name] = remote_camera.remote(
                name, spec, settings, self.session.live, gallery, me, weights
            )
            self.restarts[name] = 0
        self.watchlist_version = self._version()
        self._thread = threading.Thread(target=self._supervise, name="cluster-control", daemon=True)
        self._thread.start()
        self._syncing = threading.Thread(target=self._sync_watchlist, name="watchlist-sync", daemon=True)
        self._syncing.start()

    # -- called by camera actors ----------------------------------------------------------
    def emit(self, alert: Alert) -> str:
        """Spool the alert (encrypted, fsynced) and acknowledge it; the writer thread stores it."""
        self.session.sink.emit(alert)
        return alert.alert_id

    # -- called by the driver -------------------------------------------------------------
    def status(self) -> dict[str, object]:
        with self._lock:
            cameras = {name: dict(seen) for name, seen in self.seen.items()}
        return {
            "deployment": self.session.name,
            "state": self.state,
            "reason": self.reason,
            "cameras": cameras,
            "restarts": dict(self.restarts),
            "alerts_written": self.session.sink.written,
            "alerts_queued": self.session.sink.pending(),
        }

    def inference_stats(self) -> dict[str, dict[str, object]]:
        """Per node and model: how many batches the shared inference actor ran and their mean size."""
        calls = {node: actor.stats.remote() for node, actor in self.inference.items()}
        ready, _ = self.ray.wait(list(calls.values()), num_returns=len(calls), timeout=1.0)
        stats: dict[str, dict[str, object]] = {}
        for node, call in calls.items():
            try:
                stats[node] = self.ray.get(call, timeout=0) if call in ready else {"error": "unreachable"}
            except Exception as exc:  # the node is gone
                stats[node] = {"error": type(exc).__name__}
        return stats

    def stop(self, reason: str = "stopped by the operator") -> dict[str, object]:
        """Stop every camera, write every acknowledged alert, save the counters."""
        if self.state == "running":
            self._halt(reason)
        self._thread.join(self.settings.cluster.call_timeout)
        return self.status()

    # -- the watchlist ----------------------------------------------------------------------
    def _version(self) -> str:
        return ",".join(sorted(self.session.watchlist.gallery.subjects))

    def _sync_watchlist(self) -> None:
        """Every camera actor, restarted ones included, matches the watchlist as it is now: a
        removed or expired subject leaves them within ``governance.watchlist_sync_seconds`` and
        one call (the store refuses any sighting of a subject already gone)."""
        while not self._stop.wait(self.settings.governance.watchlist_sync_seconds):
            try:
                if self.session.watchlist.check():
                    self.watchlist_version = self._version()
                    log.info("watchlist now %d subjects", len(self.session.watchlist.gallery))
                version = self.watchlist_version
                with self._lock:
                    behind = [n for n, seen in self.seen.items() if seen.get("watchlist_version") != version]
                if behind:
                    gallery = self.session.watchlist.gallery.templates_only()  # no reference images
                    calls = [self.cameras[name].set_watchlist.remote(gallery, version) for name in behind]
                    self.ray.wait(calls, num_returns=len(calls), timeout=self.settings.cluster.call_timeout)
                    with self._lock:
                        for name in behind:
                            self.seen.setdefault(name, {})["watchlist_version"] = version
            except Exception:
                log.exception("watchlist sync")

    # -- supervision ----------------------------------------------------------------------
    def _supervise(self) -> None:
        interval = self.settings.cluster.status_seconds
        while not self._stop.wait(interval):
            try:
                taken = lease.claim(self.gov, self.deployment_id, self.owner)
                reason = f"now running under {taken}" if taken else self.session.still_allowed()
                if reason:
                    self._halt(reason)
                    return
                self._poll()
            except Exception:
                log.exception("cluster control")

    def _poll(self) -> None:
        calls = {name: actor.status.remote() for name, actor in self.cameras.items()}
        deadline = time.monotonic() + self.settings.cluster.call_timeout
        for name, call in calls.items():
            try:
                status = self.ray.get(call, timeout=max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # node lost, actor restarting or slow: Ray brings it back
                with self._lock:
                    previous = self.seen.get(name, {})
                    self.seen[name] = previous | {"state": "restarting", "last_error": type(exc).__name__}
                continue
            self._note_placement(name, status)
            with self._lock:
                self.seen[name] = status
        self._save_counts()

    def _note_placement(self, name: str, status: dict[str, object]) -> None:
        before = self._saved.get(name)
        if before is None or before[0] == status["incarnation"]:
            return
        self.restarts[name] += 1
        log.warning("camera %s restarted on node %s", name, str(status["node_id"])[:8])
        try:
            with self.gov.store.session() as session:
                deployment = self.gov.get(session, Deployment, self.deployment_id)
                self.gov.audit(
                    session,
                    ACTOR,
                    "cluster.camera_restarted",
                    deployment,
                    camera=name,
                    node=status["node_id"],
                    restarts=self.restarts[name],
                )
        except OpenLFRError as exc:
            log.error("camera %s restart not yet audited: %s", name, exc)

    def _save_counts(self) -> None:
        """Add what each camera counted since the last save; a restarted camera counts from zero."""
        with self._counting:
            self._save_counts_locked()

    def _save_counts_locked(self) -> None:
        faces = tracks = 0
        with self._lock:
            seen = dict(self.seen)
        updated = dict(self._saved)
        for name, status in seen.items():
            if "incarnation" not in status:
                continue
            metrics = status["metrics"]
            assert isinstance(metrics, dict)
            now = (str(status["incarnation"]), int(metrics["faces"]), int(metrics["tracks"]))
            before = self._saved.get(name)
            base = before if before and before[0] == now[0] else (now[0], 0, 0)
            faces += now[1] - base[1]
            tracks += now[2] - base[2]
            updated[name] = now
        if faces or tracks:
            try:
                dep.record_counts(self.gov, self.deployment_id, faces, tracks)
            except OpenLFRError as exc:
                log.error("counters not saved yet: %s", exc)
                return
        self._saved = updated

    def _halt(self, reason: str) -> None:
        self.state, self.reason = "stopping", reason
        self._stop.set()
        timeout = self.settings.cluster.call_timeout
        calls = [actor.stop.remote() for actor in self.cameras.values()]
        try:
            self.ray.get(calls, timeout=timeout)
        except Exception as exc:
            log.error("not every camera stopped cleanly: %s", exc)
        self._poll_final()
        for actor in [*self.cameras.values(), *self.inference.values()]:
            self.ray.kill(actor, no_restart=True)
        self.session.sink.close()
        lease.release(self.gov, self.deployment_id, self.owner)
        self.state = "stopped"
        log.info("deployment %s stopped: %s", self.session.name, reason)

    def _poll_final(self) -> None:
        try:
            self._poll()
        except Exception:
            log.exception("final counters")
