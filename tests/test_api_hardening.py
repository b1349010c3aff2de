"""Smaller promises under attack: weak passwords, forged client addresses, formulas in CSV cells,
login CSRF, file permissions, half-written spool files, and an audit trail cut short or rewritten."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from openlfr.errors import PolicyViolation
from openlfr.governance import accounts, audit
from openlfr.governance import deployments as dep
from openlfr.governance.alert_sink import StoreAlertSink
from openlfr.store.models import AuditEvent
from tests.api_support import (
    OFFICER,
    PASSWORD,
    bearer,
    draft_deployment,
    live_server,
    make_app,
    make_gov,
    token,
)
from tests.governance_helpers import live_deployment
from tests.waiting import wait_for


@pytest.mark.parametrize(
    "weak",
    [
        "aaaaaaaaaa",
        "password12",
        "Password2026!",
        "qwertyuiop",
        "1234567890",
        "newuser-2026",
        "P@ssw0rd!!",
        "1q2w3e4r5t",
        "qazwsxedc123",
        "Summer2024!!",
        "0" * 100,
    ],
)
def test_weak_passwords_are_refused(tmp_path, analyzer, weak) -> None:
    gov = make_gov(tmp_path, analyzer, users=False)
    with pytest.raises(PolicyViolation, match="choose another password"):
        accounts.create_user(gov, "newuser", weak, "operator", "admin")
    accounts.create_user(gov, "newuser", "tidy otter under nine bridges", "operator", "admin")


def test_a_long_passphrase_is_judged_by_its_first_72_characters(tmp_path, analyzer) -> None:
    gov = make_gov(tmp_path, analyzer, users=False)
    long_phrase = "tidy otter under nine bridges " * 6  # 180 characters
    user = accounts.create_user(gov, "newuser", long_phrase, "operator", "admin")
    assert user.username == "newuser"


def test_a_forged_forwarded_address_does_not_dodge_the_lockout(tmp_path, analyzer) -> None:
    gov = make_gov(tmp_path, analyzer)  # no trusted proxies: the connection's own address counts
    with live_server(make_app(gov)) as url, httpx.Client(base_url=url) as client:
        codes = [
            client.post(
                "/api/auth/login",
                json={"username": "operator", "password": "not the password"},
                headers={"X-Forwarded-For": f"10.9.8.{n}"},
            ).status_code
            for n in range(7)
        ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


def test_public_csv_cells_never_run_as_formulas(tmp_path, analyzer, clock) -> None:
    gov = make_gov(tmp_path, analyzer, clock=clock)
    deployment_id = draft_deployment(gov, name='=HYPERLINK("https://evil.example","click")', purpose="+1+1")
    dep.authorise(gov, deployment_id, OFFICER, "necessary")
    with TestClient(make_app(gov)) as client:
        rows = list(csv.DictReader(io.StringIO(client.get("/public/deployments.csv").text)))
    assert rows[0]["name"].startswith("'=") and rows[0]["purpose"] == "'+1+1"


def test_a_carriage_return_in_a_public_field_starts_no_formula(tmp_path, analyzer, clock) -> None:
    import re

    gov = make_gov(tmp_path, analyzer, clock=clock)
    name = 'ok\r=HYPERLINK("https://evil.example","click")'
    deployment_id = draft_deployment(gov, name=name, location_name="High St\r\n+1+1\n-2+3")
    dep.authorise(gov, deployment_id, OFFICER, "necessary")
    with TestClient(make_app(gov)) as client:
        text = client.get("/public/deployments.csv").text
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    lines = [line for cell in cells for line in re.split(r"\r\n|\r|\n", cell)]
    assert 'ok\r\'=HYPERLINK("https://evil.example","click")' in cells  # kept whole, made inert
    assert not [line for line in lines if line.lstrip(" ").startswith(("=", "+", "-", "@"))]
    records = re.split(r"\r\n|\r|\n", text)  # how a spreadsheet that ends a record at a CR splits
    assert all(record.startswith(('"', "'")) for record in records if record)


def test_another_site_cannot_sign_a_visitor_in(tmp_path, analyzer) -> None:
    gov = make_gov(tmp_path, analyzer, secure_cookies=False)
    form = {"username": "operator", "password": PASSWORD}
    with TestClient(make_app(gov), base_url="http://testserver") as client:
        forged = client.post(
            "/login", data=form, headers={"Origin": "https://evil.example"}, follow_redirects=False
        )
        assert forged.status_code == 403 or "openlfr_session" not in forged.cookies
        api = client.post("/api/auth/login", json=form, headers={"Origin": "https://evil.example"})
        assert api.status_code == 403
        ours = client.post(
            "/login", data=form, headers={"Origin": "http://testserver"}, follow_redirects=False
        )
        assert ours.status_code == 303 and "openlfr_session" in ours.cookies
        assert client.post("/api/auth/login", json=form).status_code == 200  # a script sends no Origin
        cross_site = {"Sec-Fetch-Site": "cross-site"}  # the browser's own word, whatever the Origin
        assert client.post("/api/auth/login", json=form, headers=cross_site).status_code == 403
        # a page with a strict referrer policy posts Origin: null; the browser still says same-origin
        own_page = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
        assert client.post("/api/auth/login", json=form, headers=own_page).status_code == 200
        assert client.post("/api/auth/login", json=form, headers={"Origin": "null"}).status_code == 403


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_the_owners_alone_and_half_written_spool_files_go(tmp_path, analyzer, samples) -> None:
    from openlfr.settings import load_settings
    from openlfr.store import open_store

    settings = load_settings(data_dir=tmp_path / "data")
    from openlfr.governance import Governance

    gov = Governance(open_store(settings), settings, analyzer=analyzer)
    deployment_id = live_deployment(gov, samples)
    spool = settings.data_dir / "spool" / deployment_id
    spool.mkdir(parents=True)
    (spool / "123.0-abc.alert.part").write_bytes(b"half an alert")  # what a kill -9 leaves
    sink = StoreAlertSink(gov, deployment_id, settings.data_dir / "spool")
    sink.close()
    assert not list(spool.glob("*.part"))
    assert mode(settings.data_dir) == 0o700 and mode(spool) == 0o700
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"openlfr.sqlite", "keys.sqlite", "master.key"}
    assert {p.name: oct(mode(p)) for p in files if mode(p) & 0o077} == {}
    gov.store.dispose()


def test_folders_made_on_the_way_are_private_and_a_starting_service_clears_old_half_writes(
    tmp_path, analyzer
) -> None:
    import fcntl
    import os

    import numpy as np

    from openlfr.search.gallery import GalleryStore

    old_mask = os.umask(0o022)
    try:
        gov = make_gov(tmp_path, analyzer)
        GalleryStore(gov, "custody").write(["a"], ["c"], np.eye(1, 512, dtype=np.float32), "admin", "build")
        data = gov.settings.data_dir
        for folder in (data / "galleries", data / "galleries" / "custody"):
            assert mode(folder) == 0o700, folder
        stale = [
            data / "spool" / "ended-deployment" / "1.0-x.alert.part",
            data / "galleries" / "custody" / "t.part",
        ]
        for path in stale:  # a kill -9 a moment ago: written, never renamed, no one holding it
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"half a face template")
        writing = data / "galleries" / "custody" / "being-written.part"  # another process, mid-write
        handle = os.open(writing, os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            with TestClient(make_app(gov), base_url="https://testserver"):
                assert wait_for(lambda: not any(p.exists() for p in stale), 5.0)
            assert writing.exists()
        finally:
            os.close(handle)
    finally:
        os.umask(old_mask)


def test_a_published_head_catches_a_trail_cut_short_or_rewritten(tmp_path, analyzer, clock) -> None:
    gov = make_gov(tmp_path, analyzer, clock=clock)
    for hours in range(4):  # some history
        draft_deployment(gov, name=f"Deployment {hours}")
        clock.advance(hours=1)
    with TestClient(make_app(gov)) as client:
        published = client.get("/public/audit-head").json()["head"]
        assert published in client.get("/public").text
        verified = client.get(f"/api/audit/verify?head={published}", headers=bearer(token(gov, "auditor")))
        assert verified.json()["intact"]
    head = audit.parse_head(published)

    with gov.store.session() as session:  # someone rewrites an event and re-hashes everything after it
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        events[1].reason = "nothing to see"
        previous = events[0].hash
        for event in events[1:]:
            event.prev_hash, event.hash = previous, None
            event.hash = previous = audit.event_hash(event)
    with gov.store.session() as session:
        assert audit.verify(session).intact  # every link holds...
        rewritten = audit.verify(session, head)  # ...but not the published head
        head = audit.head(session)
    assert not rewritten.intact and "rewritten" in rewritten.problem

    with gov.store.session() as session:  # or deletes the newest events
        session.execute(delete(AuditEvent).where(AuditEvent.seq > head[0] - 2))
    with gov.store.session() as session:
        assert audit.verify(session).intact
        cut = audit.verify(session, head)
    assert not cut.intact and "removed" in cut.problem


def test_eight_enrolments_of_one_reference_at_once_make_one_subject(
    tmp_path, analyzer, samples, astronaut
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from openlfr.store.models import Subject

    gov = make_gov(tmp_path, analyzer, image_concurrency=8)
    deployment_id = draft_deployment(gov)
    photos = [samples["yaoming"].read_bytes(), cv2.imencode(".jpg", astronaut)[1].tobytes()]
    manager = bearer(token(gov, "watchlist_manager"))
    form = {
        "reference": "W-1",
        "category": "wanted_on_warrant",
        "reason": "warrant",
        "image_source": "custody",
    }
    with live_server(make_app(gov)) as url:

        def enrol(number: int) -> int:
            files = {"image": (f"p{number}.jpg", photos[number % 2])}
            with httpx.Client(base_url=url, timeout=60) as client:
                response = client.post(
                    f"/api/deployments/{deployment_id}/subjects", data=form, files=files, headers=manager
                )
                return response.status_code

        with ThreadPoolExecutor(8) as pool:
            codes = sorted(pool.map(enrol, range(8)))
    assert codes == [201] + [409] * 7
    with gov.store.session() as session:
        assert len(session.scalars(select(Subject).where(Subject.reference == "W-1")).all()) == 1


def test_a_reference_respelt_is_refused_as_the_same_subject(tmp_path, analyzer, samples) -> None:
    import unicodedata

    gov = make_gov(tmp_path, analyzer)
    deployment_id = draft_deployment(gov)
    photo = samples["yaoming"].read_bytes()
    form = {"category": "wanted_on_warrant", "reason": "warrant", "image_source": "custody"}
    variants = [
        "AB 123",
        "ab 123",
        "AB  123 ",
        "A\u200bB 123",
        unicodedata.normalize("NFC", "Jos\u00e9 7"),
        unicodedata.normalize("NFD", "Jos\u00e9 7"),
        " JOS\u00c9\u00a07",
    ]
    with TestClient(make_app(gov)) as client:
        codes = [
            client.post(
                f"/api/deployments/{deployment_id}/subjects",
                data={**form, "reference": reference},
                files={"image": ("p.jpg", photo)},
                headers=bearer(token(gov, "watchlist_manager")),
            ).status_code
            for reference in variants
        ]
        subjects = client.get(
            f"/api/deployments/{deployment_id}/subjects", headers=bearer(token(gov, "watchlist_manager"))
        ).json()
    assert codes == [201, 409, 409, 409, 201, 409, 409]
    assert sorted(s["reference"] for s in subjects) == ["AB 123", "Jos\u00e9 7"]


@pytest.mark.parametrize("checks_at_once", [1, 4])
def test_sign_ins_sent_all_at_once_get_no_more_password_checks_than_the_lockout_allows(
    tmp_path, analyzer, checks_at_once
) -> None:
    import asyncio
    from collections import Counter

    gov = make_gov(tmp_path, analyzer, login_queue_seconds=10, login_concurrency=checks_at_once)
    with live_server(make_app(gov)) as url:

        async def attempt(client: httpx.AsyncClient, number: int) -> int:
            body = {"username": "operator", "password": f"wrong guess {number}"}
            return (await client.post("/api/auth/login", json=body)).status_code

        async def flood() -> list[int]:
            async with httpx.AsyncClient(
                base_url=url, timeout=60, limits=httpx.Limits(max_connections=60)
            ) as c:
                return list(await asyncio.gather(*(attempt(c, n) for n in range(60))))

        codes = Counter(asyncio.run(flood()))
    assert codes[401] == 5 and codes[401] + codes[429] + codes[503] == 60  # five checks, then locked out


def test_a_password_too_long_to_sign_in_with_is_refused_when_it_is_set(tmp_path, analyzer) -> None:
    gov = make_gov(tmp_path, analyzer, users=False)
    with pytest.raises(PolicyViolation, match="at most 200 characters"):
        accounts.create_user(gov, "newuser", "tidy otter under nine bridges " * 9, "operator", "admin")
    with pytest.raises(PolicyViolation, match="role must be one of"):
        accounts.check_new_user(gov, "newuser", "superuser")  # the CLI asks for no password before this


def test_the_audit_trail_is_filtered_named_and_exported(tmp_path, analyzer, clock) -> None:
    from datetime import timedelta

    gov = make_gov(tmp_path, analyzer, clock=clock)
    early = draft_deployment(gov, name="Early street")
    clock.advance(hours=2)
    later = draft_deployment(gov, name="=Later street")
    with TestClient(make_app(gov), base_url="https://testserver") as client:
        auditor = bearer(token(gov, "auditor"))
        since = (clock.now + timedelta(minutes=-1)).isoformat()
        found = client.get(
            "/api/audit", params={"action": "deployment.", "since": since}, headers=auditor
        ).json()
        assert [(e["object_id"], e["object_name"]) for e in found] == [(later, "=Later street")]
        everyone = client.get("/api/audit", params={"object_type": "deployment"}, headers=auditor).json()
        assert {e["object_name"] for e in everyone} == {"Early street", "=Later street"} and early
        exported = client.get("/api/audit.csv", params={"object_type": "deployment"}, headers=auditor)
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert {r["object_name"] for r in rows} == {"Early street", "'=Later street"}  # never a formula
        assert client.get("/api/audit.csv", headers=bearer(token(gov, "operator"))).status_code == 403


def test_a_field_officer_sees_only_confirmed_alerts_of_their_own_deployments(
    tmp_path, analyzer, samples
) -> None:
    from openlfr.governance import alerts as al
    from tests.governance_helpers import fake_alert

    gov = make_gov(tmp_path, analyzer)
    accounts.create_user(gov, "pc-jones", PASSWORD, "field_officer", "admin")
    mine, other = live_deployment(gov, samples), live_deployment(gov, samples)
    dep.assign_field_officers(gov, mine, ["pc-jones"], "officer", "this operation")
    with pytest.raises(PolicyViolation, match="not field officers"):
        dep.assign_field_officers(gov, mine, ["operator"], "officer")
    alerts = {}
    for name, deployment_id, decision in (
        ("confirmed", mine, "confirmed_match"),
        ("open", mine, None),
        ("false", mine, "false_alert"),
        ("elsewhere", other, "confirmed_match"),
    ):
        alert = fake_alert()
        al.record(gov, deployment_id, alert)
        if decision:
            al.decide(gov, alert.alert_id, decision, "operator")
        alerts[name] = alert.alert_id
    with TestClient(make_app(gov), base_url="https://testserver") as client:
        field = bearer(token(gov, "pc-jones"))
        listed = client.get("/api/field/alerts", headers=field).json()
        assert [a["id"] for a in listed] == [alerts["confirmed"]]
        for name in ("open", "false", "elsewhere"):
            for path in ("probe.jpg", "reference.jpg"):
                assert (
                    client.get(f"/api/field/alerts/{alerts[name]}/{path}", headers=field).status_code == 404
                )
            refused = client.post(
                f"/api/field/alerts/{alerts[name]}/outcome", json={"outcome": "arrest"}, headers=field
            )
            assert refused.status_code == 404
        assert (
            client.get(f"/api/field/alerts/{alerts['confirmed']}/probe.jpg", headers=field).status_code == 200
        )
        assert client.get("/api/alerts", headers=field).status_code == 403  # not the operator's queue
        assert (
            client.post(
                f"/api/alerts/{alerts['open']}/decision", json={"decision": "false_alert"}, headers=field
            ).status_code
            == 403
        )
        assert client.get("/api/field/alerts", headers=bearer(token(gov, "operator"))).status_code == 403


def test_a_field_officer_loses_sight_of_a_deployment_once_it_ends(tmp_path, analyzer, samples) -> None:
    from openlfr.governance import alerts as al
    from tests.governance_helpers import fake_alert

    gov = make_gov(tmp_path, analyzer)
    accounts.create_user(gov, "pc-jones", PASSWORD, "field_officer", "admin")
    deployment_id = live_deployment(gov, samples)
    dep.assign_field_officers(gov, deployment_id, ["pc-jones"], "officer", "this operation")
    alert = fake_alert()
    al.record(gov, deployment_id, alert)
    al.decide(gov, alert.alert_id, "confirmed_match", "operator")
    with TestClient(make_app(gov), base_url="https://testserver") as client:
        field = bearer(token(gov, "pc-jones"))
        assert [a["id"] for a in client.get("/api/field/alerts", headers=field).json()] == [alert.alert_id]
        dep.end(gov, deployment_id, "operator", "operation over")
        assert client.get("/api/field/alerts", headers=field).json() == []
        assert client.get(f"/api/field/alerts/{alert.alert_id}/probe.jpg", headers=field).status_code == 404
