"""An open alert socket lasts no longer than the sign-in behind it."""

from __future__ import annotations

import socket as net
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from openlfr.governance import accounts
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


def small_window(url: str) -> net.socket:
    """A connection whose receive buffer is small, so a client that stops reading stalls the server soon."""
    host, port = url.removeprefix("http://").split(":")
    connection = net.socket()
    connection.setsockopt(net.SOL_SOCKET, net.SO_RCVBUF, 4096)
    connection.connect((host, int(port)))
    return connection


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
            principal = accounts.Principal(user.id, user.username, user.role, "session")
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


def test_a_client_that_stops_reading_a_backlog_is_still_cut_off(tmp_path, analyzer, samples) -> None:
    """The credential is rechecked while the server is stuck sending to a client that reads nothing."""
    from sqlalchemy import insert

    from openlfr.governance import alerts as al
    from openlfr.store.models import AlertFeedEntry
    from tests.governance_helpers import fake_alert, live_deployment

    gov = make_gov(tmp_path, analyzer, socket_recheck_seconds=0.5)
    deployment_id = live_deployment(gov, samples)
    alert = al.record(gov, deployment_id, fake_alert())
    backlog = 60_000
    row = {"alert_id": alert.id, "deployment_id": deployment_id, "kind": "alert.decided", "at": gov.now()}
    with gov.store.engine.begin() as connection:
        connection.execute(insert(AlertFeedEntry), [row] * backlog)
    user = next(u for u in accounts.list_users(gov) if u.username == "operator")
    principal = accounts.Principal(user.id, user.username, user.role, "session")
    _, secret = accounts.create_token(gov, principal, "console")
    headers = {"Authorization": f"Bearer {secret}"}
    with live_server(make_app(gov)) as url:
        stream = url.replace("http", "ws") + "/api/alerts/ws?since=0"
        with connect(stream, additional_headers=headers, max_queue=1, sock=small_window(url)) as socket:
            socket.recv(timeout=10)
            time.sleep(2.0)  # read nothing: the server's sends back up
            accounts.set_active(gov, operator_id(gov), False, "admin")
            time.sleep(2.0)
            received, ended = 1, False
            try:
                while received < backlog + 1:
                    socket.recv(timeout=5)
                    received += 1
            except ConnectionClosed:
                ended = True
        assert ended and received < backlog  # the server stopped sending and closed
        with (
            pytest.raises(Exception),  # noqa: B017 - refused at the handshake or closed at once
            connect(stream, additional_headers=headers) as again,
        ):
            again.recv(timeout=5)


def test_an_open_socket_does_not_keep_an_idle_session_alive(tmp_path, analyzer, clock) -> None:
    gov = make_gov(tmp_path, analyzer, clock, socket_recheck_seconds=0.3, secure_cookies=False)
    with live_server(make_app(gov)) as url, httpx.Client(base_url=url) as client:
        signed = client.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
        cookie = signed.cookies["openlfr_session"]
        headers = {"Cookie": f"openlfr_session={cookie}", "Origin": url}
        with connect(url.replace("http", "ws") + "/api/alerts/ws", additional_headers=headers) as socket:
            clock.advance(minutes=1)  # past the 30 s after which a request refreshes the idle clock
            assert closed_within(socket, 1.5) is None  # rechecked a few times, still signed in
            clock.advance(minutes=29.5)  # 30.5 minutes since the last request (idle limit 30)
            assert closed_within(socket, 3.0) == 4401
        assert client.get("/api/auth/me").status_code == 401
