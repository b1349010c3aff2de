"""Building blocks for service tests: a service with one user per role, tokens, and a real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import uvicorn

from openlfr.api import accounts, create_app
from openlfr.api.permissions import ROLES
from openlfr.api.service import Service
from openlfr.governance import Governance
from openlfr.governance import deployments as dep
from openlfr.settings import load_settings
from openlfr.store import Store
from openlfr.store.crypto import new_key
from tests.governance_helpers import plan

PASSWORD = "correct horse battery staple"
OFFICER = "authorising_officer"  # each role's user is named after the role


def make_gov(tmp_path: Path, analyzer, clock=None, users: bool = True, **api: object) -> Governance:  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path / "data", api=api)
    store = Store(f"sqlite:///{tmp_path / 'main.sqlite'}", f"sqlite:///{tmp_path / 'keys.sqlite'}", new_key())
    store.migrate()
    gov = Governance(store, settings, clock) if clock else Governance(store, settings)
    gov.__dict__["analyzer"] = analyzer
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app under a real uvicorn on a free local port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
