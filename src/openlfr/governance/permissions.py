"""Who may do what: the one explicit table every route is checked against.

The console, the API and the ``openlfr`` command all check this table. Least privilege:
administrators run accounts and publication but see no faces; only
operators look at alert images; field officers see only the alerts an operator confirmed on the
deployments they are assigned to; auditors read everything except images and change nothing.
"""

from __future__ import annotations

ROLES = ("admin", "authorising_officer", "watchlist_manager", "operator", "field_officer", "auditor")

EVERYONE = frozenset(ROLES)

PERMISSIONS: dict[str, frozenset[str]] = {
    "deployments.read": EVERYONE,
    "deployments.create": frozenset({"admin", "watchlist_manager"}),
    "deployments.authorise": frozenset({"authorising_officer"}),
    "deployments.approve_watchlist": frozenset({"authorising_officer"}),
    "deployments.signage": frozenset({"admin", "operator"}),
    "deployments.start": frozenset({"admin", "operator"}),
    "deployments.end": frozenset({"admin", "operator", "authorising_officer"}),
    "deployments.publish": frozenset({"admin"}),
    "deployments.assign": frozenset({"admin", "authorising_officer"}),
    "watchlist.read": frozenset({"admin", "authorising_officer", "watchlist_manager", "operator", "auditor"}),
    "watchlist.enrol": frozenset({"watchlist_manager"}),
    "watchlist.remove": frozenset({"watchlist_manager", "authorising_officer"}),
    "watchlist.images": frozenset({"watchlist_manager", "operator"}),
    "alerts.read": frozenset({"authorising_officer", "operator", "auditor"}),
    "alerts.images": frozenset({"operator"}),
    "alerts.decide": frozenset({"operator"}),
    "alerts.field": frozenset({"field_officer"}),
    "alerts.retain": frozenset({"authorising_officer"}),
    "cameras.status": frozenset({"admin", "operator", "authorising_officer"}),
    "cameras.preview": frozenset({"operator"}),
    "reports.read": EVERYONE,
    "audit.read": frozenset({"admin", "auditor", "authorising_officer"}),
    "users.manage": frozenset({"admin"}),
    "tokens.own": EVERYONE,
    "account.own": EVERYONE,
    "purge.run": frozenset({"admin"}),
    "settings.read": frozenset({"admin", "auditor"}),
    "metrics.read": frozenset({"admin"}),
    "search.run": frozenset({"operator", "authorising_officer"}),
    "galleries.manage": frozenset({"watchlist_manager"}),
    "keys.rotate": frozenset({"admin"}),
}

TERMINAL_ONLY = frozenset({"galleries.manage", "keys.rotate"})  # done only with the `openlfr` command


def allowed(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role in PERMISSIONS[permission]


def reads_sealed(role: str) -> bool:
    """Sealed audit fields (a subject's reference, an operator's free text) are personal: shown
    only to roles that read both the alerts and the watchlists they concern."""
    return allowed(role, "alerts.read") and allowed(role, "watchlist.read")
