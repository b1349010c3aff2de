"""The public transparency feed (JSON, CSV, the audit head) and the health probe: no sign-in, nothing
biometric. The page people read is the console's (``console/public_page.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from openlfr.api.deps import gov_of, public
from openlfr.governance.publication import as_csv, audit_head, public_deployments

router = APIRouter(tags=["public"], dependencies=[Depends(public)])


class AuditHead(BaseModel):
    head: str | None = Field(description="SEQ:HASH of the newest audit event, or none yet.")


class Health(BaseModel):
    ok: bool


@router.get("/public/audit-head")
def public_audit_head(request: Request) -> AuditHead:
    """The audit trail's newest link, published: ``openlfr audit verify --head SEQ:HASH`` proves
    later that no event up to it was removed or rewritten."""
    return AuditHead(head=audit_head(gov_of(request)))


@router.get("/public/deployments.json")
def public_json(request: Request) -> list[dict[str, Any]]:
    """Planned, live and past deployments, from the allow-list of public fields."""
    return public_deployments(gov_of(request))


@router.get("/public/deployments.csv", response_class=PlainTextResponse)
def public_csv(request: Request) -> Response:
    return Response(
        as_csv(public_deployments(gov_of(request))),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="openlfr-deployments.csv"'},
    )


@router.get("/healthz")
def health() -> Health:
    return Health(ok=True)
