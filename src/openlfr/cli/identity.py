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
import stat
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli.common import cli_errors, err, open_governance, out
from openlfr.errors import NotAllowedError, NotSignedInError, PolicyViolation
from openlfr.governance import Governance, accounts
from openlfr.governance.accounts import Principal
from openlfr.governance.permissions import allowed
from openlfr.settings import Settings, get_settings
from openlfr.store.models import User

TOKEN_VARIABLE = "OPENLFR_TOKEN"
FAILED_SIGN_IN_PAUSE = 1.0  # seconds; a terminal guessing passwords gets one guess a second


MAX_SECRET_BYTES = 256


def session_file(settings: Settings) -> Path:
    """Where this OS user's sign-in to this store is kept (outside the shared data folder)."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    located = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    store = hashlib.sha256(located.database_url().encode()).hexdigest()[:16]
    return state / "openlfr" / f"session-{store}"


def read_secret(path: Path) -> str | None:
    """The kept secret, or None if there is none. Refused unless it is a small regular file of
    this OS user that no one else may read or write, in a folder no one else may change."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    folder = path.parent.stat()
    if not stat.S_ISREG(info.st_mode):
        raise NotSignedInError(f"{path} is not a plain file; remove it, then `openlfr login`")
    if info.st_uid != os.getuid() or folder.st_uid != os.getuid():
        raise NotSignedInError(f"{path} belongs to someone else; remove it, then `openlfr login`")
    if info.st_mode & 0o077 or folder.st_mode & 0o022:
        raise NotSignedInError(f"{path} could be read or replaced by others; `openlfr login` again")
    if info.st_size > MAX_SECRET_BYTES:
        raise NotSignedInError(f"{path} is not a sign-in; remove it, then `openlfr login`")
    try:
        return path.read_bytes().decode("ascii").strip()
    except UnicodeDecodeError:
        raise NotSignedInError(f"{path} is not a sign-in; remove it, then `openlfr login`") from None


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
    secret = read_secret(path)
    if secret is None:
        raise NotSignedInError("nobody is signed in here: run `openlfr login`")
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


def make_room(path: Path) -> None:
    """A private folder for the secret, and no file in its place (a link is removed, never
    followed); whatever else stands there is refused before any session is opened."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.parent.stat().st_uid != os.getuid():
        raise NotSignedInError(f"{path.parent} belongs to someone else; choose another XDG_STATE_HOME")
    path.parent.chmod(0o700)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        raise NotSignedInError(f"{path} is not a plain file; remove it, then `openlfr login`")


def keep_secret(path: Path, secret: str) -> None:
    """Write the session secret readable by this OS user only, from the moment the file exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret)


def end_kept_session(gov: Governance, path: Path) -> str | None:
    """Revoke the session this terminal kept, if it is still open; its user name, if it was."""
    try:
        secret = read_secret(path)
    except NotSignedInError:
        secret = None
    principal = accounts.resolve_session(gov, secret, touch=False) if secret else None
    if principal is not None:
        accounts.end_session(gov, principal)
    return principal.username if principal else None


def read_password(prompt: str, from_stdin: bool) -> str:
    return sys.stdin.readline().rstrip("\r\n") if from_stdin else getpass.getpass(prompt)


def checked_password(gov: Governance, username: str, password: str) -> User | None:
    """The user if the password is theirs, within a lockout that holds across terminals: after
    ``api.login_attempts`` failures in ``api.login_window_minutes`` the name is refused
    unchecked, and every failure is audited and costs a second."""
    limits = gov.settings.api
    window = timedelta(minutes=limits.login_window_minutes)
    if accounts.recent_failed_sign_ins(gov, username, window) >= limits.login_attempts:
        raise NotSignedInError(
            f"too many failed sign-ins as {username}: try again in {limits.login_window_minutes:g} minutes"
        )
    user = accounts.authenticate(gov, username, password)
    if user is None:
        accounts.record_failed_sign_in(gov, username, "cli", f"terminal:{getpass.getuser()}")
        time.sleep(FAILED_SIGN_IN_PAUSE)
    return user


@cli_errors
def login_command(
    username: Annotated[str | None, typer.Argument(help="Your user name (asked for if left out).")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Sign in at this terminal; later commands act as you until `openlfr logout` or the session ends."""
    gov = open_governance()
    path = session_file(gov.settings)
    name = username or typer.prompt("user name")
    password = read_password(f"password for {name}: ", password_stdin)
    user = checked_password(gov, name, password)
    if user is None:
        raise NotSignedInError("wrong user name or password, or the account is disabled")
    end_kept_session(gov, path)  # one sign-in per terminal: the one it replaces ends
    make_room(path)
    secret, _ = accounts.open_session(gov, user, via="cli")
    keep_secret(path, secret)
    hours = gov.settings.api.session_hours
    idle = gov.settings.api.session_idle_minutes
    out.print(
        f"signed in as {user.username} ({user.role}) for up to {hours:g} h, "
        f"or until {idle:g} minutes without a command"
    )


@cli_errors
def logout_command() -> None:
    """End this terminal's sign-in (the session is revoked in the store, not just forgotten here)."""
    path = session_file(get_settings())
    if not path.is_symlink() and not path.exists():
        err.print("nobody was signed in here")
        return
    try:
        name = end_kept_session(open_governance(), path)
    finally:  # even if the store cannot be reached, this terminal is signed out
        if path.is_symlink() or path.is_file():
            path.unlink()
    out.print(f"signed out {name}" if name else "signed out")


@cli_errors
def whoami_command() -> None:
    """Who is signed in at this terminal, with which role and how."""
    principal = signed_in(open_governance())
    out.print(f"{principal.username} ({principal.role}) by {principal.via}")


@cli_errors
def password_command(
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the current and the new password, a line each, from standard input.",
        ),
    ] = False,
) -> None:
    """Change your own password; your other sign-ins and your API tokens end."""
    gov = open_governance()
    principal = signed_in(gov)
    current = read_password("current password: ", password_stdin)
    new = read_password("new password: ", password_stdin)
    if not password_stdin and getpass.getpass("new password again: ") != new:
        raise PolicyViolation("the two new passwords differ")
    if checked_password(gov, principal.username, current) is None:
        raise PolicyViolation("the current password is wrong")
    accounts.set_own_password(gov, principal, new)
    out.print("password changed; your other sign-ins and your API tokens have ended")


def register(app: typer.Typer) -> None:
    app.command("login")(login_command)
    app.command("logout")(logout_command)
    app.command("whoami")(whoami_command)
    app.command("password")(password_command)
