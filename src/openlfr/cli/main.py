"""The `openlfr` command, joined from its groups: each module holds one group and registers it here."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from openlfr.cli import cluster, evaluation, faces, governance, identity, live, search, serve, users
from openlfr.cli.common import err
from openlfr.errors import OpenLFRError
from openlfr.redaction import RedactingFilter
from openlfr.settings import get_settings

app = typer.Typer(
    name="openlfr",
    help="Open, accountable live facial recognition.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False,
) -> None:
    """Set up logging on stderr (stdout stays clean for --json)."""
    try:
        level = "DEBUG" if verbose else get_settings().log_level
    except OpenLFRError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    handler = RichHandler(console=err, show_path=False, show_time=False)
    handler.addFilter(RedactingFilter())  # no password or token in a URL reaches a log line
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)


faces.register(app)
app.command("run")(live.run_command)
search.register(app)
app.add_typer(evaluation.eval_app, name="eval")
identity.register(app)
governance.register(app)
users.register(app)
serve.register(app)
cluster.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
