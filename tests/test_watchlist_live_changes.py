"""A change to a live watchlist reaches the running engine at once, and a removed subject is never
alerted on again: checked with the real engine on the demo clip, and at the store."""

from __future__ import annotations

import socket as net
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from openlfr.demo.service import prepare_demo
from openlfr.demo.synthetic import ENROLLED_SUBJECT
from openlfr.governance import alerts as al
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.models.pack import sample_image_paths
from openlfr.store.models import AlertSighting, AuditEvent, Subject
from tests.api_support import bearer, live_server, make_app, make_gov, token
from tests.governance_helpers import OFFICER, fake_alert, live_deployment, plan, subject
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def sightings_of(gov, reference: str) -> int:  # type: ignore[no-untyped-def]
    from openlfr.store.models import AlertRecord

    with gov.store.session() as session:
        query = (
            select(func.count())
            .select_from(AlertSighting)
            .join(AlertRecord, AlertRecord.id == AlertSighting.alert_id)
            .where(AlertRecord.subject_reference == reference)
        )
        return int(session.scalar(query))


def test_a_removed_subject_leaves_the_running_engine_within_a_second(tmp_path, analyzer) -> None:
    gov = make_gov(tmp_path, analyzer, users=False, supervise_seconds=0.5)
    setup = prepare_demo(gov, tmp_path / "demo")
    manager = bearer(token(gov, "manager"))
    app = make_app(gov, run_engines=True)
    supervisor = app.state.service.supervisor  # the same process: its engine can be looked at directly
    with live_server(app) as url, httpx.Client(base_url=url) as client:
        assert wait_for(lambda: sightings_of(gov, ENROLLED_SUBJECT) >= 1, 90)
        subject_id = wl.find_subject(gov, setup.deployment_id, ENROLLED_SUBJECT)
        engine = supervisor.running[setup.deployment_id].runner.workers[0].engine
        assert ENROLLED_SUBJECT in engine.gallery.subjects

        removed_at = time.monotonic()
        response = client.request(
            "DELETE", f"/api/subjects/{subject_id}", json={"reason": "warrant withdrawn"}, headers=manager
        )
        assert response.status_code == 200
        assert wait_for(lambda: ENROLLED_SUBJECT not in engine.gallery.subjects, 2.0)
        took = time.monotonic() - removed_at
        print(f"removal reached the engine in {took * 1000:.0f} ms")
        assert took <= 2.0
        before = sightings_of(gov, ENROLLED_SUBJECT)
        time.sleep(14)  # two more passes of the demo clip: he is in view again in each
        assert sightings_of(gov, ENROLLED_SUBJECT) == before
        assert engine.metrics.frames > 0 and supervisor.running  # still matching everyone else


@pytest.fixture
def silent_cameras():  # type: ignore[no-untyped-def]
    """RTSP addresses on a port that accepts connections and never answers: cameras that hang."""
    listener = net.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    yield tuple(f"rtsp://127.0.0.1:{port}/camera-{n}" for n in range(4))
    listener.close()


def test_a_removal_is_not_held_up_by_another_deployment_stopping(tmp_path, analyzer, silent_cameras) -> None:
    gov = make_gov(tmp_path, analyzer, users=False, supervise_seconds=0.5)
    gov.settings.live.open_timeout = 30.0  # those cameras take a long time to give up
    setup = prepare_demo(gov, tmp_path / "demo")
    start = gov.now() - timedelta(minutes=1)
    other = dep.create(gov, plan(start, name="Other street", cameras=silent_cameras), "planner").id
    wl.add_subject(gov, other, subject("someone", sample_image_paths()["yaoming"]), "watchlist-manager")
    dep.authorise(gov, other, OFFICER, "necessary and proportionate")
    dep.approve_watchlist(gov, other, "inspector")
    dep.start(gov, other, "operator")
    app = make_app(gov, run_engines=True)
    supervisor = app.state.service.supervisor
    with live_server(app):
        assert wait_for(lambda: sightings_of(gov, ENROLLED_SUBJECT) >= 1, 90)
        assert other in supervisor.running
        engine = supervisor.running[setup.deployment_id].runner.workers[0].engine
        dep.end(gov, other, "operator", "the operation is over")
        assert wait_for(lambda: other not in supervisor.running, 5.0)  # its cameras are being stopped
        removed_at = time.monotonic()
        wl.remove_subject(
            gov, wl.find_subject(gov, setup.deployment_id, ENROLLED_SUBJECT), "watchlist-manager", "withdrawn"
        )
        assert wait_for(lambda: ENROLLED_SUBJECT not in engine.gallery.subjects, 2.0)
        print(f"removal reached the engine in {(time.monotonic() - removed_at) * 1000:.0f} ms")


def test_the_store_refuses_sightings_of_removed_or_expired_subjects(gov, clock, samples) -> None:
    deployment_id = live_deployment(gov, samples, also=("W-77",))
    wl.remove_subject(gov, wl.find_subject(gov, deployment_id, "W-77"), "watchlist-manager", "withdrawn")
    assert al.record(gov, deployment_id, fake_alert("W-77", at=clock.now)) is None
    with gov.store.session() as session:
        session.scalars(select(Subject).where(Subject.reference == "yao_ming")).one().expires_at = clock.now
    clock.advance(seconds=1)
    assert al.record(gov, deployment_id, fake_alert(at=clock.now)) is None
    assert al.list_alerts(gov, deployment_id) == []
    with gov.store.session() as session:
        discarded = session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.discarded")).all()
    assert len(discarded) == 2
    assert all("W-77" not in str(e.details) and "yao" not in str(e.details) for e in discarded)


def test_no_sighting_is_stored_after_the_removal_that_raced_it(gov, samples) -> None:
    """Eight cameras write sightings of a subject while it is removed: on both databases, every stored
    sighting is audited before the removal, and every later one is discarded."""
    import threading

    from openlfr.store.models import AlertRecord

    deployment_id = live_deployment(gov, samples)
    with gov.store.session() as session:
        subject_id = session.scalar(select(Subject.id).where(Subject.deployment_id == deployment_id))
    stop = threading.Event()

    def camera(number: int) -> None:
        while not stop.is_set():
            al.record(gov, deployment_id, fake_alert(camera=f"camera-{number}"))

    cameras = [threading.Thread(target=camera, args=(n,)) for n in range(8)]
    for thread in cameras:
        thread.start()
    time.sleep(0.5)
    wl.remove_subject(gov, subject_id, "watchlist-manager", "court order lifted")
    time.sleep(0.5)
    stop.set()
    for thread in cameras:
        thread.join()
    with gov.store.session() as session:
        alert_ids = set(session.scalars(select(AlertRecord.id)))
        removed_at = session.scalar(select(AuditEvent.seq).where(AuditEvent.action == "subject.remove"))
        written = select(AuditEvent.seq).where(
            AuditEvent.object_id.in_(alert_ids), AuditEvent.action.in_(("alert.create", "alert.sighting"))
        )
        seqs = list(session.scalars(written))
        discarded = session.scalar(
            select(func.count()).where(AuditEvent.action == "alert.discarded", AuditEvent.seq > removed_at)
        )
    assert seqs and max(seqs) < removed_at
    assert discarded > 0
