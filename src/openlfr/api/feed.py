"""The alert feed: stored alert events read in order, and fanned out to every WebSocket client.

Alerts reach the feed table in the same transaction that stores them, so a client is only ever
told about an alert that is already safe. One poller reads the table for all clients; a client
that reconnects with the last number it saw is sent everything after it from the table.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openlfr.governance.context import Governance, aware
from openlfr.store.models import AlertFeedEntry, AlertRecord, Deployment, Subject

log = logging.getLogger(__name__)

MAX_CLIENT_BACKLOG = 10_000


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat(timespec="milliseconds") if value else None


def alert_context(session: Session, rows: Iterable[AlertRecord]) -> dict[str, dict]:
    """What an operator needs beside each alert, by alert id: the deployment's name and place, and
    the subject's category, reason and photo date from the watchlist (None once removed)."""
    rows = list(rows)
    ids = {row.deployment_id for row in rows}
    if not ids:
        return {}
    places = {
        d_id: (name, place)
        for d_id, name, place in session.execute(
            select(Deployment.id, Deployment.name, Deployment.location_name).where(Deployment.id.in_(ids))
        )
    }
    entries = {
        (d_id, reference): (category, reason, image_date)
        for d_id, reference, category, reason, image_date in session.execute(
            select(
                Subject.deployment_id, Subject.reference, Subject.category, Subject.reason, Subject.image_date
            ).where(Subject.deployment_id.in_(ids))
        )
    }
    context = {}
    for row in rows:
        name, place = places.get(row.deployment_id, (None, None))
        category, reason, image_date = entries.get((row.deployment_id, row.subject_reference), (None,) * 3)
        context[row.id] = {
            "deployment": name,
            "location": place,
            "category": category,
            "reason": reason,
            "image_date": _iso(image_date),
        }
    return context


class CandidateOut(BaseModel):
    subject: str
    score: float


class AlertOut(BaseModel):
    """An alert on the wire: metadata only (the images have their own audited routes), with where
    it was raised and why its subject is on the watchlist."""

    id: str
    deployment_id: str
    camera: str
    subject: str | None = Field(description="The subject's reference; none once purged.")
    score: float
    threshold: float
    candidates: list[CandidateOut] | None
    track_id: int
    supporting_faces: int
    raised_at: str | None
    last_seen_at: str | None
    sightings: int
    latency_ms: float
    decision: str | None
    decided_by: str | None
    outcome: str | None
    retained: bool
    images_available: bool
    deployment: str | None = None
    location: str | None = None
    category: str | None = None
    reason: str | None = Field(None, description="Why the subject is on the watchlist.")
    image_date: str | None = None


def alert_summary(row: AlertRecord, about: dict | None = None) -> AlertOut:
    """An alert as the wire shows it, with what ``alert_context`` found about it."""
    return AlertOut(
        **(about or {}),
        **{
            "id": row.id,
            "deployment_id": row.deployment_id,
            "camera": row.camera,
            "subject": row.subject_reference,
            "score": round(row.score, 4),
            "threshold": round(row.threshold, 4),
            "candidates": row.candidates,
            "track_id": row.track_id,
            "supporting_faces": row.supporting_faces,
            "raised_at": _iso(row.raised_at),
            "last_seen_at": _iso(row.last_seen_at or row.raised_at),
            "sightings": row.sightings or 1,
            "latency_ms": round(row.latency_ms, 1),
            "decision": row.decision,
            "decided_by": row.decided_by,
            "outcome": row.outcome,
            "retained": row.retain_reason is not None,
            "images_available": row.probe_sealed is not None,
        },
    )


def head(gov: Governance) -> int:
    with gov.store.session() as session:
        return int(session.scalar(select(func.max(AlertFeedEntry.seq))) or 0)


def read_feed(gov: Governance, after: int, limit: int = 500) -> list[dict]:
    """Feed events after number ``after``, oldest first, each with its alert as it is now."""
    with gov.store.session() as session:
        rows = session.execute(
            select(AlertFeedEntry, AlertRecord)
            .join(AlertRecord, AlertRecord.id == AlertFeedEntry.alert_id)
            .where(AlertFeedEntry.seq > after)
            .order_by(AlertFeedEntry.seq)
            .limit(limit)
        ).all()
        about = alert_context(session, (alert for _, alert in rows))
        return [
            {
                "seq": entry.seq,
                "kind": entry.kind,
                "at": _iso(entry.at),
                "alert": alert_summary(alert, about.get(alert.id)).model_dump(mode="json"),
            }
            for entry, alert in rows
        ]


class AlertHub:
    """Polls the feed once for everyone and hands each new event to every subscriber's queue."""

    def __init__(self, gov: Governance, poll_seconds: float) -> None:
        self.gov = gov
        self.poll_seconds = poll_seconds
        self.last_seq = 0
        self.subscribers: set[asyncio.Queue] = set()

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    async def run(self) -> None:
        self.last_seq = await asyncio.to_thread(head, self.gov)
        while True:
            try:
                events = await asyncio.to_thread(read_feed, self.gov, self.last_seq)
            except Exception as exc:  # database away: clients keep their place and catch up later
                log.warning("alert feed unreadable: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for event in events:
                event["text"] = json.dumps(
                    {k: v for k, v in event.items() if k != "text"}
                )  # encoded once for all
                for queue in list(self.subscribers):
                    if queue.qsize() > MAX_CLIENT_BACKLOG:
                        queue.put_nowait(None)  # too slow: the client is cut off and must resume by number
                        self.subscribers.discard(queue)
                    else:
                        queue.put_nowait(event)
                self.last_seq = event["seq"]
            if len(events) < 500:
                await asyncio.sleep(self.poll_seconds)
