"""Faults and privacy: a database restart mid-run, a full disk, bad imports, and the passer-by canary."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from openlfr.demo.synthetic import demo_frames
from openlfr.errors import DatasetError, PolicyViolation, StoreError
from openlfr.governance import Governance, reports
from openlfr.governance import alerts as al
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.governance.alert_sink import StoreAlertSink
from openlfr.governance.live_session import open_live_session
from openlfr.live.alerts import CollectingSink, FanOutSink
from openlfr.live.runner import LiveRunner
from openlfr.store import Store, crypto
from openlfr.store.models import AlertRecord, AuditEvent, Subject
from openlfr.video import parse_source
from tests.governance_helpers import OFFICER, fake_alert, live_deployment, plan, subject
from tests.waiting import wait_for


def count_alerts(gov: Governance) -> int:
    with gov.store.session() as session:
        return session.scalar(select(func.count()).select_from(AlertRecord))


def test_alerts_survive_a_database_restart(postgres, tmp_path: Path, analyzer, samples, clock) -> None:
    url = postgres.create_database("restart")
    store = Store(url, f"sqlite:///{tmp_path / 'keys.sqlite'}", crypto.new_key())
    store.migrate()
    gov = Governance(store, analyzer.settings, clock, analyzer)
    deployment_id = live_deployment(gov, samples)
    sink = StoreAlertSink(gov, deployment_id, tmp_path / "spool", retry_interval=0.2)
    try:
        sink.emit(fake_alert())
        assert wait_for(lambda: count_alerts(gov) == 1)
        postgres.stop()  # the database goes down mid-run
        try:
            for _ in range(5):
                sink.emit(fake_alert())
            time.sleep(1.0)
            assert sink.pending() == 5 and sink.last_error
            with pytest.raises(StoreError):
                count_alerts(gov)
        finally:
            postgres.start()
        assert wait_for(lambda: sink.pending() == 0, 60), sink.last_error
        assert count_alerts(gov) == 6
    finally:
        sink.close()
        store.dispose()
    assert list((tmp_path / "spool" / deployment_id).iterdir()) == []


def test_full_spool_disk_loses_nothing(gov, samples, tmp_path: Path) -> None:
    small = tmp_path / "tiny-disk"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with (small / "filler").open("wb") as filler, contextlib.suppress(OSError):
            filler.write(b"\0" * 128 * 1024)
        deployment_id = live_deployment(gov, samples)
        sink = StoreAlertSink(gov, deployment_id, small, retry_interval=0.2)
        alerts = [fake_alert() for _ in range(3)]
        for alert in alerts:
            sink.emit(alert)
        assert sink.spool_errors == 3 and "spool write failed" in (sink.last_error or "")
        assert wait_for(lambda: count_alerts(gov) == 3)
        sink.close()
        assert not list((small / deployment_id).glob("*.part"))  # nothing half-written left behind
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_malformed_imports_are_reported_row_by_row(gov, clock, samples, tmp_path: Path) -> None:
    deployment = dep.create(gov, plan(clock.now), "planner")
    (tmp_path / "yao.jpg").write_bytes(samples["yaoming"].read_bytes())
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    good = tmp_path / "list.csv"
    good.write_text(
        "reference,category,reason,image,image_source,image_date,age,justification\n"
        "yao,wanted_on_warrant,warrant 1,yao.jpg,custody,2025-01-01,,\n"
        "ghost,wanted_on_warrant,warrant 2,missing.jpg,custody,,,\n"
        "broken,wanted_on_warrant,warrant 3,broken.jpg,custody,,,\n"
        "kid,missing_person,missing,yao.jpg,family,,12,\n"
        "baddate,wanted_on_warrant,warrant 4,yao.jpg,custody,yesterday,,\n"
    )
    enrolled, rejected = wl.import_csv(gov, deployment.id, good, "manager")
    assert len(enrolled) == 1
    reasons = dict(rejected)
    assert "no such file" in reasons[3] and "not an image" in reasons[4]
    assert ("justification" in reasons[5] and "isoformat" in reasons[6]) or "Invalid" in reasons[6]
    with gov.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("name,photo\nx,y.jpg\n")
    with pytest.raises(DatasetError, match="needs the columns"):
        wl.import_csv(gov, deployment.id, bad, "manager")
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetError):
        wl.import_csv(gov, deployment.id, bad, "manager")


def test_transparency_report_formats_and_no_personal_data(gov, clock, samples, tmp_path: Path) -> None:
    deployment_id = live_deployment(gov, samples)
    confirmed, false = fake_alert(at=clock.now), fake_alert(at=clock.now + timedelta(minutes=30))
    for alert in (confirmed, false):
        al.record(gov, deployment_id, alert)
    al.decide(gov, confirmed.alert_id, "confirmed_match", "operator")
    al.record_outcome(gov, confirmed.alert_id, "arrest", "officer")
    al.decide(gov, false.alert_id, "false_alert", "operator")
    dep.record_counts(gov, deployment_id, faces=5000, tracks=900)
    report = reports.build(gov, deployment_id)
    assert report["alerts"] == 2 and report["confirmed_alerts"] == 1 and report["false_alerts"] == 1
    assert report["outcomes"] == {"arrest": 1} and report["faces_seen"] == 5000
    assert report["people_seen"] == 900 and report["false_alert_rate"] == pytest.approx(1 / 900)
    assert report["watchlist_size"] == 1 and report["watchlist_by_category"] == {"wanted_serious_violent": 1}
    html = reports.render_html(report)
    assert "data:image/png;base64," in html and "High Street" in html
    pdf = tmp_path / "report.pdf"
    reports.render_pdf(report, pdf)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000
    for text in (str(report), html):
        assert "yao_ming" not in text  # no subject reference or candidate ever reaches a report


def byte_runs(array: np.ndarray, length: int = 48) -> list[bytes]:
    """Distinctive slices of an array's bytes (flat runs such as black borders would match anything)."""
    data = np.ascontiguousarray(array).tobytes()
    runs = [data[i : i + length] for i in range(0, len(data) - length, max(length, len(data) // 4))]
    return [run for run in runs if len(set(run)) >= 24]


def leaks(roots: list[Path], extra: list[bytes], secrets: list[bytes]) -> list[str]:
    """Every file under ``roots`` (and each extra blob) that contains any of the secret byte runs."""
    files = []
    for root in roots:
        files += [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    found = []
    for name, blob in [(str(p), p.read_bytes()) for p in files] + [
        (f"extra {i}", b) for i, b in enumerate(extra)
    ]:
        if any(secret in blob for secret in secrets):
            found.append(name)
    return found


def test_canary_no_passer_by_data_anywhere(
    gov, clock, samples, analyzer, demo_material, tmp_path: Path, caplog
) -> None:
    """Run a live deployment on a camera of people none of whom is on its watchlist, then search
    every file the system could have written for their templates and face crops."""
    caplog.set_level("DEBUG")
    deployment = dep.create(gov, plan(clock.now - timedelta(minutes=1)), "planner")
    gdp_player = tmp_path / "p.png"
    import cv2

    from openlfr.demo.synthetic import GDP_PLAYERS

    x1, y1, x2, y2 = GDP_PLAYERS["player_21"]
    gdp = cv2.imread(str(samples["gdp"]))
    cv2.imwrite(
        str(gdp_player), cv2.resize(gdp[y1:y2, x1:x2], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    )
    wl.add_subject(gov, deployment.id, subject("player_21", gdp_player), "manager")
    dep.authorise(gov, deployment.id, OFFICER)
    dep.approve_watchlist(gov, deployment.id, "inspector")
    dep.start(gov, deployment.id, "operator")

    temp_before = set(os.listdir(tempfile.gettempdir()))
    session = open_live_session(gov, deployment.id, "operator", tmp_path / "spool")
    collected = CollectingSink()
    runner = LiveRunner(
        {"cam": parse_source(str(demo_material["video"]), lossless=True)},
        analyzer,
        session.gallery,
        FanOutSink(session.sink, collected),
        session.live,
    ).start()
    assert runner.wait(120)
    runner.stop()
    session.sink.close()
    metrics = runner.status()[0].metrics
    dep.record_counts(gov, deployment.id, metrics["faces"], metrics["tracks"])
    assert collected.alerts == [] and metrics["faces"] > 100

    # What the passers-by looked like to the engine: their templates and aligned crops.
    secrets: list[bytes] = []
    for image in list(demo_frames())[::10]:
        detections = analyzer.detect(image)
        crops = analyzer.align(image, detections)
        for crop, template in zip(crops, analyzer.embedder.embed(crops), strict=True):
            secrets += byte_runs(template) + byte_runs(template.astype(np.float16)) + byte_runs(crop[40:60])
    assert len(secrets) > 100

    roots = [gov.settings.data_dir, tmp_path]
    if "sqlite" in gov.store.url:
        roots.append(Path(gov.store.url.split("///")[1]))
    new_temp = [Path(tempfile.gettempdir()) / n for n in set(os.listdir(tempfile.gettempdir())) - temp_before]
    extra = [caplog.text.encode()]
    if "postgresql" in gov.store.url:
        with gov.store.engine.connect() as connection:
            for table in ("alerts", "subjects", "audit_events", "deployments"):
                extra.append(repr(connection.exec_driver_sql(f"SELECT * FROM {table}").fetchall()).encode())
    assert leaks(roots + new_temp, extra, secrets) == []
    gov.settings.data_dir.mkdir(parents=True, exist_ok=True)
    planted = gov.settings.data_dir / "planted.bin"  # negative control: a real leak is found
    planted.write_bytes(b"header" + secrets[len(secrets) // 2] + b"trailer")
    assert leaks([gov.settings.data_dir], [], secrets) == [str(planted)]
    planted.unlink()
    with gov.store.session() as store_session:  # nothing about them is reachable through the store either
        assert store_session.scalar(select(func.count()).select_from(AlertRecord)) == 0
        assert [s.reference for s in store_session.scalars(select(Subject))] == ["player_21"]
    assert reports.build(gov, deployment.id)["faces_seen"] == metrics["faces"]


def pdf_text(pdf: bytes) -> str:
    """The text of every page, as a PDF reader extracts it."""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_reports_take_any_text_and_never_cut_it_short(gov, clock, samples, tmp_path: Path) -> None:
    purpose = " ".join(f"clause-{n}" for n in range(190)) + " END-OF-PURPOSE"  # about 2,000 characters
    assert len(purpose) <= 2000
    deployment = dep.create(
        gov, plan(clock.now, name="Cost $\\nosuchcommand$ zone", purpose=purpose), "planner"
    )
    report = reports.build(gov, deployment.id)
    assert reports.alerts_plot_png(report).startswith(b"\x89PNG")  # a "$" is a dollar, not a formula
    assert "Cost $\\nosuchcommand$ zone" in reports.render_html(report)
    pdf = tmp_path / "report.pdf"
    reports.render_pdf(report, pdf)
    text = pdf_text(pdf.read_bytes())
    flat = " ".join(text.split())  # lines wrap where the page ends them
    assert "$\\nosuchcommand$" in flat and "END-OF-PURPOSE" in flat
    assert all(f"clause-{n} " in flat for n in range(190))  # nothing in between dropped either
    foreign = dep.create(gov, plan(clock.now, name="北京 drill\tone\x07"), "planner")
    reports.render_pdf(reports.build(gov, foreign.id), pdf)
    shown = pdf_text(pdf.read_bytes())
    assert "□□ drill one" in shown  # a character the font lacks is marked, never dropped unseen…
    assert "the HTML and JSON versions of this report hold every character" in " ".join(shown.split())
    assert "北京 drill" in reports.render_html(reports.build(gov, foreign.id))  # …and is whole there


def test_a_changed_decision_needs_a_reason_and_takes_its_outcome_with_it(gov, clock, samples) -> None:
    deployment_id = live_deployment(gov, samples)
    alert = fake_alert(at=clock.now)
    al.record(gov, deployment_id, alert)
    al.decide(gov, alert.alert_id, "confirmed_match", "operator")
    al.record_outcome(gov, alert.alert_id, "arrest", "officer")
    with pytest.raises(PolicyViolation, match="needs a reason"):
        al.decide(gov, alert.alert_id, "false_alert", "operator")  # a stray keystroke
    with pytest.raises(PolicyViolation, match="needs a reason"):
        al.record_outcome(gov, alert.alert_id, "words_of_advice", "officer")
    assert (
        al.decide(gov, alert.alert_id, "confirmed_match", "operator").outcome == "arrest"
    )  # same again: no change
    changed = al.decide(gov, alert.alert_id, "false_alert", "operator", "the custody photo was of his twin")
    assert changed.decision == "false_alert" and changed.outcome is None
    report = reports.build(gov, deployment_id)
    assert report["outcomes"] == {} and report["false_alerts"] == 1 and report["confirmed_alerts"] == 0
    with pytest.raises(PolicyViolation, match="confirm the match first"):
        al.record_outcome(gov, alert.alert_id, "arrest", "officer")
    with gov.store.session() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.redecide")).one()
    assert event.details["previous"] == "confirmed_match" and event.details["outcome_withdrawn"] == "arrest"


def test_operators_deciding_one_alert_at_once_cannot_overwrite_each_other(gov, clock, samples) -> None:
    import threading

    deployment_id = live_deployment(gov, samples)
    alerts = [fake_alert(at=clock.now) for _ in range(6)]
    for alert in alerts:
        al.record(gov, deployment_id, alert)

    def state(alert_id: str):  # type: ignore[no-untyped-def]
        with gov.store.session() as session:
            return session.get(AlertRecord, alert_id)

    def at_once(*calls):  # type: ignore[no-untyped-def]
        start, results = threading.Barrier(len(calls)), []

        def run(call):  # type: ignore[no-untyped-def]
            start.wait()
            try:
                results.append(call())
            except PolicyViolation as refused:
                results.append(refused)

        threads = [threading.Thread(target=run, args=(call,)) for call in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    for alert in alerts[:3]:  # two different decisions, neither with a reason: one stands, one is refused
        results = at_once(
            lambda a=alert: al.decide(gov, a.alert_id, "confirmed_match", "operator"),
            lambda a=alert: al.decide(gov, a.alert_id, "false_alert", "operator2"),
        )
        assert sorted(type(r).__name__ for r in results) == ["AlertRecord", "PolicyViolation"]
        (kept,) = [r for r in results if not isinstance(r, PolicyViolation)]
        assert state(alert.alert_id).decision == kept.decision
    for alert in alerts[3:]:  # an outcome raced against a change away from a match
        al.decide(gov, alert.alert_id, "confirmed_match", "operator")
        at_once(
            lambda a=alert: al.record_outcome(gov, a.alert_id, "arrest", "officer"),
            lambda a=alert: al.decide(gov, a.alert_id, "false_alert", "operator2", "not him"),
        )
        final = state(alert.alert_id)
        assert final.decision == "false_alert" and final.outcome is None


def test_the_purge_and_many_retains_at_once_neither_deadlock_nor_lose_evidence(gov, clock, samples) -> None:
    import threading

    from openlfr.governance.retention import purge

    deployment_id = live_deployment(gov, samples)
    old = [fake_alert(at=clock.now) for _ in range(30)]
    for alert in old:
        al.record(gov, deployment_id, alert)
    clock.advance(days=gov.settings.governance.alert_retention_days + 1)  # all past retention
    start, failures = threading.Barrier(len(old) + 1), []

    def run(call) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        try:
            call()
        except PolicyViolation:
            pass  # the purge came first: "already purged", a clear refusal
        except Exception as exc:  # a deadlock or a database error is a failure
            failures.append(exc)

    calls = [lambda: purge(gov)] + [
        (lambda a=a: al.retain(gov, a.alert_id, "officer", "evidence in R v X")) for a in old
    ]
    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with gov.store.session() as session:
        rows = [session.get(AlertRecord, a.alert_id) for a in old]
    assert all(r.probe_sealed is not None for r in rows if r.retain_reason)  # no evidence purged


@pytest.mark.parametrize("invisible", ["", "   ", "\u200b", "\ufeff", "\u2060", "\x00", "\u3164", "\t\n"])
def test_an_invisible_reason_is_no_reason(gov, clock, samples, invisible) -> None:
    deployment_id = live_deployment(gov, samples)
    alert = fake_alert(at=clock.now)
    al.record(gov, deployment_id, alert)
    al.decide(gov, alert.alert_id, "confirmed_match", "operator")
    with pytest.raises(PolicyViolation, match="needs a reason"):
        al.decide(gov, alert.alert_id, "false_alert", "operator", invisible)
    with pytest.raises(PolicyViolation, match="needs a reason"):
        al.retain(gov, alert.alert_id, "officer", invisible)
    assert al.decide(gov, alert.alert_id, "false_alert", "operator", "不是他").decision == "false_alert"


def test_prometheus_still_reads_the_service_while_the_database_is_down(
    postgres, tmp_path: Path, analyzer
) -> None:
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from openlfr.api.service import Service
    from openlfr.settings import load_settings
    from openlfr.web import create_app

    scrape_token = "prometheus-scrape-3f9c2d"
    settings = load_settings(data_dir=tmp_path / "data", api={"metrics_token": scrape_token})
    store = Store(
        postgres.create_database("metrics"), f"sqlite:///{tmp_path / 'keys.sqlite'}", crypto.new_key()
    )
    store.migrate()
    gov = Governance(store, settings, analyzer=analyzer)
    scraper = {"Authorization": f"Bearer {scrape_token}"}

    def database_up(client: TestClient) -> float:
        answer = client.get("/metrics", headers=scraper)
        assert answer.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        return families["openlfr_database_up"].samples[0].value

    with TestClient(create_app(Service(gov, run_engines=False)), base_url="https://testserver") as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert database_up(client) == 1.0
        postgres.stop()
        try:
            assert database_up(client) == 0.0  # the outage is what the scrape shows, not a 500
        finally:
            postgres.start()
        assert database_up(client) == 1.0
