"""Every route × every role: allowed or forbidden exactly as the permission table says.

Routes are read from the app itself, so a new route without a permission mark fails here.
Path ids point at nothing, so an allowed call ends in 404/422 and changes nothing, while a
forbidden one must stop at 403 before any work is done.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from openlfr.governance.permissions import PERMISSIONS, ROLES, TERMINAL_ONLY, allowed
from tests.api_support import bearer, make_app, make_gov, token
from tests.support.routes import all_routes, permission_of

MISSING_ID = "0" * 32


@pytest.fixture(scope="module")
def matrix_setup(tmp_path_factory, analyzer):  # type: ignore[no-untyped-def]
    gov = make_gov(tmp_path_factory.mktemp("matrix"), analyzer)
    app = make_app(gov)
    with TestClient(app, base_url="https://testserver") as client:
        yield app, client, {role: token(gov, role) for role in ROLES}


def http_routes(app) -> list[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    routes = []
    for route in all_routes(app.routes):
        if isinstance(route, APIRoute):
            marked, permission = permission_of(route)
            assert marked, f"{route.path} names no permission"
            path = re.sub(r"\{[^}]+\}", MISSING_ID, route.path)
            routes.extend((method, path, permission) for method in sorted(route.methods - {"HEAD"}))
    return routes


def test_every_route_is_marked_and_every_permission_used(matrix_setup) -> None:
    app, _, _ = matrix_setup
    used = {permission for _, _, permission in http_routes(app)}
    used |= {permission_of(r)[1] for r in all_routes(app.routes) if isinstance(r, APIWebSocketRoute)} - {None}
    assert set(PERMISSIONS) - used == TERMINAL_ONLY, "permissions no route uses"
    assert len(http_routes(app)) >= 45


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_route_by_role(matrix_setup, role: str) -> None:
    app, client, tokens = matrix_setup
    headers = bearer(tokens[role]) if role != "anonymous" else {}
    wrong = []
    for method, path, permission in http_routes(app):
        if path == "/api/auth/login":
            continue  # has its own tests (and a rate limit)
        response = client.request(method, path, headers=headers, follow_redirects=False)
        if permission is None:
            expected_ok = True
        elif role == "anonymous":
            expected_ok = False
        else:
            expected_ok = allowed(role, permission)
        denied = response.status_code in (401, 403) or (
            permission is not None
            and response.status_code == 303
            and "/login" in response.headers.get("location", "")
        )
        if role == "anonymous" and permission is not None and response.status_code == 403:
            wrong.append(f"{method} {path}: anonymous got 403, expected 401 or sign-in")
        if response.status_code >= 500:
            wrong.append(f"{method} {path}: server error {response.status_code}")
        if expected_ok == denied:
            wrong.append(f"{method} {path} ({permission}): {response.status_code}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_alert_stream_by_role(matrix_setup, role: str) -> None:
    _, client, tokens = matrix_setup
    if allowed(role, "alerts.read"):
        with client.websocket_connect("/api/alerts/ws?since=0", headers=bearer(tokens[role])) as socket:
            socket.close()
    else:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/api/alerts/ws", headers=bearer(tokens[role])) as socket,
        ):
            socket.receive_json()
        assert refused.value.code == 4403


def test_the_openapi_document_describes_every_json_answer(matrix_setup) -> None:
    app, _, _ = matrix_setup
    untyped = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None and schema in ({}, {"type": "object"}):
                    untyped.append(f"{method.upper()} {path}")
    assert untyped == [], f"answers the OpenAPI document does not describe: {untyped}"
