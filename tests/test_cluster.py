"""Cluster mode on a real two-node Ray cluster: cameras spread over nodes, move when a node dies,
and every acknowledged alert reaches PostgreSQL."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.cluster.local import LocalCluster
from openlfr.demo.service import prepare_demo
from openlfr.demo.synthetic import ENROLLED_SUBJECT
from openlfr.errors import PolicyViolation
from openlfr.governance import Governance
from openlfr.governance import deployments as dep
from openlfr.governance import runner_lease as lease
from openlfr.governance import watchlists as wl
from openlfr.settings import load_settings
from openlfr.store import open_store
from openlfr.store.crypto import new_key
from openlfr.store.models import AlertRecord, AlertSighting, AuditEvent
from openlfr.video.hwdecode import nvdec_unavailable
from tests.waiting import wait_for

ray = pytest.importorskip("ray", reason="cluster mode needs Ray (pip install 'openlfr[cluster]')")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):  # type: ignore[no-untyped-def]
    cluster = LocalCluster(tmp_path_factory.mktemp("ray"))
    cluster.start_head(cpus=2)
    cluster.start_worker(cpus=2)
    cluster.wait_for_nodes(2)
    yield cluster
    cluster.stop()


def cluster_gov(
    nodes: LocalCluster, database_url: str, folder: Path, inference: str = "camera"
) -> Governance:
    settings = load_settings(
        data_dir=folder / "data",
        master_key=base64.b64encode(new_key()).decode(),
        store={"url": database_url},
        live={"cooldown": 2.0},
        cluster={
            "address": nodes.address,
            "node_ip": "127.0.0.1",
            "status_seconds": 0.5,
            "call_timeout": 5.0,
            "inference": inference,
        },
    )
    return Governance(open_store(settings), settings)


def alerts_from(gov: Governance, camera: str, before: float | None = None) -> int:
    """Sightings stored from a camera (each pass of the demo clip is one; they group into alerts)."""
    with gov.store.session() as session:
        seen = session.scalars(
            select(AlertSighting.seen_at)
            .join(AlertRecord, AlertRecord.id == AlertSighting.alert_id)
            .where(AlertRecord.camera == camera)
        ).all()
    return sum(1 for at in seen if before is None or at.timestamp() < before)


def test_cameras_move_to_a_live_node_and_no_acknowledged_alert_is_lost(nodes, postgres, tmp_path) -> None:
    from openlfr.cluster.nodes import head_node_id
    from openlfr.cluster.run import ClusterRun

    gov = cluster_gov(nodes, postgres.create_database("cluster_failover"), tmp_path, inference="node")
    setup = prepare_demo(gov, tmp_path / "demo", cameras=2)
    assert ENROLLED_SUBJECT in setup.enrolled
    run = ClusterRun(gov, setup.deployment_id)
    try:
        placed = lambda: {c: s.get("node_id") for c, s in run.status()["cameras"].items()}  # noqa: E731
        assert wait_for(lambda: len(set(placed().values()) - {None}) == 2, 90), placed()
        head = head_node_id(run.ray)
        worker_camera = next(c for c, node in placed().items() if node != head)
        decoders = {c: s.get("decoder") for c, s in run.status()["cameras"].items()}
        expected = "CPU" if nvdec_unavailable() else "NVDEC"  # auto: NVDEC where it works
        assert decoders == dict.fromkeys(decoders, expected), decoders

        sent = lambda: int(run.status()["cameras"][worker_camera]["alerts_sent"])  # noqa: E731
        assert wait_for(lambda: sent() > 0, 30)
        sent_before = sent()
        killed_at = time.time()
        nodes.kill("worker")
        moved = lambda: run.status()["cameras"][worker_camera].get("node_id") == head  # noqa: E731
        assert wait_for(moved, 90), f"{worker_camera} did not come back on the head: {run.status()}"

        # A subject removed from the watchlist leaves every camera actor, the restarted one too.
        removed_at = time.monotonic()
        wl.remove_subject(gov, wl.find_subject(gov, setup.deployment_id, "player_9"), "manager", "withdrawn")
        sizes = lambda: {c: s.get("watchlist_size") for c, s in run.status()["cameras"].items()}  # noqa: E731
        assert wait_for(lambda: set(sizes().values()) == {len(setup.enrolled) - 1}, 10), sizes()
        print(f"removal seen in every camera actor's status after {time.monotonic() - removed_at:.2f} s")
        assert wait_for(lambda: alerts_from(gov, worker_camera) > sent_before, 120)
        assert alerts_from(gov, worker_camera, before=killed_at) >= sent_before > 0
        stats = run.inference_stats()
        for model in ("detector", "recognizer"):
            rows = stats.get(head, {}).get(model, {}).get("rows", 0)
            assert rows > 0, f"the head's cameras should run their {model} on its inference actor: {stats}"

        dep.end(gov, setup.deployment_id, "operator", "operation over")
        assert wait_for(lambda: final_state(run) == "stopped", 30), (
            "ending the deployment must stop the cameras"
        )
        final = run.stop("test over")
    finally:
        if final_state(run) != "stopped":
            run.stop("test cleanup")
    assert final["state"] == "stopped" and "ended" in str(final["reason"]), final
    assert final["restarts"][worker_camera] == 1
    assert final["alerts_queued"] == 0
    assert lease.holder(gov, setup.deployment_id) is None  # released: the service may run it now
    with gov.store.session() as session:
        subjects = set(session.scalars(select(AlertRecord.subject_reference)))
        restarts = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "cluster.camera_restarted")
        ).all()
    assert subjects == {ENROLLED_SUBJECT}
    assert [event.details["camera"] for event in restarts] == [worker_camera]


def final_state(run) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(run.status()["state"])
    except Exception:
        return "stopped"


def test_a_deployment_that_may_not_match_is_refused_before_any_actor_starts(
    nodes, postgres, tmp_path
) -> None:
    from openlfr.cluster.run import ClusterRun

    gov = cluster_gov(nodes, postgres.create_database("cluster_refusal"), tmp_path)

    setup = prepare_demo(gov, tmp_path / "demo", cameras=1)
    service = lease.runner_name("service")
    assert lease.claim(gov, setup.deployment_id, service) is None
    with pytest.raises(PolicyViolation, match="already running under service@"):
        ClusterRun(gov, setup.deployment_id)  # the service runs it: a second runner would double alerts
    lease.release(gov, setup.deployment_id, service)
    dep.end(gov, setup.deployment_id, "operator", "shift over")
    with pytest.raises(PolicyViolation, match="not live"):
        ClusterRun(gov, setup.deployment_id)
