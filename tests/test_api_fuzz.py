"""Schema-based fuzzing of every API operation (schemathesis): no 500s and no unhandled errors.

Each operation is called with the token of a role allowed to use it, so the generated
requests reach the handlers instead of stopping at 403.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from openlfr.governance.permissions import PERMISSIONS, ROLES
from tests.api_support import bearer, draft_deployment, make_app, make_gov, token
from tests.support.routes import all_routes, permission_of

pytestmark = pytest.mark.slow


def _target():  # type: ignore[no-untyped-def]
    """Built at import, because schemathesis parametrizes from a schema it holds at collection."""
    folder = Path(tempfile.mkdtemp(prefix="openlfr-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)
    gov = make_gov(folder, analyzer=None)
    draft_deployment(gov)
    app = make_app(gov)
    tokens = {role: token(gov, role) for role in ROLES}
    permissions = {
        (method, route.path): permission_of(route)[1]
        for route in all_routes(app.routes)
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    return app, tokens, permissions


APP, TOKENS, ROUTE_PERMISSIONS = _target()
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case) -> None:  # type: ignore[no-untyped-def]
    permission = ROUTE_PERMISSIONS.get((case.method.upper(), case.path))
    role = next((r for r in ROLES if permission and r in PERMISSIONS[permission]), "admin")
    case.call_and_validate(headers=bearer(TOKENS[role]), checks=[not_a_server_error])
