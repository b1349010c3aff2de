"""Deployments and their authorisation, watchlist rules, retention and purge, audit, transparency."""

from openlfr.governance.context import Governance, system_clock

__all__ = ["Governance", "system_clock"]
