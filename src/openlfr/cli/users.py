"""`openlfr users …`: the accounts that sign in to the console, the API and this command.

Only an administrator manages users. The one exception is the very first account of a new store,
which must be an administrator and is recorded in the audit trail as made by the operating-system
user who ran the command.
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from openlfr.cli.common import cli_errors, open_governance, out, plain
from openlfr.cli.identity import acting
from openlfr.errors import NotFoundError, PolicyViolation
from openlfr.governance import Governance, accounts
from openlfr.governance.permissions import ROLES
from openlfr.store.models import User

users_app = typer.Typer(help="Console, API and command-line users.", no_args_is_help=True)


def manager(gov: Governance, role: str | None = None) -> str:
    """Who is adding or changing an account: a signed-in administrator, or, for a new store's
    first account (an administrator), the operating-system user at the terminal."""
    if role is not None and not accounts.has_users(gov):
        if role != "admin":
            raise PolicyViolation("the first account must be an administrator (--role admin)")
        return f"bootstrap:{getpass.getuser()}"
    return acting(gov, "users.manage").username


@users_app.command("add")
@cli_errors
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help=", ".join(ROLES))],
    display_name: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a user; the password is read from the terminal (or OPENLFR_NEW_PASSWORD)."""
    gov = open_governance()
    by = manager(gov, role)
    accounts.check_new_user(gov, username, role)  # before asking for a password it would throw away
    password = os.environ.get("OPENLFR_NEW_PASSWORD") or getpass.getpass(f"password for {username}: ")
    first = by.startswith("bootstrap:")
    user = accounts.create_user(gov, username, password, role, by, display_name, first=first)
    out.print(f"created {user.username} ({user.role})")


@users_app.command("list")
@cli_errors
def users_list() -> None:
    """Every account with its role and whether it may sign in."""
    gov = open_governance()
    manager(gov)
    table = Table("user name", "display name", "role", "active", "created")
    for user in accounts.list_users(gov):
        active = "yes" if user.active else "no"
        table.add_row(
            *plain(user.username, user.display_name, user.role, active, f"{user.created_at:%Y-%m-%d}")
        )
    out.print(table)


def _set_active(username: str, active: bool) -> None:
    gov = open_governance()
    by = manager(gov)
    with gov.store.session() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise NotFoundError(f"no user {username}")
    accounts.set_active(gov, user_id, active, by)
    out.print(f"{username}: {'enabled' if active else 'disabled, sessions ended and tokens revoked'}")


@users_app.command("disable")
@cli_errors
def users_disable(username: str) -> None:
    """Stop a user signing in: their sessions end and their tokens are revoked at once."""
    _set_active(username, False)


@users_app.command("enable")
@cli_errors
def users_enable(username: str) -> None:
    """Let a disabled user sign in again (with a new sign-in)."""
    _set_active(username, True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
