"""What every command group shares: the two consoles, the error wrapper, progress bars and the store.

Errors a user can cause are printed as one line on stderr and end with the exit code of their type
(see ``openlfr.errors``); nothing a user does ends in a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from openlfr.errors import OpenLFRError
from openlfr.redaction import redact_text
from openlfr.settings import get_settings

if TYPE_CHECKING:
    from openlfr.governance import Governance
    from openlfr.vision import FaceAnalyzer

out = Console()
err = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def cli_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our typed errors into one clear line and their exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OpenLFRError as exc:
            err.print(Text.assemble(("error:", "bold red"), " ", redact_text(str(exc))), highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def open_governance(analyzer: FaceAnalyzer | None = None) -> Governance:
    """Governance over the store described by settings (created and migrated on first use)."""
    from openlfr.governance import Governance
    from openlfr.store import open_store

    settings = get_settings()
    return Governance(open_store(settings), settings, analyzer=analyzer)


def plain(*cells: object) -> list[Text]:
    """Table cells shown exactly as stored: a name holding ``[red]`` or ``[/]`` is text, not markup."""
    return [Text(str(cell)) for cell in cells]
