"""The library stays in modules named for what they do: every module is in the architecture's
module map, none is over 450 lines, and no function of the library is over 60."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "include" / "sluice"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(p for p in LIBRARY.glob("*.py") if p.name != "__init__.py")


def test_the_module_map_names_every_module_and_nothing_else():
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Library modules", 1)[1].split("\n## ", 1)[0]
    mapped = set(re.findall(r"^\|[^|]*\| `([a-z_]+/?)` \|", section, flags=re.M))
    packages = {f"{p.name}/" for p in LIBRARY.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages -= {"domains/"}  # the domains shipped: described in the README's own section
    assert mapped == {p.stem for p in _modules()} | packages


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_a_module_stays_under_its_size(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES, f"{path.name}: split it by what it does"


def test_no_library_function_is_long():
    long = []
    for path in LIBRARY.rglob("*.py"):
        if "migrations/versions" in str(path):
            continue  # a migration's DDL is one long statement list on purpose
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(LIBRARY)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_every_name_imported_from_the_library_exists():
    """A module split leaves no caller behind: every ``from sluice… import name`` anywhere in the
    repository (lazy imports in functions included, which only some paths reach) resolves."""
    import importlib

    missing = []
    for folder in ("include", "dags", "plugins", "tests", "bench", "scripts", "expectations"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or (node.module or "").split(".")[0] != "sluice":
                    continue
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if not hasattr(module, alias.name):
                        try:
                            importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            missing.append(
                                f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
                            )
    assert not missing, missing
