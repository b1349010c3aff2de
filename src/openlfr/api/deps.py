"""FastAPI dependencies: who is calling, may they, and the service they talk to.

Every route names one permission with ``require(...)`` (or is marked ``public``); the
authorisation matrix test reads those marks from the routes themselves. Cookie sessions must
echo their CSRF token in ``X-CSRF-Token`` on every state-changing request; bearer tokens are
not sent by browsers on their own, so they need none.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException, Request, Response, WebSocket
from starlette.concurrency import run_in_threadpool

from openlfr.api.service import Service
from openlfr.governance import accounts
from openlfr.governance.accounts import Principal
from openlfr.governance.context import Governance
from openlfr.governance.permissions import PERMISSIONS, allowed

T = TypeVar("T")
SESSION_COOKIE = "openlfr_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def service_of(request: Request | WebSocket) -> Service:
    return request.app.state.service


def gov_of(request: Request | WebSocket) -> Governance:
    return service_of(request).gov


def principal_of(request: Request | WebSocket, touch: bool = True) -> Principal | None:
    """The caller, from a bearer token or a session cookie; a bad credential is a 401, not anonymity.
    ``touch=False`` leaves a session's idle clock alone."""
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
        principal = accounts.resolve_session(gov, cookie, touch)
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


def same_origin(request: Request | WebSocket) -> bool:
    """Whether a browser request comes from our own pages: its Origin (sent by browsers on every
    cross-site POST and socket) is this server's or ``api.public_url``. A request with no Origin
    is not from a page at all (a script, curl) and cannot ride on a visitor's browser. Where the
    browser says where a request comes from (Sec-Fetch-Site, which no page can set), that decides."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    allowed_origins = {f"http://{host}", f"https://{host}"}
    public_url = service_of(request).gov.settings.api.public_url
    if public_url:
        allowed_origins.add(public_url.rstrip("/"))
    return origin in allowed_origins


async def image_work(request: Request, function: Callable[..., T], *args: object) -> T:
    """Decode and analyse an uploaded picture or video off the event loop, at most
    ``api.image_concurrency`` at once in the service: a hostile upload costs a bounded share of the
    machine, and the rest of the API (``/healthz`` included) keeps answering. 503 past the queue."""
    service = service_of(request)
    try:
        await asyncio.wait_for(service.image_slots.acquire(), service.gov.settings.api.image_queue_seconds)
    except TimeoutError:
        raise HTTPException(
            503, "too many pictures being analysed; try again shortly", {"Retry-After": "5"}
        ) from None
    try:
        return await run_in_threadpool(function, *args)
    finally:
        service.image_slots.release()


async def sign_in(request: Request, username: str, password: str) -> tuple[Principal, str, str]:
    """Check a password within the sign-in limits (``api.signin``); (who, session token, CSRF token).
    Another site's page cannot sign a visitor's browser in (login CSRF): its Origin is refused."""
    if not same_origin(request):
        raise HTTPException(403, "sign in from openlfr's own pages")
    address = request.client.host if request.client else "unknown"
    return await service_of(request).gate.sign_in(username, password, address)


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
