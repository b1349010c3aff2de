"""Who is acting at this terminal. The CLI signs in like the console does, and every command that
changes or reveals governed records checks the signed-in user's role and names them in the audit
trail; no name typed on the command line is trusted.

``openlfr login`` opens a session of the same kind the console opens (same expiry, same idle limit,
ended by ``logout``, by disabling the user, or from the console) and keeps its secret in a file only
this operating-system user can read, one file per store. Scripts send an API token in
``OPENLFR_TOKEN`` instead.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli.common import cli_errors, err, open_governance, out
from openlfr.errors import NotAllowedError, NotSignedInError
from openlfr.governance import Governance, accounts
from openlfr.governance.accounts import Principal
from openlfr.governance.permissions import allowed
from openlfr.settings import Settings

TOKEN_VARIABLE = "OPENLFR_TOKEN"
FAILED_SIGN_IN_PAUSE = 1.0  # seconds; a terminal guessing passwords gets one guess a second


def session_file(settings: Settings) -> Path:
    """Where this OS user's sign-in to this store is kept (outside the shared data folder)."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    store = hashlib.sha256(settings.database_url().encode()).hexdigest()[:16]
    return state / "openlfr" / f"session-{store}"


def signed_in(gov: Governance) -> Principal:
    """The user acting here, from ``OPENLFR_TOKEN`` or this terminal's sign-in; refused when neither
    holds (unknown, expired, idle too long, signed out, or the user disabled)."""
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        principal = accounts.resolve_token(gov, token)
        if principal is None:
            raise NotSignedInError(f"{TOKEN_VARIABLE} holds an invalid, expired or revoked token")
        return principal
    path = session_file(gov.settings)
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        raise NotSignedInError("nobody is signed in here: run `openlfr login`") from None
    principal = accounts.resolve_session(gov, secret)
    if principal is None:
        path.unlink(missing_ok=True)
        raise NotSignedInError("your sign-in has ended: run `openlfr login` again")
    return principal


def acting(gov: Governance, permission: str) -> Principal:
    """The signed-in user, if their role may do ``permission``."""
    principal = signed_in(gov)
    if not allowed(principal.role, permission):
        raise NotAllowedError(
            f"{principal.username} ({principal.role}) may not do this ({permission}); "
            "sign in as a user whose role may"
        )
    return principal


def keep_secret(path: Path, secret: str) -> None:
    """Write the session secret readable by this OS user only, from the moment the file exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret)


@cli_errors
def login_command(
    username: Annotated[str | None, typer.Argument(help="Your user name (asked for if left out).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Sign in at this terminal; later commands act as you until `openlfr logout` or the session ends."""
    gov = open_governance()
    name = username or typer.prompt("user name")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
    user = accounts.authenticate(gov, name, password)
    if user is None:
        time.sleep(FAILED_SIGN_IN_PAUSE)
        raise NotSignedInError("wrong user name or password, or the account is disabled")
    secret, _ = accounts.open_session(gov, user, via="cli")
    keep_secret(session_file(gov.settings), secret)
    hours = gov.settings.api.session_hours
    idle = gov.settings.api.session_idle_minutes
    out.print(
        f"signed in as {user.username} ({user.role}) for up to {hours:g} h, "
        f"or until {idle:g} minutes without a command"
    )


@cli_errors
def logout_command() -> None:
    """End this terminal's sign-in (the session is revoked in the store, not just forgotten here)."""
    gov = open_governance()
    path = session_file(gov.settings)
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        err.print("nobody was signed in here")
        return
    principal = accounts.resolve_session(gov, secret, touch=False)
    if principal is not None:
        accounts.end_session(gov, principal)
    path.unlink(missing_ok=True)
    out.print(f"signed out{f' {principal.username}' if principal else ''}")


@cli_errors
def whoami_command() -> None:
    """Who is signed in at this terminal, with which role and how."""
    principal = signed_in(open_governance())
    out.print(f"{principal.username} ({principal.role}) by {principal.via}")


def register(app: typer.Typer) -> None:
    app.command("login")(login_command)
    app.command("logout")(logout_command)
    app.command("whoami")(whoami_command)
