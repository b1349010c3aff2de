"""Searching templates at scale: register cross-matching (and, later, large gallery indexes)."""
