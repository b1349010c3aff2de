"""Governance commands: deployments, watchlists, alerts, purge, audit, reports and keys.

Each is a thin wrapper over ``openlfr.governance``, done as the user signed in at this terminal
(``openlfr login``) and refused where that user's role may not do it, as in the console.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openlfr.cli.common import cli_errors, err, open_governance, out, plain
from openlfr.cli.identity import acting
from openlfr.errors import AuditChainBroken, PolicyViolation
from openlfr.governance.permissions import reads_sealed

Reason = Annotated[str, typer.Option(help="Why (recorded in the audit trail).")]

deployment_app = typer.Typer(help="Create, authorise, start and end deployments.", no_args_is_help=True)
watchlist_app = typer.Typer(help="Build a deployment's watchlist under its rules.", no_args_is_help=True)
alerts_app = typer.Typer(help="Review alerts: decisions, outcomes, retention.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)


RELATIVE = re.compile(r"^(now)?\s*([+-]\s*\d+(?:\.\d+)?)\s*([mhd])$|^now$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def deployment_of(gov, given: str) -> str:
    """A deployment id as typed: whole, or a unique start of one (as lists show them)."""
    from openlfr.store.models import Deployment

    return gov.full_id(Deployment, given)


def alert_of(gov, given: str) -> str:
    from openlfr.store.models import AlertRecord

    return gov.full_id(AlertRecord, given)


def when(value: str) -> datetime:
    """ISO 8601 date-time (UTC if no zone), ``now``, or a time from now such as ``+6h``, ``now+30m``
    or ``+2d``."""
    text = value.strip().lower()
    relative = RELATIVE.match(text)
    if relative:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        if text == "now":
            return now
        amount = float(relative.group(2).replace(" ", ""))
        return now + timedelta(**{UNITS[relative.group(3)]: amount})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date-time: give ISO 8601 (2026-12-01T09:00), 'now', or '+6h'"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@deployment_app.command("create")
@cli_errors
def deployment_create(
    name: Annotated[str, typer.Option()],
    purpose: Annotated[str, typer.Option()],
    location: Annotated[str, typer.Option(help="Location name, as published.")],
    start: Annotated[
        str, typer.Option(help="Planned start: ISO 8601 (UTC if no zone), 'now', or from now ('+2h').")
    ],
    end: Annotated[str, typer.Option(help="Planned end: ISO 8601, or from now ('+8h').")],
    officer: Annotated[str, typer.Option(help="The authorising officer.")],
    legal_basis: Annotated[str, typer.Option()],
    dpia: Annotated[str, typer.Option(help="Reference of the data protection impact assessment.")],
    area: Annotated[str, typer.Option(help="Description of the area covered.")] = "",
    camera: Annotated[list[str] | None, typer.Option(help="Camera URI (repeatable).")] = None,
    signage: Annotated[bool, typer.Option(help="Signage is in place.")] = False,
    threshold: Annotated[
        float | None, typer.Option(help="Alert threshold (default: live.alert_threshold).")
    ] = None,
) -> None:
    """Create a draft deployment; prints its id."""
    from openlfr.governance import deployments as dep

    plan = dep.DeploymentPlan(
        name=name,
        purpose=purpose,
        location_name=location,
        planned_start=when(start),
        planned_end=when(end),
        authorising_officer=officer,
        legal_basis=legal_basis,
        dpia_reference=dpia,
        area_description=area,
        cameras=tuple(camera or ()),
        signage_confirmed=signage,
        alert_threshold=threshold,
    )
    gov = open_governance()
    out.print(dep.create(gov, plan, acting(gov, "deployments.create").username).id)


@deployment_app.command("list")
@cli_errors
def deployment_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every deployment with its state and window."""
    from openlfr.governance import deployments as dep

    gov = open_governance()
    acting(gov, "deployments.read")
    rows = dep.list_all(gov)
    if as_json:
        out.print_json(json.dumps([{"id": d.id, "name": d.name, "state": d.state} for d in rows]))
        return
    table = Table("id", "name", "state", "location", "window")
    table.columns[0].no_wrap = True  # whole ids, to copy
    for d in rows:
        table.add_row(
            *plain(
                d.id,
                d.name,
                d.state,
                d.location_name,
                f"{d.planned_start:%Y-%m-%d %H:%M} → {d.planned_end:%H:%M}",
            )
        )
    out.print(table)


def _transition(action: str) -> Callable[..., None]:
    from openlfr.governance import deployments as dep
    from openlfr.store.models import Deployment

    functions: dict[str, tuple[Callable[..., Deployment], str]] = {
        "authorise": (dep.authorise, "deployments.authorise"),
        "approve-watchlist": (dep.approve_watchlist, "deployments.approve_watchlist"),
        "start": (dep.start, "deployments.start"),
        "end": (dep.end, "deployments.end"),
    }

    @cli_errors
    def command(
        deployment_id: Annotated[str, typer.Argument()],
        reason: Reason = "",
    ) -> None:
        function, permission = functions[action]
        gov = open_governance()
        by = acting(gov, permission).username
        target = deployment_of(gov, deployment_id)
        deployment = function(gov, target, by) if action == "start" else function(gov, target, by, reason)
        out.print(f"{deployment.name}: {deployment.state}", markup=False, highlight=False)
        if action == "start" and deployment.research_use:
            err.print(
                f"on the research-only model pack {deployment.model_pack} ({deployment.model_licence}): "
                "a trial, as every report and the public page say",
                markup=False,
                highlight=False,
            )

    command.__doc__ = {
        "authorise": "Authorise a draft (only the named authorising officer).",
        "approve-watchlist": "Record approval of the watchlist before going live.",
        "start": "Go live (authorised, approved, signage confirmed, inside the window).",
        "end": "End a deployment.",
    }[action]
    return command


for _action in ("authorise", "approve-watchlist", "start", "end"):
    deployment_app.command(_action)(_transition(_action))


@deployment_app.command("signage")
@cli_errors
def deployment_signage(deployment_id: str) -> None:
    """Confirm signage is in place at the location."""
    from openlfr.governance import deployments as dep

    gov = open_governance()
    by = acting(gov, "deployments.signage").username
    dep.confirm_signage(gov, deployment_of(gov, deployment_id), by)
    out.print("signage confirmed")


@watchlist_app.command("add")
@cli_errors
def watchlist_add(
    deployment_id: str,
    reference: Annotated[str, typer.Option()],
    category: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option()],
    image: Annotated[Path, typer.Option()],
    image_source: Annotated[str, typer.Option()],
    image_date: Annotated[str | None, typer.Option()] = None,
    age: Annotated[int | None, typer.Option()] = None,
    justification: Annotated[str | None, typer.Option(help="Required for subjects under 18.")] = None,
    expires: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Add one subject (reference image checked: one face, resolution, quality, duplicates)."""
    from openlfr.governance import watchlists as wl
    from openlfr.store.models import normal_reference

    reference = normal_reference(reference)
    entry = wl.SubjectEntry(
        reference=reference,
        category=category,
        reason=reason,
        image=image,
        image_source=image_source,
        image_date=when(image_date) if image_date else None,
        age=age,
        under_18_justification=justification,
        expires_at=when(expires) if expires else None,
    )
    gov = open_governance()
    by = acting(gov, "watchlist.enrol").username
    result = wl.add_subject(gov, deployment_of(gov, deployment_id), entry, by)
    out.print(f"enrolled {reference} ({result.subject_id})")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}")


@watchlist_app.command("import")
@cli_errors
def watchlist_import(deployment_id: str, csv_file: Path) -> None:
    """Enrol every row of a CSV; rejected rows are listed with their reason."""
    from openlfr.governance import watchlists as wl

    gov = open_governance()
    by = acting(gov, "watchlist.enrol").username
    enrolled, rejected = wl.import_csv(gov, deployment_of(gov, deployment_id), csv_file, by)
    out.print(f"{len(enrolled)} enrolled, {len(rejected)} rejected")
    for line, reason in rejected:
        err.print(f"  line {line}: {reason}", highlight=False)
    for result in enrolled:
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}")
    if rejected and not enrolled:
        raise typer.Exit(PolicyViolation.exit_code)


@watchlist_app.command("remove")
@cli_errors
def watchlist_remove(
    subject_id: str, reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")]
) -> None:
    """Withdraw a subject: never matched again, reference image and templates destroyed."""
    from openlfr.governance import watchlists as wl
    from openlfr.store.models import Subject

    gov = open_governance()
    by = acting(gov, "watchlist.remove").username
    subject_id = gov.full_id(Subject, subject_id)
    wl.remove_subject(gov, subject_id, by, reason)
    out.print(f"removed {subject_id}")


@watchlist_app.command("list")
@cli_errors
def watchlist_list(deployment_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Subjects on a watchlist (no images)."""
    from sqlalchemy import select

    from openlfr.store.models import Subject

    gov = open_governance()
    acting(gov, "watchlist.read")
    deployment_id = deployment_of(gov, deployment_id)
    table = Table("id", "reference", "category", "added by", "expires", "flags")
    table.columns[0].no_wrap = True
    with gov.store.session() as session:
        subjects = list(session.scalars(select(Subject).where(Subject.deployment_id == deployment_id)))
        if as_json:
            rows = [{"id": s.id, "reference": s.reference, "category": s.category} for s in subjects]
            out.print_json(json.dumps(rows))
            return
        for s in subjects:
            flags = ", ".join(
                f for f, on in (("under 18", s.under_18), ("old image", s.image_outdated)) if on
            )
            table.add_row(
                *plain(s.id, s.reference, s.category, s.added_by, f"{s.expires_at:%Y-%m-%d}", flags)
            )
    out.print(table)


@alerts_app.command("list")
@cli_errors
def alerts_list(deployment_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Alerts of a deployment with their decisions."""
    from openlfr.governance import alerts as al

    gov = open_governance()
    acting(gov, "alerts.read")
    rows = al.list_alerts(gov, deployment_of(gov, deployment_id))
    fields = ("id", "camera", "subject_reference", "score", "threshold", "sightings", "decision", "outcome")
    if as_json:
        out.print_json(json.dumps([{f: getattr(a, f) for f in fields} for a in rows]))
        return
    table = Table(*fields)
    table.columns[0].no_wrap, table.columns[0].min_width = True, 32  # whole ids, to copy
    for a in rows:
        table.add_row(
            *plain(
                *(
                    f"{getattr(a, f):.3f}" if isinstance(getattr(a, f), float) else getattr(a, f)
                    for f in fields
                )
            )
        )
    out.print(table)


@alerts_app.command("decide")
@cli_errors
def alerts_decide(alert_id: str, decision: str, reason: Reason = "") -> None:
    """confirmed_match, false_alert, not_engaged or unable_to_locate."""
    from openlfr.governance import alerts as al

    gov = open_governance()
    by = acting(gov, "alerts.decide").username
    al.decide(gov, alert_of(gov, alert_id), decision, by, reason)
    out.print(f"{alert_id}: {decision}")


@alerts_app.command("outcome")
@cli_errors
def alerts_outcome(alert_id: str, outcome: str, reason: Reason = "") -> None:
    """arrest, no_further_action, safeguarding, words_of_advice or other."""
    from openlfr.governance import alerts as al

    gov = open_governance()
    by = acting(gov, "alerts.decide").username
    al.record_outcome(gov, alert_of(gov, alert_id), outcome, by, reason)
    out.print(f"{alert_id}: {outcome}")


@alerts_app.command("retain")
@cli_errors
def alerts_retain(alert_id: str, reason: Annotated[str, typer.Option()]) -> None:
    """Keep an alert past its retention period, with a reason."""
    from openlfr.governance import alerts as al

    gov = open_governance()
    by = acting(gov, "alerts.retain").username
    al.retain(gov, alert_of(gov, alert_id), by, reason)
    out.print(f"{alert_id}: retained")


@cli_errors
def purge_command(
    dry_run: Annotated[bool, typer.Option(help="Show what would go; change nothing.")] = False,
) -> None:
    """Apply the retention rules now (the service also runs this periodically)."""
    from openlfr.governance.retention import purge

    gov = open_governance()
    acting(gov, "purge.run")
    report = purge(gov, dry_run=dry_run)
    verb = "would" if dry_run else "did"
    out.print(
        f"purge {verb}: end {len(report.ended_deployments)} deployment(s), delete {report.subjects_deleted} "
        f"subject(s), purge {report.alerts_anonymised} alert(s), "
        f"destroy {len(report.keys_destroyed)} data key(s)"
    )


@audit_app.command("verify")
@cli_errors
def audit_verify(
    head: Annotated[
        str | None,
        typer.Option(
            help="A published head, SEQ:HASH (public page, report): prove nothing up to it changed."
        ),
    ] = None,
) -> None:
    """Prove the audit chain intact, or name the first broken link (exit code 60)."""
    from openlfr.governance import audit

    try:
        published = audit.parse_head(head) if head else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--head") from None
    gov = open_governance()
    acting(gov, "audit.read")
    with gov.store.session() as session:
        report = audit.verify(session, published)
        newest = audit.head(session)
    if report.intact:
        out.print(f"audit chain intact: {report.events} events, head {newest[0]}:{newest[1]}")
        if published:
            out.print(f"it still holds the published head {published[0]}:{published[1]}")
        return
    raise AuditChainBroken(f"audit chain BROKEN at event {report.broken_at}: {report.problem}")


@audit_app.command("log")
@cli_errors
def audit_log(limit: Annotated[int, typer.Option()] = 50) -> None:
    """The latest audit events."""
    from sqlalchemy import select

    from openlfr.governance import audit
    from openlfr.store.models import AuditEvent

    table = Table("seq", "at", "actor", "action", "object", "reason", "details")
    gov = open_governance()
    reader = acting(gov, "audit.read")
    with gov.store.session() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)))
        names = audit.object_names(session, events)
    for e in events:
        # sealed fields: to roles that read them, while the deployment's data lives
        opened = gov.unseal(e) if reads_sealed(reader.role) else None
        reason = str(opened.get("reason", "")) if opened is not None else e.reason
        table.add_row(
            *plain(
                e.seq,
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.actor,
                e.action,
                names.get((e.object_type, e.object_id), f"{e.object_type} {e.object_id}"),
                reason,
                ", ".join(
                    f"{k}: {v}" for k, v in (e.details or {}).items() if k not in ("sealed", "settings")
                ),
            )
        )
    out.print(table)


@cli_errors
def report_command(
    deployment_id: str,
    fmt: Annotated[str, typer.Option("--format", help="json, html or pdf")] = "json",
    output: Annotated[
        Path | None, typer.Option(help="File to write (stdout for json and html if absent).")
    ] = None,
) -> None:
    """The transparency report of a deployment."""
    from openlfr.governance import reports

    if fmt not in ("json", "html", "pdf"):
        raise typer.BadParameter("format must be json, html or pdf")
    gov = open_governance()
    acting(gov, "reports.read")
    report = reports.build(gov, deployment_of(gov, deployment_id))
    if fmt == "pdf":
        if output is None:
            raise typer.BadParameter("a PDF needs --output FILE")
        reports.render_pdf(report, output)
    else:
        text = json.dumps(report, indent=2) if fmt == "json" else reports.render_html(report)
        if output is None:
            print(text)
        else:
            output.write_text(text, encoding="utf-8")
    if output is not None:
        out.print(f"wrote {output}")


@keys_app.command("rotate")
@cli_errors
def keys_rotate(
    new_key_file: Annotated[Path, typer.Option(help="Created with a fresh key; must not exist.")],
) -> None:
    """Re-wrap every data key under a new master key (then point settings at the new key file)."""
    from openlfr.store import crypto

    gov = open_governance()
    acting(gov, "keys.rotate")
    new_key = crypto.write_key_file(new_key_file, crypto.new_key())
    count = gov.store.rotate_master_key(new_key)
    out.print(
        f"{count} data key(s) now wrapped by {crypto.key_id(new_key)}; "
        f"set OPENLFR_STORE__MASTER_KEY_FILE={new_key_file}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(deployment_app, name="deployment")
    app.add_typer(watchlist_app, name="watchlist")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
    app.command("purge")(purge_command)
    app.command("report")(report_command)
