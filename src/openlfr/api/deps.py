"""FastAPI dependencies: who is calling, may they, and the service they talk to.

Every route names one permission with ``require(...)`` (or is marked ``public``); the
authorisation matrix test reads those marks from the routes themselves. Cookie sessions must
echo their CSRF token in ``X-CSRF-Token`` on every state-changing request; bearer tokens are
not sent by browsers on their own, so they need none.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request, Response, WebSocket

from openlfr.api import accounts
from openlfr.api.accounts import Principal
from openlfr.api.permissions import PERMISSIONS, allowed
from openlfr.api.service import Service
from openlfr.governance.context import Governance

SESSION_COOKIE = "openlfr_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def service_of(request: Request | WebSocket) -> Service:
    return request.app.state.service


def gov_of(request: Request | WebSocket) -> Governance:
    return service_of(request).gov


def principal_of(request: Request | WebSocket) -> Principal | None:
    """The caller, from a bearer token or a session cookie; a bad credential is a 401, not anonymity."""
    gov = gov_of(request)
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        principal = accounts.resolve_token(gov, secret.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            raise HTTPException(401, "invalid, expired or revoked token", {"WWW-Authenticate": "Bearer"})
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = accounts.resolve_session(gov, cookie)
        if principal is None:
            raise HTTPException(401, "your session has ended; sign in again")
        return principal
    return None


def require(permission: str) -> Callable[[Request], Principal]:
    if permission not in PERMISSIONS:
        raise KeyError(permission)

    def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if principal is None:
            raise HTTPException(401, "sign in or send a bearer token", {"WWW-Authenticate": "Bearer"})
        if principal.via == "session" and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not secrets.compare_digest(sent, principal.csrf_token or ""):
                raise HTTPException(403, "missing or wrong CSRF token")
        if not allowed(principal.role, permission):
            raise HTTPException(403, f"the {principal.role} role may not do this ({permission})")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def public(request: Request) -> None:
    """Marks a route that anyone may call (sign-in, the public transparency page)."""


public.permission = None  # type: ignore[attr-defined]


def sign_in(request: Request, username: str, password: str) -> tuple[Principal, str, str]:
    """Check a password under the rate limit; returns (who, session token, CSRF token) or raises 401/429."""
    service = service_of(request)
    address = request.client.host if request.client else "unknown"
    wait = service.limiter.retry_after(username, address)
    if wait is not None:
        raise HTTPException(429, "too many failed sign-ins; try again later", {"Retry-After": f"{wait:.0f}"})
    user = accounts.authenticate(service.gov, username, password)
    if user is None:
        service.limiter.failed(username, address)
        raise HTTPException(401, "wrong username or password")
    service.limiter.succeeded(username, address)
    token, csrf = accounts.open_session(service.gov, user)
    return Principal(user.id, user.username, user.role, "session", csrf), token, csrf


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    settings = gov_of(request).settings.api
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        secure=settings.secure_cookies,
        samesite="strict",
        path="/",
    )
