"""The field view: what an officer on the street needs to engage, and nothing more.

A field officer sees only alerts an operator confirmed as a match, only on deployments they are
assigned to, with the camera face beside the watchlist photo (each view audited), and records
the engagement's outcome. Everything else answers 404, as if it did not exist.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from openlfr.api.deps import gov_of, require
from openlfr.api.feed import AlertOut, alert_context, alert_summary
from openlfr.api.routes.alerts import Outcome, described
from openlfr.errors import NotFoundError
from openlfr.governance import alerts as al
from openlfr.governance import deployments as dep
from openlfr.governance import watchlists as wl
from openlfr.governance.accounts import Principal
from openlfr.governance.context import Governance
from openlfr.store.models import AlertRecord
from openlfr.vision.images import encode_jpeg

router = APIRouter(prefix="/api/field", tags=["field"])
FIELD = Depends(require("alerts.field"))


def _engageable(gov: Governance, alert_id: str, principal: Principal) -> AlertRecord:
    """The alert, if it is confirmed and on a deployment this officer is assigned to."""
    with gov.store.session() as session:
        row = session.get(AlertRecord, alert_id)
    if (
        row is None
        or row.decision != "confirmed_match"
        or row.deployment_id not in dep.assigned_to(gov, principal.username)
    ):
        raise NotFoundError(f"no confirmed alert {alert_id} on your deployments")
    return row


@router.get("/alerts")
def field_alerts(request: Request, principal: Principal = FIELD) -> list[AlertOut]:
    """Confirmed alerts of the deployments this officer is assigned to, newest first."""
    gov = gov_of(request)
    deployments = dep.assigned_to(gov, principal.username)
    query = (
        select(AlertRecord)
        .where(AlertRecord.deployment_id.in_(deployments), AlertRecord.decision == "confirmed_match")
        .order_by(AlertRecord.raised_at.desc())
        .limit(50)
    )
    with gov.store.session() as session:
        rows = list(session.scalars(query))
        about = alert_context(session, rows)
        return [alert_summary(row, about.get(row.id)) for row in rows]


def _jpeg(data: bytes) -> Response:
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/alerts/{alert_id}/probe.jpg", response_class=Response)
def field_probe(alert_id: str, request: Request, principal: Principal = FIELD) -> Response:
    gov = gov_of(request)
    _engageable(gov, alert_id, principal)
    return _jpeg(encode_jpeg(al.probe_image(gov, alert_id, principal.username, "field engagement")))


@router.get("/alerts/{alert_id}/reference.jpg", response_class=Response)
def field_reference(alert_id: str, request: Request, principal: Principal = FIELD) -> Response:
    gov = gov_of(request)
    row = _engageable(gov, alert_id, principal)
    subject_id = wl.find_subject(gov, row.deployment_id, row.subject_reference)
    return _jpeg(
        wl.reference_jpeg(gov, subject_id, principal.username, f"field engagement, alert {alert_id}")
    )


@router.post("/alerts/{alert_id}/outcome")
def field_outcome(alert_id: str, body: Outcome, request: Request, principal: Principal = FIELD) -> AlertOut:
    """What came of the engagement (a change of it needs a reason, as anywhere)."""
    gov = gov_of(request)
    _engageable(gov, alert_id, principal)
    return described(gov, al.record_outcome(gov, alert_id, body.outcome, principal.username, body.reason))
