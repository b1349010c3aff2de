"""One camera as a Ray actor: reader, engine and models on whichever node Ray placed it.

The actor holds a templates-only copy of the watchlist in memory and nothing else that
lasts: frames and non-matching faces are dropped exactly as in the single-process engine.
Alerts are relayed to the deployment's control actor on the head node, which spools each
one encrypted before it acknowledges; until then the alert stays in this actor's memory and
is retried. A worker node therefore writes no biometric data anywhere, and if it dies its
cameras start again on another node from the same constructor arguments (Ray restarts them).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import uuid
from dataclasses import asdict
from typing import Any

from openlfr.cluster.nodes import require_ray
from openlfr.errors import PolicyViolation
from openlfr.live.alerts import Alert
from openlfr.live.runner import LiveRunner
from openlfr.settings import LiveSettings, Settings
from openlfr.video import SourceSpec
from openlfr.video.hwdecode import decoder_name
from openlfr.watchlist import Gallery

log = logging.getLogger(__name__)


class RelayAlertSink:
    """Sends alerts to the control actor and retries until each one is acknowledged."""

    def __init__(self, control: Any, timeout: float) -> None:
        self.control = control
        self.timeout = timeout
        self.sent = 0
        self.last_error: str | None = None
        self._in_flight = 0
        self._queue: queue.Queue[Alert | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-relay", daemon=True)
        self._thread.start()

    def emit(self, alert: Alert) -> None:
        self._queue.put(alert)

    def pending(self) -> int:
        """Alerts not yet acknowledged, the one in flight included."""
        return self._queue.qsize() + self._in_flight

    def _run(self) -> None:
        ray = require_ray()
        while not self._stop.is_set():
            alert = self._queue.get()
            if alert is None:
                return
            self._in_flight = 1
            while not self._stop.is_set():
                try:
                    ray.get(self.control.emit.remote(alert), timeout=self.timeout)
                    self.sent, self._in_flight = self.sent + 1, 0
                    break
                except Exception as exc:  # head busy or restarting: keep the alert, try again
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("alert %s not yet acknowledged: %s", alert.alert_id, self.last_error)
                    self._stop.wait(1.0)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)
        self._stop.set()


class CameraActor:
    """Runs one camera of a deployment; ``status`` says where and how it runs."""

    def __init__(
        self,
        camera: str,
        spec: SourceSpec,
        settings: Settings,
        live: LiveSettings,
        gallery: Gallery,
        control: Any,
        weights: str | None = None,
    ) -> None:
        """``weights``: the fingerprint of the pack the deployment went live on; a node whose own
        copy of the pack differs refuses to run the camera."""
        from openlfr.vision import FaceAnalyzer

        ray = require_ray()
        self.camera = camera
        self.incarnation = uuid.uuid4().hex[:12]
        self.node_id = ray.get_runtime_context().get_node_id()
        threads = max(1, round(settings.cluster.camera_cpus))
        runtime = settings.runtime.model_copy(update={"intra_op_threads": threads})
        analyzer = FaceAnalyzer(settings.model_copy(update={"runtime": runtime}))
        if weights is not None and analyzer.pack.fingerprint != weights:
            raise PolicyViolation(
                f"camera {camera}: this node's model pack {analyzer.pack.name} has other weights than "
                "the deployment went live on"
            )
        if settings.cluster.inference == "node":
            self._share_node_models(analyzer, settings)
        self.sink = RelayAlertSink(control, settings.cluster.call_timeout)
        self.decoder = decoder_name(spec.decode_device)  # each node probes for NVDEC itself
        self.runner = LiveRunner({camera: spec}, analyzer, gallery, self.sink, live).start()
        self.watchlist_version = ""  # as started: the control pushes the current one
        log.info("camera %s started on node %s (incarnation %s)", camera, self.node_id[:8], self.incarnation)

    def _share_node_models(self, analyzer: Any, settings: Settings) -> None:
        """Send this camera's frames and faces to the node's inference actor instead of models of its own.

        The batching happens there, across the node's cameras; here each call is one camera's.
        """
        from openlfr.cluster.inference import node_sessions

        sessions = node_sessions(require_ray(), self.node_id, settings.cluster.call_timeout)
        if sessions:
            analyzer.use_sessions(sessions["detector"], sessions["recognizer"])

    def set_watchlist(self, gallery: Gallery, version: str) -> str:
        """Match against ``gallery`` from the next frame on; returns the version now in use."""
        self.runner.set_watchlist(gallery)
        self.watchlist_version = version
        return version

    def status(self) -> dict[str, object]:
        """Placement, incarnation and the camera's counters (no images, no templates)."""
        camera = asdict(self.runner.status()[0])
        return camera | {
            "watchlist_version": self.watchlist_version,
            "watchlist_size": len(self.runner.workers[0].engine.gallery),
            "node_id": self.node_id,
            "decoder": self.decoder,
            "pid": os.getpid(),
            "incarnation": self.incarnation,
            "alerts_pending": self.sink.pending(),
            "alerts_sent": self.sink.sent,
            "finished": self.runner.finished,
        }

    def stop(self) -> bool:
        self.runner.stop()
        self.sink.close()
        return self.sink.pending() == 0
