"""One alert per sighting: later tracks of a subject on a camera join the open alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import cv2
import numpy as np
from sqlalchemy import func, select

from openlfr.governance import alerts as al
from openlfr.governance.alert_sink import StoreAlertSink
from openlfr.live.alerts import CollectingSink
from openlfr.live.engine import CameraEngine
from openlfr.live.sightings import SightingLedger
from openlfr.store.models import AlertRecord, AlertSighting
from openlfr.video import CameraReader, parse_source
from tests.governance_helpers import fake_alert, live_deployment
from tests.waiting import wait_for


def count(gov, model) -> int:  # type: ignore[no-untyped-def]
    with gov.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def marked(alert, shade: int):  # type: ignore[no-untyped-def]
    """The sighting with a probe crop of its own grey level, so the stored crop says which it is."""
    return replace(alert, probe_crop=np.full((160, 160, 3), shade, np.uint8))


def stored_shade(gov, alert_id: str) -> int:  # type: ignore[no-untyped-def]
    return int(al.probe_image(gov, alert_id, "operator", "test").mean().round())


def test_later_sightings_join_the_open_alert_and_it_shows_the_best(gov, clock, samples) -> None:
    deployment_id = live_deployment(gov, samples, also=("W-77",))
    first = marked(fake_alert(score=0.6, at=clock.now, camera="van-1"), 60)
    better = marked(fake_alert(score=0.8, at=clock.now + timedelta(minutes=3), camera="van-1"), 180)
    worse = marked(fake_alert(score=0.7, at=clock.now + timedelta(minutes=9), camera="van-1"), 120)
    for sighting in (first, better, worse, better):  # the last one is a retried write: ignored
        row = al.record(gov, deployment_id, sighting)
    assert row.id == first.alert_id and count(gov, AlertRecord) == 1 and count(gov, AlertSighting) == 3
    with gov.store.session() as session:
        alert = session.get(AlertRecord, first.alert_id)
        assert alert.sightings == 3 and round(alert.score, 2) == 0.8
        assert alert.raised_at.replace(tzinfo=None) == first_time(first)
        assert alert.last_seen_at.replace(tzinfo=None) == first_time(worse)
    assert abs(stored_shade(gov, first.alert_id) - 180) <= 2  # the best sighting's crop is shown
    assert [s.id for s in al.sightings(gov, first.alert_id)] == [
        first.alert_id,
        better.alert_id,
        worse.alert_id,
    ]

    elsewhere = al.record(gov, deployment_id, fake_alert(at=clock.now, camera="van-2"))
    someone_else = al.record(gov, deployment_id, fake_alert("W-77", at=clock.now, camera="van-1"))
    assert len({elsewhere.id, someone_else.id, first.alert_id}) == 3  # another camera, another subject


def first_time(alert):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(alert.raised_at, UTC).replace(tzinfo=None)


def test_a_decided_alert_takes_sightings_only_within_the_window(gov, clock, samples) -> None:
    deployment_id = live_deployment(gov, samples)
    window = gov.settings.live.sighting_window
    opened = fake_alert(at=clock.now, camera="van-1")
    al.record(gov, deployment_id, opened)
    clock.advance(minutes=1)
    al.decide(gov, opened.alert_id, "confirmed_match", "operator")
    soon = fake_alert(at=clock.now + timedelta(seconds=window - 30), camera="van-1")
    assert al.record(gov, deployment_id, soon).id == opened.alert_id  # officers are on their way
    late = fake_alert(at=clock.now + timedelta(seconds=window + 30), camera="van-1")
    fresh = al.record(gov, deployment_id, late)
    assert fresh.id == late.alert_id and fresh.decision is None  # a new alert, for a new decision
    with gov.store.session() as session:
        assert session.get(AlertRecord, opened.alert_id).sightings == 2


def test_someone_passing_three_times_is_one_alert(
    gov, analyzer, demo_gallery, demo_material, samples, tmp_path
):  # type: ignore[no-untyped-def]
    """The demo clip three times through a real engine into the store: one alert, three sightings."""
    deployment_id = live_deployment(gov, samples)
    sink = StoreAlertSink(gov, deployment_id, tmp_path / "spool", retry_interval=0.1)
    engine = CameraEngine("cam1", analyzer, demo_gallery, sink)
    try:
        for loop in range(3):
            reader = CameraReader("cam1", parse_source(str(demo_material["video"]), lossless=True)).start()
            while (frame := reader.slot.get(timeout=10)) is not None:
                engine.process(frame, frame.position + 100 * loop)
            reader.stop()
            engine.finish()
        assert wait_for(lambda: sink.pending() == 0 and count(gov, AlertSighting) == 3, 30), sink.last_error
    finally:
        sink.close()
    alerts = al.list_alerts(gov, deployment_id)
    assert len(alerts) == 1 and alerts[0].sightings == 3 and alerts[0].subject_reference == "yao_ming"
    probe = al.probe_image(gov, alerts[0].id, "operator", "test")
    face = analyzer.subject_face(probe).face
    reference = demo_gallery.templates_of("yao_ming")[0]
    assert float(face.embedding @ reference) > 0.45  # the crop shown is his face


def test_without_a_store_the_ledger_groups_sightings(analyzer, demo_gallery, demo_material) -> None:
    collected = CollectingSink()
    ledger = SightingLedger(collected)
    engine = CameraEngine("cam1", analyzer, demo_gallery, ledger)
    for loop in range(2):
        reader = CameraReader("cam1", parse_source(str(demo_material["video"]), lossless=True)).start()
        while (frame := reader.slot.get(timeout=10)) is not None:
            engine.process(frame, frame.position + 100 * loop)
        reader.stop()
        engine.finish()
    assert [a.sighting for a in collected.alerts] == [1, 2]
    assert {a.sighting_of for a in collected.alerts} == {collected.alerts[0].alert_id}
    assert cv2.cvtColor(collected.alerts[1].probe_crop, cv2.COLOR_BGR2GRAY).std() > 10  # a real crop


def test_sightings_written_at_once_join_one_alert_and_none_is_lost(gov, clock, samples) -> None:
    """Several engine processes (or spool replays) writing sightings of one subject at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    deployment_id = live_deployment(gov, samples)
    sightings = [
        fake_alert(score=0.5 + i / 100, at=clock.now + timedelta(seconds=i), camera="van-1")
        for i in range(24)
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda s: al.record(gov, deployment_id, s), sightings))
        list(pool.map(lambda s: al.record(gov, deployment_id, s), [sightings[5]] * 8))  # replays
    alerts = al.list_alerts(gov, deployment_id)
    assert len(alerts) == 1 and alerts[0].sightings == 24 and count(gov, AlertSighting) == 24
    assert round(alerts[0].score, 2) == 0.73  # the best of them


def test_a_late_sighting_joins_the_alert_it_belongs_to(gov, clock, samples) -> None:
    deployment_id = live_deployment(gov, samples)
    later = fake_alert(at=clock.now + timedelta(seconds=100), camera="van-1")
    earlier = fake_alert(at=clock.now + timedelta(seconds=50), camera="van-1")
    al.record(gov, deployment_id, later)
    row = al.record(gov, deployment_id, earlier)  # arrives second, was seen first
    assert row.id == later.alert_id and row.sightings == 2
    assert first_time(earlier) == row.raised_at.replace(tzinfo=None)
    assert first_time(later) == row.last_seen_at.replace(tzinfo=None)
