"""Deployments and their life: draft → authorised → live → ended → purged.

Matching is allowed only for a deployment that is live, was authorised by its named
authorising officer, has an approved watchlist and confirmed signage, and only inside its
planned time window. Every transition is audited.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from openlfr.errors import OpenLFRError, PolicyViolation
from openlfr.governance.audit import lock_chain
from openlfr.governance.context import Governance, aware
from openlfr.models import ModelPack, load_pack
from openlfr.store.models import Deployment, Subject, User

STATES = ("draft", "authorised", "live", "ended", "purged")


@dataclass(frozen=True)
class DeploymentPlan:
    """What a deployment must state before anyone may authorise it."""

    name: str
    purpose: str
    location_name: str
    planned_start: datetime
    planned_end: datetime
    authorising_officer: str
    legal_basis: str
    dpia_reference: str
    area_description: str = ""
    cameras: tuple[str, ...] = ()
    signage_confirmed: bool = False
    alert_threshold: float | None = None


def create(gov: Governance, plan: DeploymentPlan, actor: str) -> Deployment:
    for field_name in (
        "name",
        "purpose",
        "location_name",
        "authorising_officer",
        "legal_basis",
        "dpia_reference",
    ):
        if not str(getattr(plan, field_name)).strip():
            raise PolicyViolation(f"a deployment needs a {field_name.replace('_', ' ')}")
    if aware(plan.planned_end) <= aware(plan.planned_start):
        raise PolicyViolation("the planned end must come after the planned start")
    threshold = (
        plan.alert_threshold if plan.alert_threshold is not None else gov.settings.live.alert_threshold
    )
    if not -1.0 <= threshold <= 1.0:
        raise PolicyViolation("the alert threshold is a cosine similarity between -1 and 1")
    with gov.store.session() as session:
        deployment = Deployment(
            name=plan.name,
            purpose=plan.purpose,
            location_name=plan.location_name,
            area_description=plan.area_description,
            planned_start=aware(plan.planned_start),
            planned_end=aware(plan.planned_end),
            cameras=list(plan.cameras),
            authorising_officer=plan.authorising_officer,
            legal_basis=plan.legal_basis,
            dpia_reference=plan.dpia_reference,
            signage_confirmed=plan.signage_confirmed,
            alert_threshold=threshold,
            state="draft",
            created_by=actor,
            created_at=gov.now(),
            faces_seen=0,
            tracks_seen=0,
            published=True,
        )
        session.add(deployment)
        session.flush()
        gov.audit(session, actor, "deployment.create", deployment, details={"location": plan.location_name})
    gov.store.create_data_key(deployment.id)
    return deployment


def _transition(
    gov: Governance, deployment_id: str, actor: str, action: str, reason: str, change
) -> Deployment:
    with gov.store.session() as session:
        lock_chain(session)  # before the row, as every audited change: no deadlock with the purge
        deployment = gov.get(session, Deployment, deployment_id)
        details = change(session, deployment) or {}
        gov.audit(session, actor, action, deployment, reason, state=deployment.state, **details)
        return deployment


def authorise(gov: Governance, deployment_id: str, actor: str, reason: str = "") -> Deployment:
    """Only the authorising officer named on the deployment may authorise it, and only from draft."""

    def change(session, deployment: Deployment) -> None:
        if deployment.state != "draft":
            raise PolicyViolation(f"deployment is {deployment.state}; only a draft can be authorised")
        if actor != deployment.authorising_officer:
            raise PolicyViolation(
                f"only the named authorising officer ({deployment.authorising_officer}) "
                "may authorise this deployment"
            )
        if aware(deployment.planned_end) <= gov.now():
            raise PolicyViolation("the deployment's time window is already over")
        deployment.state, deployment.authorised_by, deployment.authorised_at = "authorised", actor, gov.now()

    return _transition(gov, deployment_id, actor, "deployment.authorise", reason, change)


def confirm_signage(gov: Governance, deployment_id: str, actor: str) -> Deployment:
    def change(session, deployment: Deployment) -> None:
        if deployment.state in ("ended", "purged"):
            raise PolicyViolation(f"deployment is {deployment.state}")
        deployment.signage_confirmed = True

    return _transition(gov, deployment_id, actor, "deployment.signage", "", change)


def approve_watchlist(gov: Governance, deployment_id: str, actor: str, reason: str = "") -> Deployment:
    def change(session, deployment: Deployment) -> None:
        if deployment.state not in ("draft", "authorised"):
            raise PolicyViolation(f"deployment is {deployment.state}; its watchlist can no longer change")
        count = session.scalar(select(Subject.id).where(Subject.deployment_id == deployment.id).limit(1))
        if count is None:
            raise PolicyViolation("the watchlist is empty")
        deployment.watchlist_approved_by, deployment.watchlist_approved_at = actor, gov.now()

    return _transition(gov, deployment_id, actor, "watchlist.approve", reason, change)


def pack_in_use(gov: Governance) -> ModelPack:
    return load_pack(gov.settings.model_pack)


def model_of(gov: Governance, d: Deployment) -> dict[str, object]:
    """The model pack a deployment matches with and its licence: as fixed when it went live; before
    that, the pack the service would use; for one that ran before packs were recorded, unknown."""
    if d.model_pack is not None:
        return {"model_pack": d.model_pack, "model_licence": d.model_licence, "research_use": d.research_use}
    if d.state in ("ended", "purged"):
        never = d.started_at is None
        shown = "none: it never went live" if never else "not recorded"
        return {"model_pack": shown, "model_licence": shown, "research_use": None}
    try:
        pack = pack_in_use(gov)
    except OpenLFRError:  # the transparency page stays up whatever the pack's state
        return {"model_pack": "unavailable", "model_licence": "unavailable", "research_use": None}
    return {"model_pack": pack.name, "model_licence": pack.licence_name, "research_use": not pack.operational}


def start(gov: Governance, deployment_id: str, actor: str) -> Deployment:
    """Go live. The model pack in use, its licence and whether that licence allows research only
    are fixed on the deployment here: a research-only pack goes live only where
    ``governance.research_use_acknowledged`` says this is a trial, and the public page says so."""

    def change(session, deployment: Deployment) -> dict[str, object]:
        if deployment.state != "authorised":
            raise PolicyViolation(
                f"deployment is {deployment.state}; it must be authorised before it goes live"
            )
        if deployment.watchlist_approved_at is None:
            raise PolicyViolation("the watchlist has not been approved")
        if not deployment.signage_confirmed:
            raise PolicyViolation("signage has not been confirmed at the location")
        check_window(gov, deployment)
        pack = pack_in_use(gov)
        research = not pack.operational
        if research and not gov.settings.governance.research_use_acknowledged:
            raise PolicyViolation(
                f"the model pack {pack.name} is licensed for research use only ({pack.licence_name}); "
                "go live on a pack whose licence permits operational use, or, for a research trial, "
                "set governance.research_use_acknowledged (audited and shown on the public page)"
            )
        deployment.model_pack, deployment.model_licence = pack.name, pack.licence_name
        deployment.model_fingerprint = pack.fingerprint
        deployment.research_use = research
        subjects = session.scalars(select(Subject).where(Subject.deployment_id == deployment.id)).all()
        deployment.watchlist_summary = {
            "size": len(subjects),
            "by_category": dict(Counter(s.category for s in subjects)),
            "under_18": sum(s.under_18 for s in subjects),
        }
        deployment.state, deployment.started_at = "live", gov.now()
        return {
            "model_pack": pack.name,
            "model_weights": pack.fingerprint,
            "model_licence": pack.licence_name,
            "research_use": research,
        }

    return _transition(gov, deployment_id, actor, "deployment.start", "", change)


def end(gov: Governance, deployment_id: str, actor: str, reason: str = "") -> Deployment:
    def change(session, deployment: Deployment) -> None:
        if deployment.state not in ("authorised", "live"):
            raise PolicyViolation(f"deployment is {deployment.state}; only an authorised or live one can end")
        deployment.state, deployment.ended_at = "ended", gov.now()

    return _transition(gov, deployment_id, actor, "deployment.end", reason, change)


def check_window(gov: Governance, deployment: Deployment) -> None:
    now = gov.now()
    if now < aware(deployment.planned_start):
        raise PolicyViolation(
            f"deployment {deployment.name} may not match before {deployment.planned_start:%Y-%m-%d %H:%M} UTC"
        )
    if now > aware(deployment.planned_end):
        raise PolicyViolation(
            f"deployment {deployment.name} ended its window at {deployment.planned_end:%Y-%m-%d %H:%M} UTC"
        )


def assert_can_match(gov: Governance, deployment: Deployment) -> None:
    """The gate in front of every match: live, authorised, approved, signed, inside the window, and
    on the model pack it went live on."""
    if deployment.state != "live":
        raise PolicyViolation(
            f"deployment {deployment.name} is {deployment.state}, not live: matching is refused"
        )
    if deployment.authorised_at is None or deployment.watchlist_approved_at is None:
        raise PolicyViolation(f"deployment {deployment.name} lacks authorisation or an approved watchlist")
    check_window(gov, deployment)
    trials = gov.settings.governance.research_use_acknowledged
    if deployment.model_fingerprint is None:  # live since before packs were recorded: today's rule
        pack = pack_in_use(gov)
        if not pack.operational and not trials:
            raise PolicyViolation(
                f"the model pack {pack.name} is licensed for research use only; deployment "
                f"{deployment.name} matches on it only with governance.research_use_acknowledged"
            )
        return
    if pack_in_use(gov).fingerprint != deployment.model_fingerprint:  # the weights, whatever their name
        raise PolicyViolation(
            f"deployment {deployment.name} went live on the model pack {deployment.model_pack}; it "
            "matches with those weights only"
        )
    if deployment.research_use and not trials:
        raise PolicyViolation(
            f"deployment {deployment.name} is a research trial, and this service no longer runs trials "
            "(governance.research_use_acknowledged is off)"
        )


def assign_field_officers(
    gov: Governance, deployment_id: str, usernames: list[str], actor: str, reason: str = ""
) -> Deployment:
    """Who engages on the deployment's confirmed alerts in the field: field officers only, none
    until someone assigns them (audited, with their names)."""
    names = sorted({name.strip() for name in usernames if name.strip()})
    with gov.store.session() as session:
        lock_chain(session)
        deployment = gov.get(session, Deployment, deployment_id)
        if deployment.state not in ("draft", "authorised", "live"):
            raise PolicyViolation(f"deployment is {deployment.state}; its officers can no longer change")
        roles = dict(session.execute(select(User.username, User.role).where(User.username.in_(names))).all())
        wrong = [name for name in names if roles.get(name) != "field_officer"]
        if wrong:
            raise PolicyViolation(f"not field officers: {', '.join(wrong)}")
        deployment.field_officers = names
        gov.audit(session, actor, "deployment.assign", deployment, reason, field_officers=names)
        return deployment


def assigned_to(gov: Governance, username: str) -> list[str]:
    """The live deployments (ids) a field officer is assigned to: once one ends, its alerts are no
    longer theirs to see."""
    with gov.store.session() as session:
        rows = session.execute(
            select(Deployment.id, Deployment.field_officers).where(Deployment.state == "live")
        ).all()
    return [d_id for d_id, officers in rows if username in (officers or [])]


def record_counts(gov: Governance, deployment_id: str, faces: int, tracks: int) -> None:
    """Add the engine's counters (numbers only) for the transparency report."""
    with gov.store.session() as session:
        deployment = gov.get(session, Deployment, deployment_id)
        deployment.faces_seen += faces
        deployment.tracks_seen += tracks


def list_all(gov: Governance) -> list[Deployment]:
    with gov.store.session() as session:
        return list(session.scalars(select(Deployment).order_by(Deployment.planned_start)))
