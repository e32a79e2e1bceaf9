"""The layout's rules hold: data flows files → ingest → store ← pipelines ← app, the front ends (``app/``)
use only the public API and the foundations, and every ``DOCQA_*`` variable is registered in
``docqa/config.py`` and documented in the README.

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
# Where each layer lives in the checkout: the foundations in docqa/, the others in their own folders,
# installed as docqa.ingest, docqa.pipelines, docqa.app (pyproject.toml's package-dir).
FOLDER = {"docqa": "docqa", "ingest": "ingest", "pipelines": "pipelines", "app": "app"}
# What each top-level package may import from the project (itself always).
ALLOWED = {
    "docqa": set(),
    "ingest": {"docqa"},
    "pipelines": {"docqa", "ingest"},
    "app": {"docqa", "ingest", "pipelines"},
}


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / FOLDER[package]).rglob("*.py") if "__pycache__" not in p.parts)


def _layer(module: str) -> str | None:
    """The layer an absolute import names: ``docqa.pipelines.api`` → pipelines, ``docqa.errors`` → docqa
    (a foundation), ``docqa`` itself → docqa; a top-level ``app``/``pipelines``/``ingest`` import (the
    layout before one package) is named as the old package so the rule below reports it."""
    parts = module.split(".")
    if parts[0] != "docqa":
        return parts[0] if parts[0] in LAYERS else None
    if len(parts) > 1 and parts[1] in ("ingest", "pipelines", "app"):
        return parts[1]
    return "docqa"


def _imports(path: Path) -> list[ast.stmt]:
    """Every absolute import in a module, except the lazy ``DocQA`` re-export in ``docqa/__init__.py``'s
    ``__getattr__`` (the public API's one name; it runs only when someone asks for ``docqa.DocQA``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    if path == REPO / "docqa" / "__init__.py":
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                skip.update(id(n) for n in ast.walk(node))
            if isinstance(node, ast.If):  # if TYPE_CHECKING: from docqa.pipelines.api import DocQA
                skip.update(id(n) for n in ast.walk(node))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in skip]


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_layer(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "docqa":  # from docqa import DocQA / from docqa import pipelines
                found.update(filter(None, (_layer(f"docqa.{alias.name}") for alias in node.names)))
            elif layer := _layer(node.module):
                found.add(layer)
    return found


# What app/ may import from the project besides docqa.app itself: the package root (`from docqa import
# DocQA`), the public API module, and the foundations (every module of the docqa/ folder).
FOUNDATIONS = frozenset(f"docqa.{p.stem}" for p in (REPO / "docqa").glob("*.py") if p.stem != "__init__")
PUBLIC_API = frozenset({"docqa", "docqa.pipelines.api"})


def _is_module(name: str) -> bool:
    """True when ``name`` (``docqa.x.y``) is a module or package of this checkout (package-dir aware)."""
    parts = name.split(".")
    if parts[0] != "docqa":
        return False
    if len(parts) > 1 and parts[1] in ("ingest", "pipelines", "app"):
        target = REPO.joinpath(FOLDER[parts[1]], *parts[2:])
    else:
        target = REPO.joinpath("docqa", *parts[1:])
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


def _modules_reached(path: Path) -> set[str]:
    """The ``docqa`` modules an import in ``path`` reaches: ``from docqa.pipelines import api`` →
    ``docqa.pipelines.api``; ``from docqa import DocQA`` → ``docqa``; ``from docqa import config`` →
    ``docqa.config``. Relative imports stay inside their package and are left out."""
    found: set[str] = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if _is_module(submodule) else node.module)
    return {name for name in found if name.split(".")[0] == "docqa"}


def _front_end_offences(path: Path) -> list[str]:
    return sorted(
        name
        for name in _modules_reached(path)
        if name not in PUBLIC_API | FOUNDATIONS and name != "docqa.app" and not name.startswith("docqa.app.")
    )


def test_front_ends_import_only_the_public_api_and_the_foundations() -> None:
    """``app/`` reaches DocQA through ``docqa`` / ``docqa.pipelines.api`` only, so stores, loaders and
    components can move without touching a front end (README: "How the code is laid out")."""
    offenders = {str(p.relative_to(REPO)): bad for p in _modules("app") if (bad := _front_end_offences(p))}
    assert not offenders, f"app/ must import only {sorted(PUBLIC_API | FOUNDATIONS)}: {offenders}"


def test_the_front_end_rule_sees_every_way_of_importing(tmp_path: Path) -> None:
    module = tmp_path / "front_end.py"
    module.write_text(
        "from docqa import DocQA, config\n"
        "from docqa.errors import BusyError\n"
        "from docqa.pipelines import api\n"
        "from docqa.app.ui.formatting import esc\n"
        "import docqa.pipelines.api\n"
        "from docqa import pipelines\n"
        "from docqa.pipelines.feedback import limits as feedback_limits\n"
        "from docqa.pipelines.answers import Answer\n"
        "import docqa.ingest.uploads\n"
        "def late():\n"
        "    from docqa.pipelines.document_stores.local.index import IndexLockedError\n",
        encoding="utf-8",
    )
    assert _front_end_offences(module) == [
        "docqa.ingest.uploads",
        "docqa.pipelines",
        "docqa.pipelines.answers",
        "docqa.pipelines.document_stores.local.index",
        "docqa.pipelines.feedback.limits",
    ]


@pytest.mark.parametrize("package", LAYERS)
def test_each_layer_imports_only_the_layers_before_it(package: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(bad)
        for path in _modules(package)
        if (bad := _imported_packages(path) - ALLOWED[package] - {package})
    }
    assert not offenders, f"{package}/ must not import {offenders}"


def test_nothing_imports_the_folders_as_top_level_packages() -> None:
    """``import app`` / ``from pipelines...`` worked only from the checkout; installed, DocQA is one package
    ``docqa`` (a host project's own ``app/`` would shadow ours), so every import says ``docqa.``."""
    roots = {"app", "pipelines", "ingest"}
    offenders = []
    for folder in ("docqa", "ingest", "pipelines", "app", "tests", "benchmarks", "scripts"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in _imports(path):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if getattr(node, "level", 0) == 0 and any(name.split(".")[0] in roots for name in names):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, f"import these as docqa.app / docqa.pipelines / docqa.ingest: {offenders}"


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


def _project_imports(path: Path) -> set[str]:
    """Every ``docqa.*`` module a file imports (absolute imports, lazy ones inside functions included)."""
    found: set[str] = set()
    for node in _imports(path):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("docqa"))
        elif node.module and node.level == 0 and node.module.startswith("docqa"):
            found.add(node.module)
    return found


def test_stores_import_no_components_and_engines_not_each_other() -> None:
    """Stores own data and scoring; components are thin and handed a store — never the other way round.
    Each engine (local, Milvus) builds on the shared store modules (protocols, errors, analysis, hybrid
    fusion), not on the other engine."""
    stores = REPO / "pipelines" / "document_stores"
    rules = {
        stores: ("docqa.pipelines.components", "docqa.pipelines.api", "docqa.pipelines.query"),
        stores / "local": ("docqa.pipelines.document_stores.milvus",),
        stores / "milvus": ("docqa.pipelines.document_stores.local",),
    }
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for folder, forbidden in rules.items()
        for path in sorted(folder.rglob("*.py"))
        for name in sorted(_project_imports(path))
        if name.startswith(forbidden)
    ]
    assert not offenders, offenders
    # Fusion is written once: neither engine defines its own fused ranking.
    for engine in ("local", "milvus"):
        text = "\n".join(p.read_text(encoding="utf-8") for p in (stores / engine).rglob("*.py"))
        assert "fuse_scores(" not in text, f"{engine} fuses on its own; call hybrid.hybrid_retrieval"
