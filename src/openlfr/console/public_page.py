"""The public transparency page: what is planned, live and past, for anyone, with no sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from openlfr.api.deps import gov_of, public
from openlfr.console.templating import templates
from openlfr.governance.publication import audit_head, public_deployments

router = APIRouter(tags=["public"], dependencies=[Depends(public)], include_in_schema=False)


@router.get("/public", response_class=HTMLResponse)
def public_page(request: Request):
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
