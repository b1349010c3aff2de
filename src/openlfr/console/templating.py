"""The console's Jinja2 templates (autoescaped)."""

from pathlib import Path

from fastapi.templating import Jinja2Templates

CONSOLE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(CONSOLE / "templates"))
