"""The purge job: retention periods enforced by code, run by ``openlfr purge`` and by the service.

- A live deployment whose window has closed is ended.
- A deployment's watchlist (templates and reference images) goes once the deployment has
  been ended for ``watchlist_retention_hours``, and so does a subject that long past its own
  expiry (an expired subject is never matched, see ``load_gallery``).
- An alert's personal data (probe crop, subject reference, candidates) goes
  ``alert_retention_days`` after its last sighting unless it is marked for retention with a
  reason; the decision and outcome stay as anonymous counts for the transparency report.
- When nothing sealed is left, the deployment's data key is destroyed (crypto-shredding)
  and the deployment is marked purged.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from openlfr.errors import StoreError
from openlfr.governance.audit import lock_chain
from openlfr.governance.context import Governance, aware
from openlfr.store.models import AlertRecord, Deployment, Subject

ACTOR = "retention-job"
log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    ended_deployments: list[str] = field(default_factory=list)
    subjects_deleted: int = 0
    alerts_anonymised: int = 0
    keys_destroyed: list[str] = field(default_factory=list)
    keys_pending: list[str] = field(default_factory=list)  # deleted, not yet erased: a reader held them
    dry_run: bool = False

    @property
    def nothing(self) -> bool:
        return not (
            self.ended_deployments or self.subjects_deleted or self.alerts_anonymised or self.keys_destroyed
        )


def purge(gov: Governance, dry_run: bool = False) -> PurgeReport:
    report = PurgeReport(dry_run=dry_run)
    now = gov.now()
    rules = gov.settings.governance
    shredded: list[str] = []
    with gov.store.session() as session:
        if not dry_run:
            lock_chain(session)  # before any row, as every audited change: no deadlock with them
        for deployment in session.scalars(select(Deployment).where(Deployment.state == "live")):
            if aware(deployment.planned_end) < now:
                report.ended_deployments.append(deployment.id)
                if not dry_run:
                    deployment.state, deployment.ended_at = "ended", aware(deployment.planned_end)
                    gov.audit(session, ACTOR, "deployment.end", deployment, "time window closed")

        for deployment in session.scalars(
            select(Deployment).where(Deployment.state.in_(("ended", "draft", "authorised", "live")))
        ):
            keep_for = timedelta(hours=rules.watchlist_retention_hours)
            ended = aware(deployment.ended_at)
            whole_list = ended is not None and ended + keep_for <= now
            subjects = session.scalars(select(Subject).where(Subject.deployment_id == deployment.id)).all()
            doomed = [s for s in subjects if whole_list or aware(s.expires_at) + keep_for <= now]
            report.subjects_deleted += len(doomed)
            if not dry_run:
                for subject in doomed:
                    gov.audit(session, ACTOR, "subject.purge", subject, "retention period over")
                    session.delete(subject)
                if whole_list and deployment.watchlist_purged_at is None:
                    deployment.watchlist_purged_at = now
                    gov.audit(session, ACTOR, "watchlist.purge", deployment, "retention period over")

        cutoff = now - timedelta(days=rules.alert_retention_days)
        expired = session.scalars(
            select(AlertRecord).where(
                AlertRecord.probe_sealed.is_not(None),
                AlertRecord.retain_reason.is_(None),
                func.coalesce(AlertRecord.last_seen_at, AlertRecord.raised_at) <= cutoff,
            )
        ).all()
        report.alerts_anonymised = len(expired)
        if not dry_run:
            for alert in expired:
                alert.probe_sealed, alert.subject_reference, alert.candidates = None, "[purged]", []
                gov.audit(session, ACTOR, "alert.purge", alert, "retention period over")
        session.flush()

        ended_and_emptied = select(Deployment).where(
            Deployment.state == "ended", Deployment.watchlist_purged_at.is_not(None)
        )
        for deployment in session.scalars(ended_and_emptied):
            sealed_left = session.scalar(
                select(AlertRecord.id)
                .where(AlertRecord.deployment_id == deployment.id, AlertRecord.probe_sealed.is_not(None))
                .limit(1)
            )
            if sealed_left is None:
                report.keys_destroyed.append(deployment.id)
                shredded.append(deployment.id)
    if dry_run:
        return report
    if not report.nothing:
        gov.store.erase_deleted()  # what was deleted above is gone from the files, not just the tables
    for deployment_id in shredded:  # only once the deletions above are committed
        if not shred(gov, deployment_id, now):
            report.keys_destroyed.remove(deployment_id)
            report.keys_pending.append(deployment_id)
    if not shredded and not gov.store.erase_destroyed_keys():  # keys deleted earlier, erasure blocked then
        log.warning("a reader of the key store still holds old pages; their erasure is retried next run")
    return report


def shred(gov: Governance, deployment_id: str, now: datetime) -> bool:
    """Destroy a deployment's data key and what was sealed under it, then record it as purged:
    a deployment shown as purged has no key left in any file of the key store. False (and not
    yet purged) when a reader kept the erasure from finishing: the next purge finishes it."""
    try:
        gov.store.destroy_data_key(deployment_id)
    except StoreError as exc:
        log.warning("%s", exc)
        return False
    spool = gov.settings.data_dir / "spool" / deployment_id
    if spool.is_dir():  # alerts never written to the database, sealed under the key just destroyed
        shutil.rmtree(spool, ignore_errors=True)
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
        deployment.state, deployment.purged_at = "purged", now
        gov.audit(session, ACTOR, "deployment.purge", deployment, "nothing left to keep: data key destroyed")
    return True
