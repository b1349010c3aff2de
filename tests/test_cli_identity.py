"""The `openlfr` command acts as a signed-in user: who may do what is the same table the console
uses, and the audit trail names whoever really acted."""

from __future__ import annotations

import getpass
import shutil
import stat
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.cli.identity import session_file
from openlfr.errors import NotAllowedError, NotSignedInError, PolicyViolation
from openlfr.governance import Governance, accounts
from openlfr.settings import get_settings
from openlfr.store import open_store
from openlfr.store.models import AuditEvent, User, WebSession
from tests.cli_support import PASSWORD, invoke, sign_in


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def governance() -> Governance:
    settings = get_settings()
    return Governance(open_store(settings), settings)


def audit_rows(action: str) -> list[AuditEvent]:
    with governance().store.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_nobody_signed_in_is_refused_with_the_way_out(store_dir: Path) -> None:
    for command in (["deployment", "list"], ["purge", "--dry-run"], ["audit", "log"], ["whoami"]):
        code, _, stderr = invoke(*command)
        assert code == NotSignedInError.exit_code and "openlfr login" in stderr, command


def test_the_first_account_is_an_administrator_made_at_the_terminal(store_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENLFR_NEW_PASSWORD", PASSWORD)
    code, _, stderr = invoke("users", "add", "first", "--role", "operator")
    assert code == PolicyViolation.exit_code and "administrator" in stderr
    code, stdout, stderr = invoke("users", "add", "root", "--role", "admin")
    assert code == 0, stderr
    assert [e.actor for e in audit_rows("user.create")] == [f"bootstrap:{getpass.getuser()}"]
    code, _, stderr = invoke("users", "add", "second", "--role", "admin")  # no longer a first account
    assert code == NotSignedInError.exit_code
    sign_in("root", "admin")
    code, _, stderr = invoke("users", "add", "op", "--role", "nobody")  # checked before any password
    assert code == PolicyViolation.exit_code and "role must be one of" in stderr
    assert invoke("users", "add", "op", "--role", "operator")[0] == 0
    assert [e.actor for e in audit_rows("user.create")][-1] == "root"
    code, stdout, _ = invoke("users", "list")
    assert code == 0 and "op" in stdout and "operator" in stdout
    sign_in("op", "operator")
    code, _, stderr = invoke("users", "add", "intruder", "--role", "admin")
    assert code == NotAllowedError.exit_code and "users.manage" in stderr


def test_login_keeps_a_private_revocable_secret_and_never_the_password(store_dir: Path) -> None:
    gov = governance()
    accounts.create_user(gov, "op", PASSWORD, "operator", "setup")
    code, _, stderr = invoke("login", "op", "--password-stdin", input="wrong password here\n")
    assert code == NotSignedInError.exit_code and "wrong user name or password" in stderr
    path = session_file(gov.settings)
    assert not path.exists()
    sign_in("op", "operator")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert PASSWORD not in path.read_text()
    assert not path.is_relative_to(store_dir)  # not in the data folder other OS users may share
    code, stdout, _ = invoke("whoami")
    assert code == 0 and "op (operator)" in stdout
    assert [e.details.get("via") for e in audit_rows("session.login")] == ["cli"]
    kept = path.read_text()
    assert invoke("logout")[0] == 0
    path.write_text(kept)  # a copy of the file taken before signing out is worth nothing
    code, _, stderr = invoke("whoami")
    assert code == NotSignedInError.exit_code and "ended" in stderr
    with gov.store.session() as session:
        assert all(row.revoked_at is not None for row in session.scalars(select(WebSession)))


def test_disabling_a_user_ends_their_terminal_sign_in_at_once(store_dir: Path) -> None:
    sign_in("op", "operator")
    gov = governance()
    with gov.store.session() as session:
        op = session.scalar(select(User.id).where(User.username == "op"))
    accounts.set_active(gov, op, False, "admin")
    code, _, _ = invoke("alerts", "list", "anything")
    assert code == NotSignedInError.exit_code


def test_an_idle_terminal_is_signed_out(store_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENLFR_API__SESSION_IDLE_MINUTES", "0.005")  # 0.3 s
    get_settings.cache_clear()
    sign_in("op", "operator")
    assert invoke("whoami")[0] == 0
    time.sleep(0.6)
    code, _, stderr = invoke("whoami")
    assert code == NotSignedInError.exit_code and "ended" in stderr


def test_a_sign_in_belongs_to_one_store(store_dir: Path, tmp_path: Path, monkeypatch) -> None:
    sign_in("op", "operator")
    first = session_file(get_settings())
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "other"))
    get_settings.cache_clear()
    governance()  # the other store exists, with no such session
    assert invoke("whoami")[0] == NotSignedInError.exit_code
    shutil.copy(first, session_file(get_settings()))  # nor does a copied session file open it
    assert invoke("whoami")[0] == NotSignedInError.exit_code


def test_scripts_act_with_an_api_token(store_dir: Path, monkeypatch) -> None:
    gov = governance()
    user = accounts.create_user(gov, "auditor", PASSWORD, "auditor", "setup")
    principal = accounts.Principal(user.id, user.username, user.role, "session")
    row, secret = accounts.create_token(gov, principal, "nightly audit check")
    monkeypatch.setenv("OPENLFR_TOKEN", secret)
    code, stdout, _ = invoke("audit", "verify")
    assert code == 0 and "intact" in stdout
    code, stdout, _ = invoke("whoami")
    assert "auditor (auditor) by token" in stdout
    accounts.revoke_token(gov, row.id, principal)
    code, _, stderr = invoke("audit", "verify")
    assert code == NotSignedInError.exit_code and "OPENLFR_TOKEN" in stderr
