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
    path.chmod(0o600)
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


# --- what the adversarial pass found -------------------------------------------------------


def test_two_terminals_bootstrapping_at_once_make_one_administrator(store_dir: Path) -> None:
    gov = governance()
    assert not accounts.has_users(gov)  # both terminals saw an empty store…
    accounts.create_user(gov, "first", PASSWORD, "admin", "bootstrap:a", first=True)
    with pytest.raises(PolicyViolation, match="sign in as an administrator"):  # …the second is refused
        accounts.create_user(gov, "second", PASSWORD, "admin", "bootstrap:b", first=True)


def test_nobody_disables_themselves_or_the_last_administrator(store_dir: Path) -> None:
    gov = governance()
    boss = accounts.create_user(gov, "boss", PASSWORD, "admin", "setup")
    sign_in("boss", "admin")
    code, _, stderr = invoke("users", "disable", "boss")
    assert code == PolicyViolation.exit_code and "your own account" in stderr
    with pytest.raises(PolicyViolation, match="last active administrator"):
        accounts.set_active(gov, boss.id, False, "someone-else")
    accounts.create_user(gov, "deputy", PASSWORD, "admin", "boss")
    assert invoke("users", "disable", "deputy")[0] == 0  # another administrator remains: fine


@pytest.mark.parametrize(
    "name", ["bad[/]", "[red]fake", "line\nadmin1 (admin)", "bootstrap:root", "service", "a b"]
)
def test_user_names_are_plain_and_never_the_services_own(store_dir: Path, monkeypatch, name: str) -> None:
    monkeypatch.setenv("OPENLFR_NEW_PASSWORD", PASSWORD)
    sign_in("root", "admin")
    code, _, stderr = invoke("users", "add", name, "--role", "operator")
    assert code == PolicyViolation.exit_code and "Traceback" not in stderr


def test_stored_text_is_printed_as_text_not_as_markup(store_dir: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from openlfr.governance import deployments as dep

    gov = governance()
    now = datetime.now(UTC)
    plan = dep.DeploymentPlan(
        name="Town [/] centre [red]", purpose="p", location_name="L [bold]", planned_start=now,
        planned_end=now + timedelta(hours=1), authorising_officer="o", legal_basis="b", dpia_reference="d",
    )  # fmt: skip
    dep.create(gov, plan, "planner")
    sign_in("auditor", "auditor")
    code, stdout, stderr = invoke("deployment", "list")
    assert code == 0, stderr
    assert "Town [/] centre [red]" in stdout and "L [bold]" in stdout
    code, stdout, _ = invoke("audit", "log")
    assert code == 0 and "Town [/] centre [red]" in stdout


def test_sealed_audit_reasons_are_shown_only_to_roles_that_may_read_them(
    store_dir: Path, gov_with_alert
) -> None:
    from openlfr.governance import alerts as al

    _, alert_id = gov_with_alert
    al.retain(governance(), alert_id, "supt", "suspect Jane Doe, 12 Acacia Ave")
    sign_in("admin", "admin")
    code, stdout, _ = invoke("audit", "log")
    assert code == 0 and "Jane Doe" not in stdout and "[sealed]" in stdout
    sign_in("supt", "authorising_officer")
    code, stdout, _ = invoke("audit", "log")
    assert code == 0 and "Jane Doe" in stdout


def test_the_environment_cannot_stretch_a_sign_in(store_dir: Path, monkeypatch) -> None:
    gov = governance()
    accounts.create_user(gov, "op", PASSWORD, "operator", "setup")
    monkeypatch.setenv("OPENLFR_API__SESSION_HOURS", "876000")
    get_settings.cache_clear()
    code, _, stderr = invoke("login", "op", "--password-stdin", input=PASSWORD + "\n")
    assert code == 3 and "session_hours" in stderr  # settings refused: a day at most


def test_a_token_cannot_make_tokens_or_change_the_password(store_dir: Path) -> None:
    gov = governance()
    user = accounts.create_user(gov, "op", PASSWORD, "operator", "setup")
    person = accounts.Principal(user.id, user.username, user.role, "session")
    _, secret = accounts.create_token(gov, person, "short", days=0.01)
    script = accounts.resolve_token(gov, secret)
    with pytest.raises(PolicyViolation, match="cannot make tokens"):
        accounts.create_token(gov, script, "forever")
    with pytest.raises(PolicyViolation, match="API token cannot"):
        accounts.set_own_password(gov, script, "tidal orchid lantern 58 gravel")


def test_signing_in_again_ends_the_sign_in_it_replaces(store_dir: Path) -> None:
    sign_in("op", "operator")
    path = session_file(get_settings())
    first = path.read_text()
    sign_in("op", "operator")
    assert invoke("logout")[0] == 0
    path.write_text(first)
    path.chmod(0o600)
    assert invoke("whoami")[0] == NotSignedInError.exit_code


@pytest.mark.parametrize("kind", ["directory", "fifo", "binary", "readable by others", "huge"])
def test_a_strange_session_file_is_refused_clearly(store_dir: Path, kind: str) -> None:
    import os

    sign_in("op", "operator")
    path = session_file(get_settings())
    path.unlink()
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00olfr")
        path.chmod(0o600)
    elif kind == "readable by others":
        path.write_text("x" * 40)
        path.chmod(0o644)
    else:
        path.write_bytes(b"a" * 10_000)
        path.chmod(0o600)
    code, _, stderr = invoke("whoami")
    assert code == NotSignedInError.exit_code and "Traceback" not in stderr
    if kind == "directory":  # refused before a session is opened: none is left orphaned
        before = len(audit_rows("session.login"))
        code, _, stderr = invoke("login", "op", "--password-stdin", input=PASSWORD + "\n")
        assert code == NotSignedInError.exit_code and "not a plain file" in stderr
        assert len(audit_rows("session.login")) == before


def test_a_loose_state_folder_is_made_private(store_dir: Path, tmp_path: Path) -> None:
    folder = session_file(get_settings()).parent
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    sign_in("op", "operator")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_failed_sign_ins_lock_a_name_out_across_terminals(store_dir: Path) -> None:
    gov = governance()
    accounts.create_user(gov, "op", PASSWORD, "operator", "setup")
    for _ in range(gov.settings.api.login_attempts):
        code, _, _ = invoke("login", "op", "--password-stdin", input="not the password at all\n")
        assert code == NotSignedInError.exit_code
    code, _, stderr = invoke(
        "login", "op", "--password-stdin", input=PASSWORD + "\n"
    )  # now even the right one
    assert code == NotSignedInError.exit_code and "too many failed sign-ins" in stderr
    failures = audit_rows("session.login_failed")
    assert len(failures) == gov.settings.api.login_attempts
    assert {e.object_id for e in failures} == {"op"} and all(
        e.actor.startswith("terminal:") for e in failures
    )


def test_changing_the_password_ends_every_other_way_in(store_dir: Path, monkeypatch) -> None:
    gov = governance()
    user = accounts.create_user(gov, "op", PASSWORD, "operator", "setup")
    person = accounts.Principal(user.id, user.username, user.role, "session")
    _, secret = accounts.create_token(gov, person, "script")
    elsewhere, _ = accounts.open_session(gov, gov_user(gov, "op"))  # signed in in a browser too
    sign_in("op", "operator")
    new = "tidal orchid lantern 58 gravel"
    code, _, stderr = invoke("password", "--password-stdin", input=f"wrong one\n{new}\n")
    assert code == PolicyViolation.exit_code and "current password is wrong" in stderr
    code, _, stderr = invoke("password", "--password-stdin", input=f"{PASSWORD}\npassword123\n")
    assert code == PolicyViolation.exit_code and "choose another password" in stderr
    code, _, stderr = invoke("password", "--password-stdin", input=f"{PASSWORD}\n{new}\n")
    assert code == 0, stderr
    assert accounts.resolve_token(gov, secret) is None and accounts.resolve_session(gov, elsewhere) is None
    assert invoke("whoami")[0] == 0  # this terminal goes on
    assert (
        accounts.authenticate(gov, "op", new) is not None
        and accounts.authenticate(gov, "op", PASSWORD) is None
    )
    assert [e.actor for e in audit_rows("user.password")] == ["op"]


def gov_user(gov: Governance, name: str) -> User:
    with gov.store.session() as session:
        return session.scalar(select(User).where(User.username == name))


@pytest.fixture
def gov_with_alert(store_dir: Path, analyzer, samples):  # type: ignore[no-untyped-def]
    """A live deployment of the CLI's store with one alert recorded on it."""
    from openlfr.governance import alerts as al
    from tests.governance_helpers import fake_alert, live_deployment

    settings = get_settings()
    gov = Governance(open_store(settings), settings, analyzer=analyzer)
    deployment_id = live_deployment(gov, samples)
    alert = fake_alert()
    al.record(gov, deployment_id, alert)
    return deployment_id, alert.alert_id
