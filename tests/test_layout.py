"""The layout's rules hold: data flows files → ingest → store ← pipelines ← app, and every ``DOCQA_*``
variable is registered in ``docqa/config.py`` and documented in the README.

Why tests: these rules are what make the code walkable (DEVELOPERS.md); a convenient import or an
``os.environ["DOCQA_..."]`` in some module would quietly break them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from docqa import config
from tests.conftest import REPO

LAYERS = ("docqa", "ingest", "pipelines", "app")
# What each top-level package may import from the project (itself always).
ALLOWED = {
    "docqa": set(),
    "ingest": {"docqa"},
    "pipelines": {"docqa", "ingest"},
    "app": {"docqa", "ingest", "pipelines"},
}


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


@pytest.mark.parametrize("package", LAYERS)
def test_each_layer_imports_only_the_layers_before_it(package: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(bad)
        for path in _modules(package)
        if (bad := _imported_packages(path) - ALLOWED[package] - {package})
    }
    assert not offenders, f"{package}/ must not import {offenders}"


def test_no_module_reads_a_docqa_variable_except_the_config_module() -> None:
    pattern = re.compile(r"""(environ(\.get)?|getenv)\s*[\[(]\s*["']DOCQA_""")
    readers = [
        str(path.relative_to(REPO))
        for package in LAYERS
        for path in _modules(package)
        if path != REPO / "docqa" / "config.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert not readers, f"read DOCQA_* through docqa.config.env(), not os.environ: {readers}"


def test_every_registered_variable_is_in_the_readme_and_every_documented_one_is_registered() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = {m.group(1) for m in re.finditer(r"^\| `(DOCQA_[A-Z_]+)` \|", readme, flags=re.M)}
    assert set(config.VARIABLES) <= table, f"missing from README's table: {set(config.VARIABLES) - table}"
    mentioned = set(re.findall(r"DOCQA_[A-Z_]+[A-Z]", readme))
    unknown = mentioned - set(config.VARIABLES)
    assert not unknown, f"README names unknown variables: {unknown}"


def test_env_refuses_unregistered_names() -> None:
    with pytest.raises(KeyError, match="not a registered DocQA variable"):
        config.env("DOCQA_NOT_A_THING")
