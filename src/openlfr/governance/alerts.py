"""Alerts at rest, and the people who decide about them.

An alert is stored with its probe crop sealed; candidates hold only subject references and
scores. Later sightings of its subject on its camera attach to it while it is open
(``live.sightings``); it shows the best sighting's score and crop. Operators record a
decision (confirmed match, false alert, not engaged, unable to locate) and, after any
engagement, an outcome. Reading a probe crop is an audited act.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select, text

from openlfr.errors import PolicyViolation
from openlfr.governance.audit import lock_chain
from openlfr.governance.context import Governance, aware
from openlfr.live.alerts import Alert
from openlfr.live.sightings import attaches
from openlfr.reasons import is_given
from openlfr.store.models import AlertFeedEntry, AlertRecord, AlertSighting, Deployment, Subject
from openlfr.vision.images import decode_jpeg, encode_jpeg

DECISIONS = ("confirmed_match", "false_alert", "not_engaged", "unable_to_locate")
OUTCOMES = ("arrest", "no_further_action", "safeguarding", "words_of_advice", "other")


def record(gov: Governance, deployment_id: str, alert: Alert, actor: str = "engine") -> AlertRecord | None:
    """Store a sighting: as a new alert, or attached to its subject's open alert on the same camera
    (``live.sightings``). Idempotent on the sighting's id, so a retried write never duplicates.
    A sighting of someone no longer on the watchlist (removed, or expired) when it is written is
    not stored: an engine may still match them until its next watchlist check. The audit trail
    counts it, without saying who."""
    seen_at = datetime.fromtimestamp(alert.raised_at, UTC)
    with gov.store.session() as session:
        lock_chain(session)  # a watchlist change audits under this lock: it is wholly before or after
        _one_at_a_time(session, f"{deployment_id}/{alert.camera}/{alert.subject}")
        known = session.get(AlertSighting, alert.alert_id)
        if known is not None:
            return gov.get(session, AlertRecord, known.alert_id)
        if not _on_watchlist(gov, session, deployment_id, alert.subject):
            deployment = gov.get(session, Deployment, deployment_id)
            reason = "the subject is no longer on the watchlist"
            gov.audit(session, actor, "alert.discarded", deployment, reason, camera=alert.camera)
            return None
        owner = _open_alert(gov, session, deployment_id, alert, seen_at)
        if owner is not None:
            row = _attach(gov, session, owner, alert, seen_at)
            score = round(alert.score, 4)
            gov.audit(
                session, actor, "alert.sighting", row, sighting=row.sightings, score=score
            )  # no one named
            _feed(gov, session, row, "alert.sighting")
        else:
            row = AlertRecord(
                id=alert.alert_id,
                deployment_id=deployment_id,
                camera=alert.camera,
                subject_reference=alert.subject,
                raised_at=seen_at,
                last_seen_at=seen_at,
                sightings=1,
                latency_ms=alert.latency_ms,
            )
            _take_best(gov, row, alert)
            session.add(row)
            session.flush()
            gov.audit(
                session,
                actor,
                "alert.create",
                row,
                sealed_for=deployment_id,
                personal={"subject": alert.subject},
                score=round(alert.score, 4),
            )
            _feed(gov, session, row, "alert.created")
        session.add(_sighting(alert, row.id, seen_at))
        return row


def _on_watchlist(gov: Governance, session, deployment_id: str, reference: str) -> bool:
    expires = session.scalar(
        select(Subject.expires_at).where(
            Subject.deployment_id == deployment_id, Subject.reference == reference
        )
    )
    return expires is not None and aware(expires) >= gov.now()


def _open_alert(gov: Governance, session, deployment_id: str, alert: Alert, seen_at: datetime):
    """The alert a sighting joins: the last one raised before it, if still open when it was seen;
    else the first one raised after it (a sighting that arrives late is that alert's earliest)."""
    same = select(AlertRecord).where(
        AlertRecord.deployment_id == deployment_id,
        AlertRecord.camera == alert.camera,
        AlertRecord.subject_reference == alert.subject,
    )
    before = session.scalars(
        same.where(AlertRecord.raised_at <= seen_at).order_by(AlertRecord.raised_at.desc()).limit(1)
    ).first()
    if before is not None and attaches(aware(before.decided_at), seen_at, gov.settings.live.sighting_window):
        return before
    return session.scalars(
        same.where(AlertRecord.raised_at > seen_at).order_by(AlertRecord.raised_at).limit(1)
    ).first()


def _one_at_a_time(session, key: str) -> None:
    """Hold the write lock for ``key`` before reading anything: sightings written at once (several
    engine processes, spool replays) join one alert, and a decision is made on the alert as the
    last one left it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    else:  # SQLite: the first write takes the database's one write lock for the whole transaction
        session.execute(text("UPDATE alerts SET sightings = sightings WHERE 1 = 0"))


def _attach(gov: Governance, session, row: AlertRecord, alert: Alert, seen_at: datetime) -> AlertRecord:
    """A later sighting joins an open alert: counted, first and last seen widened (sightings may
    arrive out of order), best score and crop kept."""
    row.sightings += 1
    row.raised_at = min(aware(row.raised_at) or seen_at, seen_at)
    row.last_seen_at = max(aware(row.last_seen_at) or seen_at, seen_at)
    if alert.score > row.score and row.probe_sealed is not None:
        _take_best(gov, row, alert)
    return row


def _take_best(gov: Governance, row: AlertRecord, alert: Alert) -> None:
    """The alert shows its best sighting: that sighting's score, candidates and probe crop."""
    row.score, row.threshold = alert.score, alert.threshold
    row.candidates = [{"subject": c.subject, "score": round(c.score, 4)} for c in alert.candidates]
    row.track_id, row.supporting_faces = alert.track_id, alert.supporting_faces
    row.probe_sealed = gov.store.seal(row.deployment_id, encode_jpeg(alert.probe_crop), f"probe:{row.id}")


def _sighting(alert: Alert, alert_id: str, seen_at: datetime) -> AlertSighting:
    return AlertSighting(
        id=alert.alert_id,
        alert_id=alert_id,
        seen_at=seen_at,
        score=alert.score,
        track_id=alert.track_id,
        supporting_faces=alert.supporting_faces,
    )


def sightings(gov: Governance, alert_id: str) -> list[AlertSighting]:
    """An alert's sightings, oldest first (no images)."""
    with gov.store.session() as session:
        gov.get(session, AlertRecord, alert_id)
        return list(
            session.scalars(
                select(AlertSighting)
                .where(AlertSighting.alert_id == alert_id)
                .order_by(AlertSighting.seen_at)
            )
        )


def _feed(gov: Governance, session, row: AlertRecord, kind: str) -> None:
    """Append to the ordered feed in the same transaction: an alert is stored before anyone is told.

    On PostgreSQL a transaction lock makes feed numbers commit in order, so a reader that has
    seen number n has seen every number below it.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7203)"))
    session.add(AlertFeedEntry(alert_id=row.id, deployment_id=row.deployment_id, kind=kind, at=gov.now()))


def decide(gov: Governance, alert_id: str, decision: str, actor: str, reason: str = "") -> AlertRecord:
    """Record an operator's decision. The states: undecided, then one decision; an outcome only
    after a confirmed match. Changing a decision needs a reason and is audited with the one it
    replaces; changing away from a confirmed match withdraws its outcome (an arrest cannot stand
    after a false alert), audited too. Deciding the same again changes nothing."""
    if decision not in DECISIONS:
        raise PolicyViolation(f"decision must be one of {', '.join(DECISIONS)}")
    with gov.store.session() as session:
        lock_chain(session)  # first, as every audited change takes it: one at a time, and no deadlock
        row = gov.get(session, AlertRecord, alert_id)
        previous, withdrawn = row.decision, None
        if previous == decision:
            return row
        if previous is not None and not is_given(reason):
            raise PolicyViolation(
                f"this alert was decided {previous.replace('_', ' ')}; changing that needs a reason"
            )
        if row.outcome is not None and decision != "confirmed_match":
            withdrawn, row.outcome, row.outcome_by, row.outcome_at = row.outcome, None, None, None
        row.decision, row.decided_by, row.decided_at = decision, actor, gov.now()
        changes = {"previous": previous} if previous else {}
        changes |= {"outcome_withdrawn": withdrawn} if withdrawn else {}
        action = "alert.adjudicate" if previous is None else "alert.redecide"
        gov.audit(
            session, actor, action, row, reason, sealed_for=row.deployment_id, decision=decision, **changes
        )
        _feed(gov, session, row, "alert.decided")
        return row


def record_outcome(gov: Governance, alert_id: str, outcome: str, actor: str, reason: str = "") -> AlertRecord:
    """The outcome of an engagement, after a confirmed match; changing one needs a reason."""
    if outcome not in OUTCOMES:
        raise PolicyViolation(f"outcome must be one of {', '.join(OUTCOMES)}")
    with gov.store.session() as session:
        lock_chain(session)  # first, as every audited change takes it: one at a time, and no deadlock
        row = gov.get(session, AlertRecord, alert_id)
        if row.decision != "confirmed_match":
            raise PolicyViolation("an outcome follows an engagement: confirm the match first")
        previous = row.outcome
        if previous == outcome:
            return row
        if previous is not None and not is_given(reason):
            raise PolicyViolation(
                f"the outcome was {previous.replace('_', ' ')}; changing that needs a reason"
            )
        row.outcome, row.outcome_by, row.outcome_at = outcome, actor, gov.now()
        changes = {"previous": previous} if previous else {}
        gov.audit(
            session,
            actor,
            "alert.outcome",
            row,
            reason,
            sealed_for=row.deployment_id,
            outcome=outcome,
            **changes,
        )
        _feed(gov, session, row, "alert.outcome")
        return row


def retain(gov: Governance, alert_id: str, actor: str, reason: str) -> AlertRecord:
    """Keep an alert past its retention period (for example, evidence in a prosecution)."""
    if not is_given(reason):
        raise PolicyViolation("keeping an alert past its retention period needs a reason")
    with gov.store.session() as session:
        lock_chain(session)  # first, as every audited change takes it: one at a time, and no deadlock
        row = gov.get(session, AlertRecord, alert_id)
        if row.probe_sealed is None:
            raise PolicyViolation("this alert's images were already purged")
        row.retain_reason, row.retained_by = reason, actor
        gov.audit(session, actor, "alert.retain", row, reason, sealed_for=row.deployment_id)
        return row


def probe_image(gov: Governance, alert_id: str, actor: str, reason: str) -> np.ndarray:
    """The camera's face crop for an alert, decrypted for a person to look at (audited)."""
    with gov.store.session() as session:
        row = gov.get(session, AlertRecord, alert_id)
        if row.probe_sealed is None:
            raise PolicyViolation("this alert's images were purged under the retention policy")
        jpeg = gov.store.open(row.deployment_id, row.probe_sealed, f"probe:{row.id}")
        gov.audit(session, actor, "alert.view_probe", row, reason, sealed_for=row.deployment_id)
    return decode_jpeg(jpeg)


def list_alerts(gov: Governance, deployment_id: str) -> list[AlertRecord]:
    with gov.store.session() as session:
        gov.get(session, Deployment, deployment_id)
        return list(
            session.scalars(
                select(AlertRecord)
                .where(AlertRecord.deployment_id == deployment_id)
                .order_by(AlertRecord.raised_at)
            )
        )
