"""The wheel carries everything an installed DocQA needs: every package and the data it ships.

Why: ``data/`` (sample documents, example questions, the compact reader) used to be found by walking up
from ``__file__`` to the checkout, so ``pip install .`` or a wheel produced a ``docqa`` whose
``docqa ui --samples`` and compact reader could not find their files. ``data/`` now installs as the
package ``docqa.data`` (``pyproject.toml``: ``package-dir``, ``packages``, ``package-data``) and is found
through :mod:`docqa.resources`. ``packages`` is an explicit list, so a new subpackage that is not added
to it would silently be left out of the wheel: this test walks the checkout to catch that.
``.ci/run`` goes further and installs the wheel into a fresh virtual environment and asks it a question.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = ("docqa", "ingest", "pipelines", "app")
# Never part of a build; copying them would only cost time (ONNX exports beside the compact reader).
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "*.egg-info", "build", "dist", "__pycache__", ".hypothesis", ".ruff_cache",
    ".pytest_cache", "docqa-index", "test-artifacts", "docqa-onnx",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from (a copy of) the checkout the way a user's ``pip`` builds it.

    The copy keeps setuptools' ``build/`` and ``*.egg-info`` out of the working tree, where parallel
    builds would trip over each other.
    """
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         str(source), "-w", str(work / "dist")],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, f"pip wheel failed:\n{build.stdout}\n{build.stderr}"
    wheels = list((work / "dist").glob("docqa-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _checkout_packages() -> list[Path]:
    """Every directory under the package roots that holds an ``__init__.py`` (relative to the repo)."""
    found = []
    for root in PACKAGE_ROOTS:
        for init in sorted((REPO / root).rglob("__init__.py")):
            if "__pycache__" not in init.parts:
                found.append(init.parent.relative_to(REPO))
    return found


def test_every_package_of_the_checkout_is_in_the_wheel_with_all_its_modules(wheel_files: set[str]) -> None:
    packages = _checkout_packages()
    assert Path("pipelines/components/readers") in packages  # the walk itself works
    missing = [
        module.relative_to(REPO).as_posix()
        for package in packages
        for module in sorted((REPO / package).glob("*.py"))
        if module.relative_to(REPO).as_posix() not in wheel_files
    ]
    assert not missing, f"not in the wheel (list the package in pyproject's [tool.setuptools]): {missing}"


def test_the_shipped_data_is_in_the_wheel_as_docqa_data(wheel_files: set[str]) -> None:
    for name in ("docqa/data/__init__.py", "docqa/data/example_questions.json",
                 "docqa/data/compact-reader/model.safetensors", "docqa/data/compact-reader/config.json",
                 "docqa/data/compact-reader/tokenizer.json"):
        assert name in wheel_files, name
    samples = sorted(p.name for p in (REPO / "data" / "samples").iterdir() if p.is_file())
    assert samples, "the checkout has sample documents"
    missing = [s for s in samples if f"docqa/data/samples/{s}" not in wheel_files]
    assert not missing, f"samples not in the wheel: {missing}"
    assert not any(name.startswith("data/") for name in wheel_files), "data/ must install as docqa/data/"


def test_the_wheel_installs_the_docqa_command(wheel: Path, wheel_files: set[str]) -> None:
    (entry_points,) = [n for n in wheel_files if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        lines = archive.read(entry_points).decode("utf-8").splitlines()
    (target,) = [line.split("=", 1)[1].strip() for line in lines if line.split("=")[0].strip() == "docqa"]
    module = target.split(":")[0].replace(".", "/")
    assert {f"{module}.py", f"{module}/__init__.py"} & wheel_files, f"docqa runs {target}, not in the wheel"
