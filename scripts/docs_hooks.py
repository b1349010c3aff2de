"""MkDocs hooks: the settings reference and the exit-code table are generated from the code at
every build, so the documentation cannot drift from ``settings.py`` and ``errors.py``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from openlfr import errors
from openlfr.settings import Settings

MARKERS = {
    "<!-- generated: settings reference -->": lambda: settings_reference(),
    "<!-- generated: exit codes -->": lambda: exit_codes(),
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, build in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, build())
    return markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, Path) and value.is_relative_to(Path.home()):
        return f"`~/{value.relative_to(Path.home())}`"
    try:
        shown = json.dumps(value, default=str)
    except TypeError:
        shown = str(value)
    return f"`{_cell(shown)}`"


def settings_reference() -> str:
    """One table per section: the setting, its environment variable, default and meaning."""
    top, sections = [], []
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if inspect.isclass(kind) and issubclass(kind, BaseModel):
            rows = [
                f"| `{name}.{sub}` | `OPENLFR_{name.upper()}__{sub.upper()}` | {_default(f)} | "
                f"{_cell(f.description or '')} |"
                for sub, f in kind.model_fields.items()
            ]
            doc = (kind.__doc__ or "").strip().split("\n\n")[0]
            sections.append(
                f"### `[{name}]`\n\n{_cell(doc)}\n\n| setting | environment | default | meaning |\n"
                "|---|---|---|---|\n" + "\n".join(rows)
            )
        else:
            top.append(
                f"| `{name}` | `OPENLFR_{name.upper()}` | {_default(field)} | {_cell(field.description or '')} |"
            )
    head = "| setting | environment | default | meaning |\n|---|---|---|---|\n" + "\n".join(top)
    return head + "\n\n" + "\n\n".join(sections)


def exit_codes() -> str:
    """Each exit code with the error types that end with it."""
    by_code: dict[int, list[str]] = {2: ["wrong command-line usage (Typer)"]}
    for name, kind in vars(errors).items():
        if inspect.isclass(kind) and issubclass(kind, errors.OpenLFRError):
            doc = (kind.__doc__ or "").strip().split("\n")[0]
            by_code.setdefault(kind.exit_code, []).append(f"`{name}`: {doc}")
    by_code[130] = ["interrupted (Ctrl-C)"]
    rows = [f"| {code} | {'<br>'.join(_cell(t) for t in texts)} |" for code, texts in sorted(by_code.items())]
    return "| code | meaning |\n|---|---|\n" + "\n".join(rows)
