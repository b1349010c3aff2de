"""What the public may see: deployments announced in advance, and their results afterwards.

An allow-list of fields, not a filter: each entry is built field by field from a deployment's
public facts and counts, so no image, template, subject reference or candidate can reach it
whatever is added to the tables later. Administrators choose per deployment what is
published; drafts never are.
"""

from __future__ import annotations

import csv
import io

from openlfr.governance import audit, reports
from openlfr.governance.context import Governance, aware
from openlfr.governance.deployments import list_all, model_of
from openlfr.redaction import spreadsheet_safe

PUBLIC_FIELDS = (
    "id",
    "status",
    "name",
    "location",
    "area",
    "planned_start",
    "planned_end",
    "purpose",
    "legal_basis",
    "dpia_reference",
    "signage",
    "model_pack",
    "model_licence",
    "research_use",
    "watchlist_size",
    "people_seen",
    "alerts",
    "confirmed_alerts",
    "false_alerts",
    "engagements",
    "outcomes",
)
RESULT_FIELDS = PUBLIC_FIELDS[PUBLIC_FIELDS.index("watchlist_size") :]


def _status(state: str) -> str:
    return {"authorised": "planned", "live": "live", "ended": "past", "purged": "past"}[state]


def public_deployments(gov: Governance) -> list[dict]:
    """Published, authorised-or-later deployments; results only once a deployment has ended."""
    entries = []
    for d in list_all(gov):
        if not d.published or d.state == "draft":
            continue
        status = _status(d.state)
        entry: dict = {
            "id": d.id,
            "status": status,
            "name": d.name,
            "location": d.location_name,
            "area": d.area_description,
            "planned_start": aware(d.planned_start).isoformat(timespec="minutes"),
            "planned_end": aware(d.planned_end).isoformat(timespec="minutes"),
            "purpose": d.purpose,
            "legal_basis": d.legal_basis,
            "dpia_reference": d.dpia_reference,
            "signage": d.signage_confirmed,
        } | model_of(gov, d)
        if status == "past":
            report = reports.build(gov, d.id)
            entry |= {
                "watchlist_size": report["watchlist_size"],
                "people_seen": report["people_seen"],
                "alerts": report["alerts"],
                "confirmed_alerts": report["confirmed_alerts"],
                "false_alerts": report["false_alerts"],
                "engagements": report["engagements"],
                "outcomes": "; ".join(f"{k}: {v}" for k, v in sorted(report["outcomes"].items())),
            }
        else:
            entry |= dict.fromkeys(RESULT_FIELDS)
        entries.append({name: entry[name] for name in PUBLIC_FIELDS})
    return entries


def audit_head(gov: Governance) -> str:
    """The audit trail's head as published, ``SEQ:HASH``."""
    with gov.store.session() as session:
        seq, digest = audit.head(session)
    return f"{seq}:{digest}"


def as_csv(entries: list[dict]) -> str:
    buffer = io.StringIO()
    # every cell quoted: a bare CR in a field would otherwise end the record in a spreadsheet
    writer = csv.DictWriter(buffer, fieldnames=PUBLIC_FIELDS, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows({key: spreadsheet_safe(value) for key, value in entry.items()} for entry in entries)
    return buffer.getvalue()
