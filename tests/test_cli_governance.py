"""The governance commands end to end on the embedded SQLite store, each done by the signed-in user
whose role may do it."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.errors import (
    AuditChainBroken,
    EncryptionKeyError,
    NotAllowedError,
    PolicyViolation,
)
from openlfr.governance import Governance
from openlfr.settings import get_settings
from openlfr.store import open_store
from openlfr.store.models import AuditEvent
from tests.cli_support import invoke, sign_in


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield invoke
    get_settings.cache_clear()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def actors_of(action: str) -> list[str]:
    settings = get_settings()
    with Governance(open_store(settings), settings).store.session() as session:
        return list(session.scalars(select(AuditEvent.actor).where(AuditEvent.action == action)))


def test_operator_flow_from_plan_to_report(cli, samples, demo_material, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    sign_in("planner", "watchlist_manager")
    code, stdout, stderr = cli(
        "deployment", "create", "--name", "Market day", "--purpose", "Wanted offenders", "--location", "Market Sq",
        "--start", iso(now - timedelta(minutes=5)), "--end", iso(now + timedelta(hours=2)), "--officer", "supt_b",
        "--legal-basis", "common law", "--dpia", "DPIA-9",
    )  # fmt: skip
    assert code == 0, stderr
    deployment = stdout.strip()
    video = str(demo_material["video"])
    sign_in("op", "operator")
    code, _, stderr = cli("run", "--deployment", deployment, "--source", video, "--frame-by-frame")
    assert code == PolicyViolation.exit_code and "draft, not live" in stderr
    add = ["watchlist", "add", deployment, "--category", "wanted_on_warrant", "--reason", "warrant"]
    yao = ["--reference", "yao_ming", "--image", str(samples["yaoming"]), "--image-source", "custody"]
    code, _, stderr = cli(*add, *yao)  # the operator may not enrol
    assert code == NotAllowedError.exit_code and "watchlist.enrol" in stderr
    sign_in("planner", "watchlist_manager")
    code, stdout, _ = cli(*add, *yao)
    assert code == 0 and "enrolled yao_ming" in stdout
    code, _, stderr = cli(
        *add, "--reference", "crowd", "--image", str(samples["players"]), "--image-source", "press"
    )
    assert code == 22 and "none clearly the subject" in stderr
    sign_in("insp", "authorising_officer")  # an authorising officer, but not the one named
    code, _, stderr = cli("deployment", "authorise", deployment)
    assert code == PolicyViolation.exit_code and "authorising officer" in stderr
    sign_in("supt_b", "authorising_officer")
    for step in ("authorise", "approve-watchlist"):
        code, _, stderr = cli("deployment", step, deployment)
        assert code == 0, stderr
    sign_in("op", "operator")
    for step in ("signage", "start"):
        code, _, stderr = cli("deployment", step, deployment)
        assert code == 0, stderr
    code, stdout, stderr = cli("run", "--deployment", deployment[:8], "--source", video, "--frame-by-frame")
    assert code == 0, stderr
    assert "ALERT" in stdout and "yao_ming" in stdout
    code, stdout, _ = cli("alerts", "list", deployment, "--json")
    alerts = json.loads(stdout)
    assert [a["subject_reference"] for a in alerts] == ["yao_ming"]
    code, stdout, _ = cli("alerts", "list", deployment[:8])  # a start of the id is enough…
    assert code == 0 and alerts[0]["id"] in stdout  # …and the table shows ids whole, to copy
    assert cli("alerts", "decide", alerts[0]["id"][:8], "confirmed_match")[0] == 0
    assert cli("alerts", "outcome", alerts[0]["id"], "arrest")[0] == 0
    code, _, stderr = cli("alerts", "decide", "0", "false_alert")
    assert code != 0 and "no alert" in stderr.lower()
    code, stdout, _ = cli("report", deployment[:6], "--format", "json")
    report = json.loads(stdout)
    assert (
        report["confirmed_alerts"] == 1 and report["outcomes"] == {"arrest": 1} and report["faces_seen"] > 100
    )
    pdf = tmp_path / "report.pdf"
    assert cli("report", deployment, "--format", "pdf", "--output", str(pdf))[0] == 0
    assert pdf.read_bytes()[:4] == b"%PDF"
    code, _, stderr = cli("audit", "verify")  # operators do not read the audit trail
    assert code == NotAllowedError.exit_code
    # the audit trail names the people signed in, whatever else was typed
    assert actors_of("deployment.create") == ["planner"]
    assert actors_of("deployment.authorise") == ["supt_b"]
    assert actors_of("deployment.start") == ["op"]
    assert actors_of("alert.adjudicate") == actors_of("alert.outcome") == ["op"]
    sign_in("auditor", "auditor")
    code, stdout, _ = cli("audit", "verify")
    assert code == 0 and "intact" in stdout
    code, stdout, _ = cli("audit", "log", "--limit", "200")
    assert code == 0 and "Market day" in stdout  # objects by name, not by a cut id
    assert "model_pack: buffalo_s" in stdout and "research_use: True" in stdout  # what went live on what
    code, _, stderr = cli("purge", "--dry-run")
    assert code == NotAllowedError.exit_code and "purge.run" in stderr
    sign_in("admin", "admin")
    code, stdout, _ = cli("purge", "--dry-run")
    assert code == 0 and "would" in stdout

    database = tmp_path / "data" / "openlfr.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE audit_events SET reason = 'rewritten' WHERE seq = 2")
    code, _, stderr = cli("audit", "verify")
    assert code == AuditChainBroken.exit_code == 60 and "BROKEN at event 2" in stderr


def test_wrong_master_key_is_a_clear_error(cli, monkeypatch, samples) -> None:
    now = datetime.now(UTC)
    sign_in("m", "watchlist_manager")
    code, stdout, _ = cli(
        "deployment", "create", "--name", "N", "--purpose", "P", "--location", "L", "--start", iso(now),
        "--end", iso(now + timedelta(hours=1)), "--officer", "O", "--legal-basis", "B", "--dpia", "D",
    )  # fmt: skip
    assert code == 0
    monkeypatch.setenv("OPENLFR_MASTER_KEY", base64.b64encode(b"k" * 32).decode())
    get_settings.cache_clear()
    code, _, stderr = cli(
        "watchlist", "add", stdout.strip(), "--reference", "r", "--category", "wanted_on_warrant", "--reason", "w",
        "--image", str(samples["yaoming"]), "--image-source", "s",
    )  # fmt: skip
    assert code == EncryptionKeyError.exit_code and "master key" in stderr
    monkeypatch.setenv("OPENLFR_MASTER_KEY", "not base64!")
    get_settings.cache_clear()
    code, _, stderr = cli("deployment", "list")
    assert code == EncryptionKeyError.exit_code and "base64" in stderr
