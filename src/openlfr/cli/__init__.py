"""The ``openlfr`` command: every subcommand is a thin wrapper over a library call."""

from openlfr.cli.main import app, main

__all__ = ["app", "main"]
