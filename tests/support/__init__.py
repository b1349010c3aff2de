"""Helpers shared by tests: servers, hostile inputs, model packs, routes."""
