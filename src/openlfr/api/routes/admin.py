"""Users, the audit trail, the purge and the settings in force."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from openlfr.api import accounts
from openlfr.api.accounts import Principal
from openlfr.api.deps import gov_of, require
from openlfr.api.permissions import ROLES, allowed
from openlfr.api.service import public_settings
from openlfr.governance import audit
from openlfr.governance.retention import purge
from openlfr.store.models import AuditEvent

router = APIRouter(prefix="/api", tags=["admin"])


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._@-]+$")
    password: str = Field(min_length=10, max_length=200)
    role: Literal[ROLES]  # type: ignore[valid-type]
    display_name: str = Field("", max_length=200)


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    active: bool


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    reason: str
    details: dict


class ChainOut(BaseModel):
    intact: bool
    events: int
    head: str | None
    broken_at: int | None
    problem: str | None


def _user(row) -> UserOut:  # type: ignore[no-untyped-def]
    return UserOut(
        id=row.id, username=row.username, display_name=row.display_name, role=row.role, active=row.active
    )


@router.get("/users")
def list_users(request: Request, _: Principal = Depends(require("users.manage"))) -> list[UserOut]:
    return [_user(u) for u in accounts.list_users(gov_of(request))]


@router.post("/users", status_code=201)
def create_user(
    body: NewUser, request: Request, principal: Principal = Depends(require("users.manage"))
) -> UserOut:
    return _user(
        accounts.create_user(
            gov_of(request), body.username, body.password, body.role, principal.username, body.display_name
        )
    )


@router.post("/users/{user_id}/disable")
def disable_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users.manage"))
) -> UserOut:
    return _user(accounts.set_active(gov_of(request), user_id, False, principal.username))


@router.post("/users/{user_id}/enable")
def enable_user(
    user_id: str, request: Request, principal: Principal = Depends(require("users.manage"))
) -> UserOut:
    return _user(accounts.set_active(gov_of(request), user_id, True, principal.username))


@router.get("/audit")
def audit_events(
    request: Request,
    limit: int = Query(100, ge=1, le=1000),
    before: int | None = Query(None, ge=1, le=2**62),
    principal: Principal = Depends(require("audit.read")),
) -> list[AuditOut]:
    """The newest audit events first; page with ``before`` = the smallest seq you hold. Sealed
    fields (who was enrolled or alerted on, and people's free text about them) are shown only to
    roles that may read the watchlist and alerts, and only while the deployment's data lives."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    gov = gov_of(request)
    may_read = allowed(principal.role, "alerts.read") and allowed(principal.role, "watchlist.read")
    with gov.store.session() as session:
        events = list(session.scalars(query))
    return [_audit_out(gov, e, may_read) for e in events]


def _audit_out(gov, event: AuditEvent, may_read: bool) -> AuditOut:  # type: ignore[no-untyped-def]
    details = {k: v for k, v in (event.details or {}).items() if k != "sealed"}
    reason = event.reason
    if "sealed" in (event.details or {}):
        opened = gov.unseal(event) if may_read else None
        if opened is None:
            details["sealed"] = "purged" if may_read else "not shown to this role"
        else:
            reason = str(opened.pop("reason", ""))
            details |= opened
    return AuditOut(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        reason=reason,
        details=details,
    )


@router.get("/audit/verify")
def audit_verify(
    request: Request,
    head: str | None = Query(None, max_length=80, description="A published head, SEQ:HASH, to hold it to."),
    _: Principal = Depends(require("audit.read")),
) -> ChainOut:
    try:
        published = audit.parse_head(head) if head else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    with gov_of(request).store.session() as session:
        report = audit.verify(session, published)
    return ChainOut(
        intact=report.intact,
        events=report.events,
        head=report.head,
        broken_at=report.broken_at,
        problem=report.problem,
    )


@router.post("/purge")
def run_purge(
    request: Request,
    dry_run: bool = Query(False),
    _: Principal = Depends(require("purge.run")),
) -> dict:
    report = purge(gov_of(request), dry_run=dry_run)
    return {
        "dry_run": dry_run,
        "ended_deployments": list(report.ended_deployments),
        "subjects_deleted": report.subjects_deleted,
        "alerts_anonymised": report.alerts_anonymised,
        "keys_destroyed": list(report.keys_destroyed),
    }


@router.get("/settings")
def settings_in_force(request: Request, _: Principal = Depends(require("settings.read"))) -> dict:
    return public_settings(gov_of(request))
