"""An open alert socket lasts no longer than the sign-in behind it."""

from __future__ import annotations

import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from openlfr.api import accounts
from tests.api_support import PASSWORD, live_server, make_app, make_gov

pytestmark = pytest.mark.slow


def closed_within(socket, seconds: float) -> int | None:  # type: ignore[no-untyped-def]
    """The close code if the server closes the socket within ``seconds``, else None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.recv(timeout=0.2)
        except TimeoutError:
            continue
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1
    return None


def operator_id(gov) -> str:  # type: ignore[no-untyped-def]
    return next(u.id for u in accounts.list_users(gov) if u.username == "operator")


@pytest.mark.parametrize("ending", ["user disabled", "token revoked", "signed out"])
def test_the_socket_closes_soon_after_its_sign_in_ends(tmp_path, analyzer, ending) -> None:
    gov = make_gov(tmp_path, analyzer, socket_recheck_seconds=0.5, secure_cookies=False)
    with live_server(make_app(gov)) as url, httpx.Client(base_url=url) as client:
        if ending == "signed out":
            signed = client.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
            headers = {"Cookie": f"openlfr_session={signed.cookies['openlfr_session']}", "Origin": url}
        else:
            user = next(u for u in accounts.list_users(gov) if u.username == "operator")
            principal = accounts.Principal(user.id, user.username, user.role, "token")
            row, secret = accounts.create_token(gov, principal, "console")
            headers = {"Authorization": f"Bearer {secret}"}
        with connect(url.replace("http", "ws") + "/api/alerts/ws", additional_headers=headers) as socket:
            assert closed_within(socket, 1.5) is None  # open while the sign-in holds
            if ending == "user disabled":
                accounts.set_active(gov, operator_id(gov), False, "admin")
            elif ending == "token revoked":
                accounts.revoke_token(gov, row.id, principal)
            else:
                csrf = signed.json()["csrf_token"]
                out = client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
                assert out.status_code == 200
            assert closed_within(socket, 3.0) == 4401
