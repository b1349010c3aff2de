"""Users, the audit trail, the purge and the settings in force."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from openlfr.api.deps import gov_of, require
from openlfr.api.service import public_settings
from openlfr.governance import accounts, audit
from openlfr.governance.accounts import Principal
from openlfr.governance.permissions import ROLES, reads_sealed
from openlfr.governance.retention import purge
from openlfr.redaction import spreadsheet_safe
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
    object_name: str | None = Field(
        None, description="What the object is called (a deployment's or user's name); never who was enrolled."
    )
    reason: str
    details: dict


class ChainOut(BaseModel):
    intact: bool
    events: int
    head: str | None
    broken_at: int | None
    problem: str | None


def _user(row) -> UserOut:
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


class AuditFilter(BaseModel):
    """Which events: every condition given must hold."""

    actor: str | None = Field(None, max_length=200)
    action: str | None = Field(None, max_length=80, description="An action, or the start of one (alert.)")
    object_type: str | None = Field(None, max_length=40)
    object_id: str | None = Field(None, max_length=64)
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = Field(None, ge=1, le=2**62, description="Only events numbered below this (paging).")

    def query(self, limit: int):
        query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if self.actor:
            query = query.where(AuditEvent.actor == self.actor)
        if self.action:
            query = query.where(AuditEvent.action.startswith(self.action, autoescape=True))
        if self.object_type:
            query = query.where(AuditEvent.object_type == self.object_type)
        if self.object_id:
            query = query.where(AuditEvent.object_id == self.object_id)
        if self.since:
            query = query.where(AuditEvent.at >= self.since)
        if self.until:
            query = query.where(AuditEvent.at <= self.until)
        if self.before:
            query = query.where(AuditEvent.seq < self.before)
        return query


def _events(request: Request, principal: Principal, selection: AuditFilter, limit: int) -> list[AuditOut]:
    gov = gov_of(request)
    may_read = reads_sealed(principal.role)
    with gov.store.session() as session:
        events = list(session.scalars(selection.query(limit)))
        names = audit.object_names(session, events)
    return [_audit_out(gov, e, may_read, names.get((e.object_type, e.object_id))) for e in events]


@router.get("/audit")
def audit_events(
    request: Request,
    selection: AuditFilter = Depends(),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(require("audit.read")),
) -> list[AuditOut]:
    """The newest audit events first, as ``selection`` picks them; page with ``before`` = the
    smallest seq you hold. Sealed fields (who was enrolled or alerted on, and people's free text
    about them) are shown only to roles that may read the watchlist and alerts, and only while the
    deployment's data lives."""
    return _events(request, principal, selection, limit)


@router.get("/audit.csv", response_class=Response)
def audit_csv(
    request: Request,
    selection: AuditFilter = Depends(),
    limit: int = Query(10_000, ge=1, le=100_000),
    principal: Principal = Depends(require("audit.read")),
) -> Response:
    """The same events as a spreadsheet (every cell safe from formulas)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(
        ["seq", "at", "actor", "action", "object_type", "object_id", "object_name", "reason", "details"]
    )
    for e in _events(request, principal, selection, limit):
        row = [
            e.seq,
            e.at.isoformat(),
            e.actor,
            e.action,
            e.object_type,
            e.object_id,
            e.object_name or "",
            e.reason,
        ]
        writer.writerow([spreadsheet_safe(str(v)) for v in (*row, json.dumps(e.details, sort_keys=True))])
    headers = {"Content-Disposition": 'attachment; filename="openlfr-audit.csv"'}
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _audit_out(gov, event: AuditEvent, may_read: bool, name: str | None = None) -> AuditOut:
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
        object_name=name,
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


class PurgeOut(BaseModel):
    dry_run: bool
    ended_deployments: list[str]
    subjects_deleted: int
    alerts_anonymised: int
    keys_destroyed: list[str] = Field(description="Ids of the data keys erased (crypto-shredding).")


@router.post("/purge")
def run_purge(
    request: Request,
    dry_run: bool = Query(False),
    _: Principal = Depends(require("purge.run")),
) -> PurgeOut:
    report = purge(gov_of(request), dry_run=dry_run)
    return PurgeOut(
        dry_run=dry_run,
        ended_deployments=list(report.ended_deployments),
        subjects_deleted=report.subjects_deleted,
        alerts_anonymised=report.alerts_anonymised,
        keys_destroyed=list(report.keys_destroyed),
    )


@router.get("/settings")
def settings_in_force(request: Request, _: Principal = Depends(require("settings.read"))) -> dict[str, Any]:
    """Every setting in force, as ``settings.py`` names them, secrets masked."""
    return public_settings(gov_of(request))
