"""The alert queue: list, adjudicate, record outcomes, retain, look at the two images, and the live feed."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from openlfr.api.deps import gov_of, principal_of, require, same_origin, service_of
from openlfr.api.feed import AlertOut, alert_context, alert_summary, head, read_feed
from openlfr.governance import alerts as al
from openlfr.governance import watchlists as wl
from openlfr.governance.accounts import Principal
from openlfr.governance.context import Governance, aware
from openlfr.governance.permissions import allowed
from openlfr.store.models import AlertRecord
from openlfr.vision.images import encode_jpeg

router = APIRouter(prefix="/api", tags=["alerts"])


class Decision(BaseModel):
    decision: str = Field(description=" | ".join(al.DECISIONS))
    reason: str = Field("", max_length=2000)


class Outcome(BaseModel):
    outcome: str = Field(description=" | ".join(al.OUTCOMES))
    reason: str = Field("", max_length=2000)


class Retain(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AlertList(BaseModel):
    head: int = Field(description="Feed number to resume the WebSocket from.")
    alerts: list[AlertOut]


class SightingOut(BaseModel):
    id: str
    seen_at: str
    score: float
    track_id: int
    supporting_faces: int


@router.get("/alerts")
def list_alerts(
    request: Request,
    deployment_id: str | None = Query(None, max_length=32),
    undecided: bool = Query(False),
    limit: int = Query(200, ge=1, le=1000),
    _: Principal = Depends(require("alerts.read")),
) -> AlertList:
    """Newest first. ``head`` is the feed position this list is current to."""
    gov = gov_of(request)
    position = head(gov)
    query = select(AlertRecord).order_by(AlertRecord.raised_at.desc()).limit(limit)
    if deployment_id:
        query = query.where(AlertRecord.deployment_id == deployment_id)
    if undecided:
        query = query.where(AlertRecord.decision.is_(None))
    with gov.store.session() as session:
        rows = list(session.scalars(query))
        about = alert_context(session, rows)
        return AlertList(head=position, alerts=[alert_summary(a, about.get(a.id)) for a in rows])


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: str, request: Request, _: Principal = Depends(require("alerts.read"))) -> AlertOut:
    gov = gov_of(request)
    with gov.store.session() as session:
        row = gov.get(session, AlertRecord, alert_id)
        return alert_summary(row, alert_context(session, [row]).get(row.id))


def described(gov: Governance, row: AlertRecord) -> AlertOut:
    """An alert just changed, as the wire shows it (with its deployment and subject)."""
    with gov.store.session() as session:
        return alert_summary(row, alert_context(session, [row]).get(row.id))


@router.get("/alerts/{alert_id}/sightings")
def alert_sightings(
    alert_id: str, request: Request, _: Principal = Depends(require("alerts.read"))
) -> list[SightingOut]:
    """Every sighting grouped into this alert, oldest first: when, how well, which track (no images)."""
    return [
        SightingOut(
            id=s.id,
            seen_at=aware(s.seen_at).isoformat(timespec="milliseconds"),
            score=round(s.score, 4),
            track_id=s.track_id,
            supporting_faces=s.supporting_faces,
        )
        for s in al.sightings(gov_of(request), alert_id)
    ]


def _jpeg(data: bytes) -> Response:
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/alerts/{alert_id}/probe.jpg", response_class=Response)
def probe_image(alert_id: str, request: Request, principal: Principal = Depends(require("alerts.images"))):
    """The camera's face crop (decrypted for this request; the viewing is audited)."""
    image = al.probe_image(gov_of(request), alert_id, principal.username, "adjudication")
    return _jpeg(encode_jpeg(image))


@router.get("/alerts/{alert_id}/reference.jpg", response_class=Response)
def reference_image(
    alert_id: str, request: Request, principal: Principal = Depends(require("alerts.images"))
):
    """The watchlist photo of the alerted subject (audited)."""
    gov = gov_of(request)
    with gov.store.session() as session:
        row = gov.get(session, AlertRecord, alert_id)
        deployment_id, reference = row.deployment_id, row.subject_reference
    subject_id = wl.find_subject(gov, deployment_id, reference)
    return _jpeg(wl.reference_jpeg(gov, subject_id, principal.username, f"adjudication of alert {alert_id}"))


@router.post("/alerts/{alert_id}/decision")
def decide(
    alert_id: str, body: Decision, request: Request, principal: Principal = Depends(require("alerts.decide"))
) -> AlertOut:
    gov = gov_of(request)
    return described(gov, al.decide(gov, alert_id, body.decision, principal.username, body.reason))


@router.post("/alerts/{alert_id}/outcome")
def outcome(
    alert_id: str, body: Outcome, request: Request, principal: Principal = Depends(require("alerts.decide"))
) -> AlertOut:
    gov = gov_of(request)
    return described(gov, al.record_outcome(gov, alert_id, body.outcome, principal.username, body.reason))


@router.post("/alerts/{alert_id}/retain")
def retain(
    alert_id: str, body: Retain, request: Request, principal: Principal = Depends(require("alerts.retain"))
) -> AlertOut:
    gov = gov_of(request)
    return described(gov, al.retain(gov, alert_id, principal.username, body.reason))


async def _still_allowed(websocket: WebSocket) -> bool:
    """Whether the socket's credential still holds: not revoked, not expired, the user not
    disabled, the session not ended or idle, and the role still allowed to read alerts."""
    try:
        principal = await run_in_threadpool(principal_of, websocket, False)
    except Exception:
        return False
    return principal is not None and allowed(principal.role, "alerts.read")


async def _guard(websocket: WebSocket) -> None:
    """Return once the socket's credential stops holding (checked every ``api.socket_recheck_seconds``),
    whatever the stream is doing: sending a backlog, or stuck on a client that stopped reading."""
    interval = service_of(websocket).gov.settings.api.socket_recheck_seconds
    while True:
        await asyncio.sleep(interval)
        if not await _still_allowed(websocket):
            return


async def _stream(websocket: WebSocket, queue: asyncio.Queue, since: int | None) -> None:
    """The backlog after ``since`` from the store, then hub events, until the client leaves
    (noticed at once, not at the next send)."""
    service = service_of(websocket)
    last = since if since is not None else await run_in_threadpool(head, service.gov)
    while True:
        backlog = await run_in_threadpool(read_feed, service.gov, last)
        for event in backlog:
            await websocket.send_json(event)
            last = event["seq"]
        if len(backlog) < 500:
            break
    departure = asyncio.create_task(websocket.receive())
    arrival: asyncio.Task | None = None
    try:
        while True:
            arrival = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({arrival, departure}, return_when=asyncio.FIRST_COMPLETED)
            if arrival not in done:
                arrival.cancel()  # cancelling a pending get() loses nothing
            if departure in done:
                if departure.result()["type"] == "websocket.disconnect":
                    return
                departure = asyncio.create_task(websocket.receive())  # clients have nothing to say; ignore
            if arrival in done:
                event = arrival.result()
                if event is None:
                    await websocket.close(code=4008, reason="too slow; reconnect with since")
                    return
                if event["seq"] > last:
                    await websocket.send_text(event["text"])
                    last = event["seq"]
    finally:
        departure.cancel()
        if arrival is not None:
            arrival.cancel()


@router.websocket("/alerts/ws")
async def alert_stream(websocket: WebSocket, since: int | None = Query(None, ge=0, le=2**62)) -> None:
    """Every alert event after feed number ``since`` (default: from now), in order, then live.

    Each message is ``{"seq", "kind", "at", "alert"}``. Reconnect with the last ``seq`` seen
    to receive everything missed.
    """
    try:
        principal = await run_in_threadpool(principal_of, websocket)
    except Exception:
        principal = None
    if (
        principal is None
        or not allowed(principal.role, "alerts.read")
        or not ("authorization" in websocket.headers or same_origin(websocket))
    ):
        await websocket.close(code=4403, reason="not allowed")
        return
    await websocket.accept()
    service = service_of(websocket)
    queue = service.hub.subscribe()
    stream = asyncio.create_task(_stream(websocket, queue, since))
    guard = asyncio.create_task(_guard(websocket))
    try:
        done, _ = await asyncio.wait({stream, guard}, return_when=asyncio.FIRST_COMPLETED)
        if guard in done:
            stream.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(code=4401, reason="signed out, disabled or revoked"), 1.0
                )
        else:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                stream.result()
    finally:
        stream.cancel()
        guard.cancel()
        service.hub.unsubscribe(queue)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(), 1.0)
