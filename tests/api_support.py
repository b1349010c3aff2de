"""Building blocks for service tests: a service with one user per role, tokens, and a real server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from openlfr.api.server import serve_in_thread
from openlfr.api.service import Service
from openlfr.governance import Governance, accounts, system_clock
from openlfr.governance import deployments as dep
from openlfr.governance.permissions import ROLES
from openlfr.settings import load_settings
from openlfr.store import Store
from openlfr.store.crypto import new_key
from openlfr.web import create_app
from tests.governance_helpers import plan

PASSWORD = "correct horse battery staple"
OFFICER = "authorising_officer"  # each role's user is named after the role


def make_gov(tmp_path: Path, analyzer, clock=None, users: bool = True, **api: object) -> Governance:  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path / "data", api=api)
    store = Store(f"sqlite:///{tmp_path / 'main.sqlite'}", f"sqlite:///{tmp_path / 'keys.sqlite'}", new_key())
    store.migrate()
    gov = Governance(store, settings, clock or system_clock, analyzer)
    for role in ROLES if users else ():
        accounts.create_user(gov, role, PASSWORD, role, "test-setup")
    return gov


def make_app(gov: Governance, run_engines: bool = False):  # type: ignore[no-untyped-def]
    return create_app(Service(gov, run_engines=run_engines))


def token(gov: Governance, username: str) -> str:
    user = next(u for u in accounts.list_users(gov) if u.username == username)
    principal = accounts.Principal(user.id, user.username, user.role, "session")
    return accounts.create_token(gov, principal, "test")[1]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def draft_deployment(gov: Governance, **changes: object) -> str:
    """A draft deployment that the role users can act on."""
    start = gov.now() - timedelta(minutes=5)
    return dep.create(gov, plan(start, authorising_officer=OFFICER, **changes), "watchlist_manager").id


def live_server(app):  # type: ignore[no-untyped-def]
    """The app under a real uvicorn on a free local port; yields its base URL."""
    return serve_in_thread(app)
