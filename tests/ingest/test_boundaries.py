"""Data flows files → ingest → store ← pipelines ← app: `ingest/` never imports `pipelines/` or `app/`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

INGEST = Path(__file__).resolve().parents[2] / "ingest"
# The layers ingest must not reach, installed (docqa.*) or as the checkout's top-level folders.
FORBIDDEN = ("docqa.pipelines", "docqa.app", "pipelines", "app")


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # walks function bodies too: a lazy import inside a function counts
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_under_ingest_imports_pipelines_or_app() -> None:
    modules = sorted(INGEST.rglob("*.py"))
    assert len(modules) >= 5, "the ingest package was found"
    offending = {
        f"{path.relative_to(INGEST.parent)}: {name}"
        for path in modules
        for name in _imported_modules(path)
        if _forbidden(name)
    }
    assert not offending, f"ingest must not import pipelines/ or app/: {sorted(offending)}"


@pytest.mark.slow  # a fresh interpreter imports every ingest module: ~4 s
def test_importing_every_ingest_module_loads_neither_pipelines_nor_app() -> None:
    names = [f"docqa.ingest.{p.stem}" for p in sorted(INGEST.glob("*.py")) if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(len([m for m in sys.modules if m.startswith('docqa.ingest.')]),\n"
        f"      sorted(m for m in sys.modules\n"
        f"             if any(m == f or m.startswith(f + '.') for f in {FORBIDDEN!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=INGEST.parent, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded, forbidden = done.stdout.strip().split(" ", 1)
    assert int(loaded) >= 5 and forbidden == "[]", done.stdout
