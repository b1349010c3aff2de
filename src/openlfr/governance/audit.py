"""The audit trail: an append-only hash chain a court can verify.

Each event's hash covers its own fields and the previous event's hash, so editing,
deleting or reordering any row breaks the chain at that row. ``verify`` walks the chain and
names the first broken link. Publishing the head hash and count (``openlfr audit verify``
prints them) also lets an outsider detect a chain cut short at its end.

Events hold who, when, what, which object and why; never biometric data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from openlfr.store.models import AlertRecord, AuditEvent, Deployment, User

GENESIS = "0" * 64


def _canonical_time(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite hands back naive datetimes that were stored as UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(event: AuditEvent) -> str:
    body = json.dumps(
        {
            "seq": event.seq,
            "at": _canonical_time(event.at),
            "actor": event.actor,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "reason": event.reason,
            "details": event.details,
            "prev": event.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def lock_chain(session: Session) -> None:
    """Hold the chain's write lock until this transaction ends, so concurrent appends queue up.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write statement (matching no
    rows) starts the write transaction before the last link is read.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7201)"))
    else:
        session.execute(text("UPDATE audit_events SET seq = seq WHERE 1 = 0"))


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    at: datetime,
    reason: str = "",
    details: dict | None = None,
) -> AuditEvent:
    """Add the next link (flushed in the caller's transaction, so it commits with the action it records)."""
    lock_chain(session)
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        reason=reason,
        details=details or {},
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = event_hash(event)
    session.add(event)
    session.flush()  # a concurrent writer taking the same seq fails on the primary key, never forks the chain
    return event


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    events: int
    head: str
    broken_at: int | None = None
    problem: str = ""


def head(session: Session) -> tuple[int, str]:
    """The chain's newest link (number and hash): what is published, so that removing or rewriting
    any event up to it can be proved later (``verify(published=...)``)."""
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as published, e.g. ``1234:9f…``."""
    number, _, digest = text.strip().partition(":")
    if not number.isdigit() or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"{text!r} is not a published head: SEQ:HASH with a 64-character hex hash")
    return int(number), digest


def verify(session: Session, published: tuple[int, str] | None = None) -> ChainReport:
    """Walk the whole chain; stop at the first link that does not hold. With a ``published`` head
    (number and hash from a public page or report), also prove that the chain still reaches that
    event with that hash: a chain cut short, or rewritten and re-hashed from some event on, fails
    here even though each of its links holds."""
    report = _walk(session)
    if not report.intact or published is None:
        return report
    seq, digest = published
    found = session.get(AuditEvent, seq) if seq else None
    if seq and found is None:
        return ChainReport(
            False, report.events, report.head, seq, f"published event {seq} is gone: events were removed"
        )
    if found is not None and found.hash != digest:
        return ChainReport(
            False,
            report.events,
            report.head,
            seq,
            f"event {seq} no longer has its published hash: the chain was rewritten",
        )
    return report


def _walk(session: Session) -> ChainReport:
    previous, expected_seq, count = GENESIS, 1, 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        if event.seq != expected_seq:
            return ChainReport(False, count, previous, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != previous:
            return ChainReport(
                False, count, previous, event.seq, f"event {event.seq} does not follow event {event.seq - 1}"
            )
        if event_hash(event) != event.hash:
            return ChainReport(
                False, count, previous, event.seq, f"event {event.seq} was altered after it was written"
            )
        previous, expected_seq, count = event.hash, expected_seq + 1, count + 1
    return ChainReport(True, count, previous)


def object_names(session: Session, events: list[AuditEvent]) -> dict[tuple[str, str], str]:
    """Readable names of the events' objects: deployments and users by name, alerts by their
    deployment and camera. Subjects stay ids: their references are personal and sealed."""
    ids: dict[str, set[str]] = {}
    for event in events:
        ids.setdefault(event.object_type, set()).add(event.object_id)
    names: dict[tuple[str, str], str] = {}
    for d_id, name in session.execute(
        select(Deployment.id, Deployment.name).where(Deployment.id.in_(ids.get("deployment", set())))
    ):
        names[("deployment", d_id)] = name
    for u_id, username in session.execute(
        select(User.id, User.username).where(User.id.in_(ids.get("user", set())))
    ):
        names[("user", u_id)] = username
    alerts = session.execute(
        select(AlertRecord.id, AlertRecord.camera, Deployment.name)
        .join(Deployment, Deployment.id == AlertRecord.deployment_id)
        .where(AlertRecord.id.in_(ids.get("alertrecord", set())))
    )
    for a_id, camera, name in alerts:
        names[("alertrecord", a_id)] = f"alert on {camera}, {name}"
    for gallery in ids.get("gallery", set()):
        names[("gallery", gallery)] = f"gallery {gallery}"
    return names
