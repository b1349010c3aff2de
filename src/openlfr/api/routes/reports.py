"""Transparency reports of single deployments, for signed-in users (JSON, HTML and the plot)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from openlfr.api.deps import gov_of, require
from openlfr.governance import reports
from openlfr.governance.accounts import Principal

router = APIRouter(prefix="/api", tags=["reports"])


@router.get("/deployments/{deployment_id}/report")
def report_json(
    deployment_id: str, request: Request, _: Principal = Depends(require("reports.read"))
) -> dict[str, Any]:
    """The transparency report: counts, outcomes, rates and the audit head (no personal data)."""
    return reports.build(gov_of(request), deployment_id)


@router.get("/deployments/{deployment_id}/report.html", response_class=HTMLResponse)
def report_html(deployment_id: str, request: Request, _: Principal = Depends(require("reports.read"))):
    report = reports.build(gov_of(request), deployment_id)
    return HTMLResponse(reports.render_html(report, stylesheet="/static/report.css", back="/console/reports"))


@router.get("/deployments/{deployment_id}/report.png", response_class=Response)
def report_plot(deployment_id: str, request: Request, _: Principal = Depends(require("reports.read"))):
    return Response(
        reports.alerts_plot_png(reports.build(gov_of(request), deployment_id)), media_type="image/png"
    )
