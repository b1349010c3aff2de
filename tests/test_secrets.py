"""Secrets in settings reach no one: not an auditor's view of the settings, not the audit trail,
not a log line, not an error message. Tested with real secrets in every secret-bearing setting."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openlfr.api.service import Service
from openlfr.cli import app
from openlfr.governance import Governance, accounts
from openlfr.governance.permissions import ROLES
from openlfr.redaction import RedactingFilter, redact_text, redact_url
from openlfr.settings import get_settings, load_settings
from openlfr.store import open_store
from openlfr.store.crypto import new_key
from openlfr.store.models import AuditEvent
from openlfr.web import create_app
from tests.api_support import PASSWORD, bearer, token

DB_PASSWORD = "Db-Pa55word-4411"
HOOK_PASSWORD = "Hook-Pa55word-7702"
HOOK_TOKEN = "tok_9f8e7d6c5b4a"
HOOK_SECRET = "whsec-Sign1ng-Secret"
HOOK_PATH = "HookPath7702"  # too short to look like a token: the webhook's whole path is hidden
SECRETS = (DB_PASSWORD, HOOK_PASSWORD, HOOK_TOKEN, HOOK_SECRET, HOOK_PATH)


@pytest.fixture
def secret_settings(postgres, tmp_path):  # type: ignore[no-untyped-def]
    url = postgres.create_database("secrets").replace("postgres@", f"postgres:{DB_PASSWORD}@")
    master = base64.b64encode(new_key()).decode()
    return load_settings(
        data_dir=tmp_path / "data",
        master_key=master,
        store={"url": url},
        api={
            "webhook_url": (
                f"https://hooks:{HOOK_PASSWORD}@hooks.invalid/in/{HOOK_PATH}?token={HOOK_TOKEN}&team=7"
            ),
            "webhook_secret": HOOK_SECRET,
        },
    ), master


def leaks(text: str, master: str) -> list[str]:
    return [secret for secret in (*SECRETS, master) if secret in text]


def test_no_secret_in_the_settings_view_the_audit_trail_or_the_logs(
    secret_settings, analyzer, caplog
) -> None:
    settings, master = secret_settings
    gov = Governance(open_store(settings), settings, analyzer=analyzer)
    for role in ROLES:
        accounts.create_user(gov, role, PASSWORD, role, "test-setup")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO), TestClient(create_app(Service(gov, run_engines=False))) as client:
        view = client.get("/api/settings", headers=bearer(token(gov, "auditor")))
        assert view.status_code == 200
        shown = json.dumps(view.json())
        assert leaks(shown, master) == []
        assert "postgres:***@" in shown and "token=***" in shown and "hooks:***@" in shown
        logging.getLogger("openlfr.test").warning("connecting to %s", settings.database_url())
    with gov.store.session() as session:
        trail = json.dumps([e.details for e in session.query(AuditEvent).all()], default=str)
    assert leaks(trail, master) == []
    assert leaks(caplog.text, master) == [] and "postgres:***@" in caplog.text
    gov.store.dispose()


def test_an_error_naming_the_database_shows_no_password(tmp_path, monkeypatch) -> None:
    refused = f"postgresql+psycopg://lfr:{DB_PASSWORD}@127.0.0.1:1/openlfr"  # nothing listens on port 1
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENLFR_STORE__URL", refused)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["deployment", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert DB_PASSWORD not in result.output and DB_PASSWORD not in redact_text(refused)


@pytest.mark.parametrize(
    ("url", "secret", "shown"),
    [
        ("rtsp://admin:pa/ss#w?rd@10.0.0.5/stream", "pa/ss#w?rd", "rtsp://admin:***@10.0.0.5/stream"),
        ("rtsp://admin:p@ss@10.0.0.5:554/s", "p@ss", "rtsp://admin:***@10.0.0.5:554/s"),
        (
            "postgresql+psycopg://lfr:S3cr?et@db.internal/openlfr",
            "S3cr?et",
            "postgresql+psycopg://lfr:***@db.internal/openlfr",
        ),
        (
            "http://cam.local/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&PWD=Zq81mm",
            "Zq81mm",
            "http://cam.local/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&PWD=***",
        ),
        (
            "https://h.example/x?Signature=abc123&sig=s1g&page=2",
            "abc123",
            "https://h.example/x?Signature=***&sig=***&page=2",
        ),
        (
            "https://h.example/x?api_key=k3y&access_token=t0k",
            "t0k",
            "https://h.example/x?api_key=***&access_token=***",
        ),
        (
            "https://hooks.example/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "XXXXXXXXXXXXXXXXXXXXXXXX",
            "https://hooks.example/services/T000/B000/***",
        ),
        ("https://hooks.example/in/abcd1234efgh5678", "abcd1234efgh5678", "https://hooks.example/in/***"),
        ("https://hook.example/#access_token=S3cret", "S3cret", "https://hook.example/#***"),
        (  # a token as a file's name: the extension may show, the token not
            "http://h/cam/S3cretS3cretS3cretS3cret.mjpg",
            "S3cretS3cret",
            "http://h/cam/***.mjpg",
        ),
    ],
)
def test_passwords_tokens_and_fragments_in_urls_are_hidden(url: str, secret: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert secret not in redact_text(f"cannot open '{url}': refused") and shown in redact_text(
        f"at {url} now"
    )


def test_urls_without_secrets_are_shown_as_written() -> None:
    for url in (
        "rtsp://host/no-credentials",
        "rtsp://cam.local:554/Streaming/Channels/101?transport=tcp",
        "sqlite:////var/lib/openlfr/openlfr_data_2024_archive/openlfr.sqlite",  # a local path: no token
        "https://example.org/list?email=someone@example.org",  # an '@' in the query is no user part
    ):
        assert redact_url(url) == url


def test_an_ffmpeg_error_quoting_the_camera_uri_shows_no_password() -> None:
    import av

    from openlfr.video.sources import _classify, parse_source

    uri = "rtsp://admin:Pa/ss#w?rd'q@10.0.0.5:554/stream"
    spec = parse_source(uri)
    invalid = av.error.InvalidDataError(1094995529, "Invalid data found when processing input", uri)
    other = OSError(f"Server returned 404 Not Found for {uri}")
    for error in (_classify(spec, invalid), _classify(spec, other)):
        assert "Pa/ss" not in str(error) and "rd'q" not in str(error)
        assert "rtsp://admin:***@10.0.0.5:554/stream" in str(error)
