"""Signing in and out, who am I, and API tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from openlfr.api.deps import (
    SESSION_COOKIE,
    gov_of,
    public,
    require,
    service_of,
    set_session_cookie,
    sign_in,
)
from openlfr.governance import accounts
from openlfr.governance.accounts import Principal
from openlfr.governance.permissions import PERMISSIONS

router = APIRouter(prefix="/api", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class Me(BaseModel):
    username: str
    role: str
    permissions: list[str]
    csrf_token: str | None = None


class SignedOut(BaseModel):
    signed_out: bool


class PasswordChanged(BaseModel):
    changed: bool


class PasswordChange(BaseModel):
    current: str = Field(min_length=1, max_length=accounts.MAX_PASSWORD_LENGTH)
    new: str = Field(min_length=1, max_length=accounts.MAX_PASSWORD_LENGTH)


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    days: float | None = Field(None, gt=0, le=3650)


class TokenOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


class NewToken(TokenOut):
    token: str = Field(description="Shown once; only its hash is kept.")


def _me(principal: Principal, csrf: str | None = None) -> Me:
    granted = sorted(p for p, roles in PERMISSIONS.items() if principal.role in roles)
    return Me(username=principal.username, role=principal.role, permissions=granted, csrf_token=csrf)


@router.post("/auth/login", dependencies=[Depends(public)])
async def login(body: Login, request: Request, response: Response) -> Me:
    """Sign in: sets the session cookie and returns the CSRF token to echo in ``X-CSRF-Token``."""
    principal, token, csrf = await sign_in(request, body.username, body.password)
    set_session_cookie(response, request, token)
    return _me(principal, csrf)


@router.post("/auth/logout")
def logout(
    request: Request, response: Response, principal: Principal = Depends(require("tokens.own"))
) -> SignedOut:
    if principal.via == "session":
        accounts.end_session(gov_of(request), principal)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return SignedOut(signed_out=True)


@router.post("/auth/password")
async def change_password(
    body: PasswordChange, request: Request, principal: Principal = Depends(require("account.own"))
) -> PasswordChanged:
    """Your own new password, given the current one (checked within the sign-in limits). Your
    other sessions and your API tokens end; this session goes on."""
    address = request.client.host if request.client else "unknown"
    await service_of(request).gate.check(principal.username, body.current, address)
    await run_in_threadpool(accounts.set_own_password, gov_of(request), principal, body.new)
    return PasswordChanged(changed=True)


@router.get("/auth/me")
def me(principal: Principal = Depends(require("tokens.own"))) -> Me:
    return _me(principal, principal.csrf_token)


def _token_out(row, secret: str | None = None):
    values = {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked": row.revoked_at is not None,
    }
    return NewToken(**values, token=secret) if secret else TokenOut(**values)


@router.get("/tokens")
def list_tokens(request: Request, principal: Principal = Depends(require("tokens.own"))) -> list[TokenOut]:
    return [_token_out(row) for row in accounts.list_tokens(gov_of(request), principal)]


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenRequest, request: Request, principal: Principal = Depends(require("tokens.own"))
) -> NewToken:
    row, secret = accounts.create_token(gov_of(request), principal, body.name, body.days)
    return _token_out(row, secret)


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: str, request: Request, principal: Principal = Depends(require("tokens.own"))
) -> TokenOut:
    return _token_out(accounts.revoke_token(gov_of(request), token_id, principal))
