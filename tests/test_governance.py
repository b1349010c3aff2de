"""Deployments, watchlist rules, encryption, retention and audit, on SQLite and on real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select, text

from openlfr.errors import EncryptionKeyError, LowQualityFaceError, MultipleFacesError, PolicyViolation
from openlfr.governance import alerts as al
from openlfr.governance import audit
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.governance.retention import purge
from openlfr.store import crypto
from openlfr.store.models import AlertRecord, AlertSighting, Deployment, Subject
from tests.governance_helpers import OFFICER, fake_alert, live_deployment, plan, subject


def test_matching_only_when_live_authorised_and_inside_the_window(gov, clock, samples) -> None:
    deployment = dep.create(gov, plan(clock.now + timedelta(hours=2)), "planner")

    def can_match() -> None:
        with gov.store.session() as session:
            dep.assert_can_match(gov, session.get(Deployment, deployment.id))

    with pytest.raises(PolicyViolation, match="draft, not live"):
        can_match()
    wl.add_subject(gov, deployment.id, subject("yao_ming", samples["yaoming"]), "manager")
    with pytest.raises(PolicyViolation, match="named authorising officer"):
        dep.authorise(gov, deployment.id, "an operator")
    dep.authorise(gov, deployment.id, OFFICER)
    with pytest.raises(PolicyViolation, match="not been approved"):
        dep.start(gov, deployment.id, "operator")
    dep.approve_watchlist(gov, deployment.id, "inspector")
    with pytest.raises(PolicyViolation, match="may not match before"):
        dep.start(gov, deployment.id, "operator")  # too early
    clock.advance(hours=2, minutes=1)
    dep.start(gov, deployment.id, "operator")
    can_match()
    clock.advance(hours=4)
    with pytest.raises(PolicyViolation, match="ended its window"):
        can_match()
    assert purge(gov).ended_deployments == [deployment.id]
    with pytest.raises(PolicyViolation, match="ended, not live"):
        can_match()


def test_signage_is_required_before_going_live(gov, clock, samples) -> None:
    deployment = dep.create(gov, plan(clock.now, signage_confirmed=False), "planner")
    wl.add_subject(gov, deployment.id, subject("yao_ming", samples["yaoming"]), "manager")
    dep.authorise(gov, deployment.id, OFFICER)
    dep.approve_watchlist(gov, deployment.id, "inspector")
    with pytest.raises(PolicyViolation, match="signage"):
        dep.start(gov, deployment.id, "operator")
    dep.confirm_signage(gov, deployment.id, "sergeant")
    assert dep.start(gov, deployment.id, "operator").state == "live"


def test_watchlist_rules_are_enforced(gov, clock, samples, astronaut, tmp_path: Path) -> None:
    deployment = dep.create(gov, plan(clock.now), "planner")
    add = lambda entry: wl.add_subject(gov, deployment.id, entry, "manager")  # noqa: E731
    with pytest.raises(PolicyViolation, match="not allowed"):
        add(subject("x", samples["yaoming"], category="shoplifting_suspect"))
    with pytest.raises(PolicyViolation, match="under 18 needs a recorded justification"):
        add(subject("child", samples["yaoming"], category="missing_person", age=15))
    with pytest.raises(MultipleFacesError):
        add(subject("team", samples["players"]))
    small = tmp_path / "small.png"
    image = cv2.imread(str(samples["yaoming"]))
    cv2.imwrite(str(small), cv2.resize(image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA))
    with pytest.raises(LowQualityFaceError, match="between the eyes"):
        add(subject("tiny", small))
    child = add(
        subject(
            "child",
            samples["yaoming"],
            category="missing_person",
            age=15,
            under_18_justification="Missing from care, at risk of exploitation",
        )
    )
    assert child.warnings == []
    astronaut_file = tmp_path / "astronaut.png"
    cv2.imwrite(str(astronaut_file), astronaut)
    old = add(subject("old_photo", astronaut_file, image_date=clock.now - timedelta(days=1000)))
    assert any("older than" in warning for warning in old.warnings)
    mirror = tmp_path / "mirror.png"
    cv2.imwrite(str(mirror), image[:, ::-1])
    duplicate = add(subject("same_face_again", mirror))
    assert any("already matches subject child" in warning for warning in duplicate.warnings)
    with pytest.raises(PolicyViolation, match="already on this watchlist"):
        add(subject("child", mirror))
    for respelt in ("CHILD", " child\u200b", "chi\u00adld"):  # case, spaces, invisible characters
        with pytest.raises(PolicyViolation, match="already on this watchlist"):
            add(subject(respelt, mirror))
    gov.settings.governance.max_watchlist_size = 3
    with pytest.raises(PolicyViolation, match="full"):
        add(subject("one_too_many", mirror))
    with gov.store.session() as session:
        rows = session.scalars(select(Subject).where(Subject.deployment_id == deployment.id)).all()
        assert {r.reference for r in rows} == {"child", "old_photo", "same_face_again"}
        assert next(r for r in rows if r.reference == "child").under_18_justification
        assert next(r for r in rows if r.reference == "old_photo").image_outdated


def test_templates_are_sealed_and_bound_to_their_row(gov, samples, analyzer, yaoming) -> None:
    deployment_id = live_deployment(gov, samples)
    expected = analyzer.subject_face(yaoming).face.embedding
    with gov.store.session() as session:
        row = session.scalars(select(Subject)).one()
        sealed, subject_id = row.template_sealed, row.id
    assert expected.tobytes()[:64] not in sealed
    gallery = wl.load_gallery(gov, deployment_id, "operator", "test")
    assert float(gallery.subject_scores(expected[None])[0, 0]) > 0.9999
    with pytest.raises(EncryptionKeyError):  # the same blob under another row's context
        gov.store.open(deployment_id, sealed, "template:someone-else")
    other = type(gov.store)(gov.store.url, str(gov.store.key_engine.url), crypto.new_key())
    with pytest.raises(EncryptionKeyError, match="master key"):
        other.open(deployment_id, sealed, f"template:{subject_id}")
    other.dispose()


def test_master_key_rotation(gov, samples) -> None:
    deployment_id = live_deployment(gov, samples)
    old_key, new_key = gov.store.master_key, crypto.new_key()
    assert gov.store.rotate_master_key(new_key) == 1
    fresh = type(gov.store)(gov.store.url, str(gov.store.key_engine.url), new_key)
    fresh_gov = type(gov)(fresh, gov.settings, gov.clock, gov.analyzer)
    assert len(wl.load_gallery(fresh_gov, deployment_id, "operator", "after rotation")) == 1
    stale = type(gov.store)(gov.store.url, str(gov.store.key_engine.url), old_key)
    with pytest.raises(EncryptionKeyError):
        stale.data_key(deployment_id)
    fresh.dispose()
    stale.dispose()


def test_retention_purges_watchlist_alerts_and_shreds_the_key(gov, clock, samples) -> None:
    deployment_id = live_deployment(gov, samples)
    kept, dropped = fake_alert(at=clock.now), fake_alert(at=clock.now)
    for alert in (kept, dropped):
        al.record(gov, deployment_id, alert)
    al.decide(gov, kept.alert_id, "confirmed_match", "operator")
    al.record_outcome(gov, kept.alert_id, "arrest", "officer")
    al.decide(gov, dropped.alert_id, "false_alert", "operator")
    with gov.store.session() as session:
        backup = [(r.id, r.template_sealed) for r in session.scalars(select(Subject))]
        probe_backup = session.get(AlertRecord, dropped.alert_id).probe_sealed
    dep.end(gov, deployment_id, "operator")

    clock.advance(hours=23)
    assert purge(gov).subjects_deleted == 0  # within the 24 h after the end
    clock.advance(hours=2)
    preview = purge(gov, dry_run=True)
    assert preview.subjects_deleted == 1
    with gov.store.session() as session:
        assert session.scalar(select(Subject.id)) is not None  # a dry run changes nothing
    assert purge(gov).subjects_deleted == 1
    with gov.store.session() as session:
        assert session.scalar(select(Subject.id)) is None
        assert session.get(Deployment, deployment_id).state == "ended"  # alerts still hold sealed crops

    al.retain(gov, kept.alert_id, "evidence", "Crown Prosecution Service case 77")
    clock.advance(days=31)
    report = purge(gov)
    assert report.alerts_anonymised == 1 and report.keys_destroyed == []
    with gov.store.session() as session:
        gone = session.get(AlertRecord, dropped.alert_id)
        assert (
            gone.probe_sealed is None
            and gone.subject_reference == "[purged]"
            and gone.decision == "false_alert"
        )
        assert session.get(AlertRecord, kept.alert_id).probe_sealed is not None

    with (
        gov.store.session() as session
    ):  # the evidence is released: nothing sealed remains after the next purge
        session.get(AlertRecord, kept.alert_id).probe_sealed = None
    assert purge(gov).keys_destroyed == [deployment_id]
    with gov.store.session() as session:
        assert session.get(Deployment, deployment_id).state == "purged"
    for subject_id, blob in backup:  # copies from a backup of the main database are now unreadable
        with pytest.raises(EncryptionKeyError, match="no data key"):
            gov.store.open(deployment_id, blob, f"template:{subject_id}")
    with pytest.raises(EncryptionKeyError):
        gov.store.open(deployment_id, probe_backup, f"probe:{dropped.alert_id}")


def test_alert_decisions_and_audited_probe_reads(gov, samples) -> None:
    deployment_id = live_deployment(gov, samples)
    alert = fake_alert()
    al.record(gov, deployment_id, alert)
    al.record(gov, deployment_id, alert)  # a retried write does not duplicate
    assert len(al.list_alerts(gov, deployment_id)) == 1
    with pytest.raises(PolicyViolation, match="confirm the match first"):
        al.record_outcome(gov, alert.alert_id, "arrest", "officer")
    with pytest.raises(PolicyViolation, match="decision must be one of"):
        al.decide(gov, alert.alert_id, "maybe", "operator")
    image = al.probe_image(gov, alert.alert_id, "operator", "adjudication")
    assert image.shape == (160, 160, 3) and abs(int(image[80, 80, 0]) - 200) < 10
    with gov.store.session() as session:
        actions = [e.action for e in session.scalars(select(audit.AuditEvent).order_by(audit.AuditEvent.seq))]
    assert actions[-2:] == ["alert.create", "alert.view_probe"]
    assert {
        "deployment.create",
        "subject.add",
        "deployment.authorise",
        "watchlist.approve",
        "deployment.start",
    } <= set(actions)


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_audit_chain_detects_tampering(gov, samples, tamper: str) -> None:
    live_deployment(gov, samples)
    with gov.store.session() as session:
        report = audit.verify(session)
    assert report.intact and report.events >= 5
    with gov.store.engine.begin() as connection:
        if tamper == "edit":
            connection.execute(text("UPDATE audit_events SET actor = 'someone else' WHERE seq = 3"))
        elif tamper == "delete":
            connection.execute(text("DELETE FROM audit_events WHERE seq = 3"))
        else:
            connection.execute(text("UPDATE audit_events SET seq = 1000 WHERE seq = 3"))
            connection.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = 4"))
            connection.execute(text("UPDATE audit_events SET seq = 4 WHERE seq = 1000"))
    with gov.store.session() as session:
        broken = audit.verify(session)
    assert not broken.intact and broken.broken_at == 3
    assert broken.events == 2


def test_audit_log_has_no_biometric_data(gov, samples, analyzer, yaoming) -> None:
    deployment_id = live_deployment(gov, samples)
    al.record(gov, deployment_id, fake_alert())
    template = analyzer.subject_face(yaoming).face.embedding
    with gov.store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM audit_events")).fetchall()
    dump = repr(rows).encode()
    assert template.tobytes()[:32] not in dump and b"\\xff\\xd8" not in dump
    assert all(len(repr(row)) < 2000 for row in rows)


HEAD = "0008"  # the model pack a deployment went live on, and its licence


def test_migrations_from_empty_and_from_the_previous_revision(database_url: str, tmp_path: Path) -> None:
    from openlfr.store import Store

    store = Store(database_url, f"sqlite:///{tmp_path / 'keys.sqlite'}", crypto.new_key())
    store.migrate("0001")
    assert store.revision() == "0001"
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO deployments (id, name, purpose, location_name, area_description, planned_start, "
                "planned_end, cameras, authorising_officer, legal_basis, dpia_reference, signage_confirmed, "
                "alert_threshold, state, created_by, created_at, faces_seen) VALUES "
                "('d1', 'Old', 'p', 'l', '', "
                "'2026-01-01 10:00:00+00', '2026-01-01 12:00:00+00', '[]', 'o', 'b', 'r', true, "
                "0.5, 'ended', "
                "'c', '2026-01-01 09:00:00+00', 42)"
            )
        )
    store.migrate("0003")
    with store.engine.begin() as connection:
        for number, reference in ((1, "W1"), (2, "w1\u200b ")):
            connection.execute(
                text(
                    "INSERT INTO alerts (id, deployment_id, camera, subject_reference, score, threshold, "
                    f"candidates, track_id, supporting_faces, raised_at, latency_ms) VALUES ('a{number}', "
                    "'d1', 'cam', :reference, 0.6, 0.45, '[]', 3, 2, '2026-01-01 10:30:00+00', 40.0)"
                ),
                {"reference": reference},
            )
        # two of one reference, as concurrent enrolments could once make, and a respelling of it
        for number, reference in ((1, "W1"), (2, "W1"), (3, "w1\u200b ")):
            connection.execute(
                text(
                    "INSERT INTO subjects (id, deployment_id, reference, category, reason, image_source, "
                    "image_outdated, under_18, added_by, added_at, expires_at, quality, template_sealed, "
                    f"reference_image_sealed) VALUES ('s{number}', 'd1', :reference, 'c', 'r', 'src', "
                    f"false, false, 'm', '2026-01-01 09:0{number}:00+00', '2026-01-02 00:00:00+00', 0.9, "
                    "'', '')"
                ),
                {"reference": reference},
            )
    store.migrate()
    assert store.revision() == HEAD
    with store.session() as session:
        old = session.get(Deployment, "d1")
        assert old.faces_seen == 42 and old.published is True and old.tracks_seen == 0
        alert = session.get(AlertRecord, "a1")  # an alert from before sightings is its own one sighting
        assert alert.sightings == 1 and alert.last_seen_at is not None
        assert sorted(s.alert_id for s in session.scalars(select(AlertSighting))) == ["a1", "a2"]
        kept = {s.id: s.reference for s in session.scalars(select(Subject))}
        # all kept, the later renamed, so each can be unique; an alert follows its subject's name
        assert kept == {"s1": "W1", "s2": "W1 (2)", "s3": "w1 (3)"}
        assert session.get(AlertRecord, "a2").subject_reference == "w1 (3)"
    store.dispose()


def test_migrating_an_empty_database(database_url: str, tmp_path: Path) -> None:
    from openlfr.store import Store

    store = Store(database_url, f"sqlite:///{tmp_path / 'keys.sqlite'}", crypto.new_key())
    assert store.revision() is None
    store.migrate()
    assert store.revision() == HEAD
    store.migrate()  # idempotent
    store.dispose()
