"""The governance commands end to end on the embedded SQLite store, as an operator would use them."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.errors import EncryptionKeyError, PolicyViolation
from openlfr.settings import get_settings

runner = CliRunner()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.stdout, result.stderr

    yield invoke
    get_settings.cache_clear()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


def test_operator_flow_from_plan_to_report(cli, samples, demo_material, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    code, stdout, stderr = cli(
        "deployment", "create", "--name", "Market day", "--purpose", "Wanted offenders", "--location", "Market Sq",
        "--start", iso(now - timedelta(minutes=5)), "--end", iso(now + timedelta(hours=2)), "--officer", "Supt B",
        "--legal-basis", "common law", "--dpia", "DPIA-9", "--by", "planner",
    )  # fmt: skip
    assert code == 0, stderr
    deployment = stdout.strip()
    video = str(demo_material["video"])
    code, _, stderr = cli("run", "--deployment", deployment, "--source", video, "--frame-by-frame")
    assert code == PolicyViolation.exit_code and "draft, not live" in stderr
    add = [
        "watchlist",
        "add",
        deployment,
        "--category",
        "wanted_on_warrant",
        "--reason",
        "warrant",
        "--by",
        "manager",
    ]
    code, stdout, _ = cli(
        *add, "--reference", "yao_ming", "--image", str(samples["yaoming"]), "--image-source", "custody"
    )
    assert code == 0 and "enrolled yao_ming" in stdout
    code, _, stderr = cli(
        *add, "--reference", "crowd", "--image", str(samples["players"]), "--image-source", "press"
    )
    assert code == 22 and "none clearly the subject" in stderr
    code, _, stderr = cli("deployment", "authorise", deployment, "--by", "an operator")
    assert code == PolicyViolation.exit_code and "authorising officer" in stderr
    for step in (["authorise", "--by", "Supt B"], ["approve-watchlist", "--by", "insp"], ["signage", "--by", "sgt"],
                 ["start", "--by", "op"]):  # fmt: skip
        code, _, stderr = cli("deployment", step[0], deployment, *step[1:])
        assert code == 0, stderr
    code, stdout, stderr = cli("run", "--deployment", deployment, "--source", video, "--frame-by-frame")
    assert code == 0, stderr
    assert "ALERT" in stdout and "yao_ming" in stdout
    code, stdout, _ = cli("alerts", "list", deployment, "--json")
    alerts = json.loads(stdout)
    assert [a["subject_reference"] for a in alerts] == ["yao_ming"]
    code, stdout, _ = cli("alerts", "list", deployment[:8])  # a start of the id is enough…
    assert code == 0 and alerts[0]["id"] in stdout  # …and the table shows ids whole, to copy
    assert cli("alerts", "decide", alerts[0]["id"][:8], "confirmed_match", "--by", "op")[0] == 0
    assert cli("alerts", "outcome", alerts[0]["id"], "arrest", "--by", "pc")[0] == 0
    code, _, stderr = cli("alerts", "decide", "0", "false_alert", "--by", "op")
    assert code != 0 and "no alert" in stderr.lower()
    code, stdout, _ = cli("report", deployment[:6], "--format", "json")
    report = json.loads(stdout)
    assert (
        report["confirmed_alerts"] == 1 and report["outcomes"] == {"arrest": 1} and report["faces_seen"] > 100
    )
    pdf = tmp_path / "report.pdf"
    assert cli("report", deployment, "--format", "pdf", "--output", str(pdf))[0] == 0
    assert pdf.read_bytes()[:4] == b"%PDF"
    code, stdout, _ = cli("audit", "verify")
    assert code == 0 and "intact" in stdout
    code, stdout, _ = cli("purge", "--dry-run")
    assert code == 0 and "would" in stdout

    database = tmp_path / "data" / "openlfr.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE audit_events SET reason = 'rewritten' WHERE seq = 2")
    code, _, stderr = cli("audit", "verify")
    assert code == 60 and "BROKEN at event 2" in stderr


def test_wrong_master_key_is_a_clear_error(cli, monkeypatch, samples) -> None:
    now = datetime.now(UTC)
    code, stdout, _ = cli(
        "deployment", "create", "--name", "N", "--purpose", "P", "--location", "L", "--start", iso(now),
        "--end", iso(now + timedelta(hours=1)), "--officer", "O", "--legal-basis", "B", "--dpia", "D", "--by", "x",
    )  # fmt: skip
    assert code == 0
    monkeypatch.setenv("OPENLFR_MASTER_KEY", base64.b64encode(b"k" * 32).decode())
    get_settings.cache_clear()
    code, _, stderr = cli(
        "watchlist", "add", stdout.strip(), "--reference", "r", "--category", "wanted_on_warrant", "--reason", "w",
        "--image", str(samples["yaoming"]), "--image-source", "s", "--by", "m",
    )  # fmt: skip
    assert code == EncryptionKeyError.exit_code and "master key" in stderr
    monkeypatch.setenv("OPENLFR_MASTER_KEY", "not base64!")
    get_settings.cache_clear()
    code, _, stderr = cli("deployment", "list")
    assert code == EncryptionKeyError.exit_code and "base64" in stderr
