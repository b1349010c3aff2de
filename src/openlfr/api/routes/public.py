"""The public transparency page and its machine-readable feed: no sign-in, nothing biometric."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from openlfr.api.deps import gov_of, public
from openlfr.api.templating import templates
from openlfr.governance.publication import as_csv, audit_head, public_deployments

router = APIRouter(tags=["public"], dependencies=[Depends(public)])


@router.get("/public", response_class=HTMLResponse)
def public_page(request: Request):  # type: ignore[no-untyped-def]
    gov = gov_of(request)
    entries = public_deployments(gov)
    groups = {status: [e for e in entries if e["status"] == status] for status in ("live", "planned", "past")}
    return templates.TemplateResponse(
        request,
        "public.html",
        {
            "groups": groups,
            "contact": gov.settings.api.data_contact,
            "retention_hours": gov.settings.governance.watchlist_retention_hours,
            "alert_days": gov.settings.governance.alert_retention_days,
            "audit_head": audit_head(gov),
        },
    )


@router.get("/public/audit-head")
def public_audit_head(request: Request) -> dict:
    """The audit trail's newest link, published: ``openlfr audit verify --head SEQ:HASH`` proves
    later that no event up to it was removed or rewritten."""
    return {"head": audit_head(gov_of(request))}


@router.get("/public/deployments.json")
def public_json(request: Request) -> list[dict]:
    return public_deployments(gov_of(request))


@router.get("/public/deployments.csv", response_class=PlainTextResponse)
def public_csv(request: Request) -> Response:
    return Response(
        as_csv(public_deployments(gov_of(request))),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="openlfr-deployments.csv"'},
    )


@router.get("/healthz")
def health() -> dict:
    return {"ok": True}
