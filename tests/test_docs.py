"""The documentation builds as a site with no broken link, and the README is a front door."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from openlfr import errors
from tests.conftest import REPO_ROOT

MKDOCS = Path(sys.executable).parent / "mkdocs"


def test_the_site_builds_strictly_with_the_generated_references(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(site)],
        cwd=REPO_ROOT,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr  # a broken link or a page left out fails
    codes = (site / "exit-codes" / "index.html").read_text()
    for name, kind in vars(errors).items():
        if isinstance(kind, type) and issubclass(kind, errors.OpenLFRError):
            assert f"<td>{kind.exit_code}</td>" in codes and name in codes, name
    settings = (site / "settings" / "index.html").read_text()
    assert "OPENLFR_API__SESSION_IDLE_MINUTES" in settings and "OPENLFR_LIVE__ALERT_THRESHOLD" in settings


def test_the_readme_is_a_short_front_door_whose_links_lead_somewhere() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    first_block = readme.split("```bash\n")[1].split("```")[0].splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ["make demo", "make test"]
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (REPO_ROOT / target).exists(), f"README links to {target}, which is not there"
    assert "shared/" not in readme  # the repository stands alone


def test_every_setting_says_what_it_is_for() -> None:
    from pydantic import BaseModel

    from openlfr.settings import Settings

    blank = []
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            blank += [f"{name}.{sub}" for sub, f in kind.model_fields.items() if not f.description]
        elif not field.description:
            blank.append(name)
    assert blank == [], f"settings with no description (the reference would say nothing): {blank}"
