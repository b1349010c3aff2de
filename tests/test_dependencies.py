"""Every package the source imports is declared in pyproject.toml, so a fresh install has it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from tests.conftest import REPO_ROOT

# import name → distribution, for optional packages this machine may not have installed
NOT_INSTALLED_HERE = {"dlib": "dlib-bin"}
# imported only where its absence is handled (``except ImportError``), and why that is enough
OPTIONAL = {"skimage": "the demo video shows the astronaut photo too when scikit-image is there"}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name != "dev":  # the tools that build and test openlfr are not what it runs on
            requirements += extra
    return {normal(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in requirements}


def imported_top_level_names() -> dict[str, set[str]]:
    """Top-level module name → the source files importing it (at any depth in the file)."""
    found: dict[str, set[str]] = {}
    for path in (REPO_ROOT / "src" / "openlfr").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (  # importlib.import_module("name") and __import__("name")
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None))
                in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names = [node.args[0].value]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    distributions = packages_distributions()
    wanted = declared()
    missing = {}
    for name, files in imported_top_level_names().items():
        if name in sys.stdlib_module_names or name in ("openlfr", "__future__") or name in OPTIONAL:
            continue
        providers = {normal(d) for d in distributions.get(name, [])} or {
            normal(NOT_INSTALLED_HERE.get(name, name))
        }
        if not providers & wanted:
            missing[name] = sorted(providers) or ["(not installed)"], sorted(files)[:3]
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"
