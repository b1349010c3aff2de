"""Running the `openlfr` command in tests, signed in as a real user of the store it uses."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.governance import Governance, accounts
from openlfr.settings import get_settings
from openlfr.store import open_store
from openlfr.store.models import User

PASSWORD = "correct horse battery staple"
runner = CliRunner()

Invoke = Callable[..., tuple[int, str, str]]


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input, env={"COLUMNS": "250"})  # tables unwrapped
    return result.exit_code, result.stdout, result.stderr


def sign_in(username: str, role: str) -> None:
    """Make ``username`` (if new) in the store the settings name, then sign in at this 'terminal'
    with ``openlfr login`` as a person would."""
    settings = get_settings()
    gov = Governance(open_store(settings), settings)
    with gov.store.session() as session:
        known = session.scalar(select(User.id).where(User.username == username))
    if known is None:
        accounts.create_user(gov, username, PASSWORD, role, "test-setup")
    code, _, stderr = invoke("login", username, "--password-stdin", input=PASSWORD + "\n")
    assert code == 0, stderr
