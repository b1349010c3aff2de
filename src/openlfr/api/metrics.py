"""Prometheus metrics at ``/metrics``: what the cameras, the engines, the purge, the spool and the
alert stream are doing, read from the running service at each scrape.

Labels are deployment ids, camera names, stages and decisions: numbers about the machine's work,
never a face, a template, a subject or a person's name.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from openlfr.api.service import Service
from openlfr.errors import OpenLFRError
from openlfr.live.metrics import Histogram
from openlfr.store.models import AlertRecord

CAMERA = ["deployment", "camera"]
CAMERA_COUNTERS = {  # metrics key → (name, help)
    "frames": ("openlfr_camera_frames_processed", "Frames the engine processed."),
    "detected_frames": (
        "openlfr_camera_frames_detected",
        "Frames the detector looked at (live.detect_interval).",
    ),
    "faces": ("openlfr_camera_faces", "Faces detected."),
    "tracks": ("openlfr_camera_tracks", "People tracked (tracks started)."),
    "embeddings": ("openlfr_camera_embeddings", "Faces embedded for matching."),
    "alerts": ("openlfr_camera_alerts", "Alerts raised."),
    "errors": ("openlfr_camera_engine_errors", "Frames whose processing failed."),
}


def buckets(histogram: Histogram) -> list[tuple[str, float]]:
    return [
        (f"{bound:g}", float(count)) for bound, count in zip(histogram.bounds, histogram.counts, strict=True)
    ] + [("+Inf", float(histogram.observed))]


class ServiceCollector(Collector):
    """Reads the service's state when Prometheus scrapes (nothing is kept twice)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        yield from self._cameras()
        yield from self._histograms()
        yield from self._service()

    def _cameras(self) -> Iterator[Metric]:
        statuses = self.service.supervisor.status()
        up = GaugeMetricFamily("openlfr_camera_up", "1 while the camera delivers frames.", labels=CAMERA)
        decode = GaugeMetricFamily("openlfr_camera_decode_fps", "Frames decoded per second.", labels=CAMERA)
        processed = GaugeMetricFamily(
            "openlfr_camera_processed_fps", "Frames processed per second.", labels=CAMERA
        )
        dropped = CounterMetricFamily(
            "openlfr_camera_dropped_frames", "Frames dropped to keep up with the camera.", labels=CAMERA
        )
        connects = CounterMetricFamily(
            "openlfr_camera_connects", "Connections to the camera (above 1: reconnects).", labels=CAMERA
        )
        counters = {
            key: CounterMetricFamily(name, text, labels=CAMERA)
            for key, (name, text) in CAMERA_COUNTERS.items()
        }
        for deployment_id, cameras in statuses.items():
            for camera in cameras:
                labels = [deployment_id, camera.name]
                up.add_metric(labels, 1.0 if camera.state == "live" else 0.0)
                decode.add_metric(labels, camera.decode_fps)
                processed.add_metric(labels, float(camera.metrics["processed_fps"]))
                dropped.add_metric(labels, camera.dropped)
                connects.add_metric(labels, camera.connects)
                for key, family in counters.items():
                    family.add_metric(labels, float(camera.metrics[key]))
        yield from (up, decode, processed, dropped, connects, *counters.values())

    def _histograms(self) -> Iterator[Metric]:
        stages = HistogramMetricFamily(
            "openlfr_stage_seconds", "Time per frame in each engine stage.", labels=[*CAMERA, "stage"]
        )
        latency = HistogramMetricFamily(
            "openlfr_alert_latency_seconds", "From a frame's capture to its alert.", labels=CAMERA
        )
        for (deployment_id, camera), (per_stage, alerts) in self.service.supervisor.histograms().items():
            for stage, histogram in per_stage.items():
                stages.add_metric([deployment_id, camera, stage], buckets(histogram), histogram.total)
            latency.add_metric([deployment_id, camera], buckets(alerts), alerts.total)
        yield from (stages, latency)

    def _service(self) -> Iterator[Metric]:
        service = self.service
        purges = CounterMetricFamily("openlfr_purge_runs", "Retention purges run.", labels=["result"])
        purges.add_metric(["ok"], service.purger.runs - service.purger.failures)
        purges.add_metric(["failed"], service.purger.failures)
        yield purges
        yield GaugeMetricFamily(
            "openlfr_spool_alerts",
            "Alerts waiting in encrypted spools for the database.",
            value=service.supervisor.spooled(),
        )
        yield GaugeMetricFamily(
            "openlfr_websocket_clients", "Open alert-stream sockets.", value=len(service.hub.subscribers)
        )
        yield GaugeMetricFamily(
            "openlfr_deployments_refused",
            "Live deployments the engines are not running.",
            value=len(service.supervisor.refusals),
        )
        stored = GaugeMetricFamily(
            "openlfr_alerts_stored", "Alerts in the store by decision.", labels=["decision"]
        )
        try:
            with service.gov.store.session() as session:
                rows = session.execute(
                    select(AlertRecord.decision, func.count()).group_by(AlertRecord.decision)
                ).all()
        except (OpenLFRError, SQLAlchemyError):  # the database is away: say so, keep the rest
            rows, up = [], 0.0
        else:
            up = 1.0
        for decision, count in rows:
            stored.add_metric([decision or "undecided"], count)
        yield stored
        yield GaugeMetricFamily("openlfr_database_up", "1 while the database answers.", value=up)


def exposition(service: Service) -> bytes:
    """The text Prometheus reads, from a registry of this service's own (several may run in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(service))
    return generate_latest(registry)
