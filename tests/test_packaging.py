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

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# Slow: builds the wheel (pip, ~3 s quiet, 14 s busy) and starts interpreters from it.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = ("docqa", "ingest", "pipelines", "app")
# Where each checkout folder lands in the wheel (pyproject's package-dir): all under the one package docqa.
INSTALLED_AS = {
    "docqa": "docqa", "ingest": "docqa/ingest", "pipelines": "docqa/pipelines", "app": "docqa/app",
}
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


def _installed_path(module: Path) -> str:
    """``pipelines/api.py`` → ``docqa/pipelines/api.py``: the path a checkout module has in the wheel."""
    root, *rest = module.relative_to(REPO).parts
    return "/".join([INSTALLED_AS[root], *rest])


def test_every_package_of_the_checkout_is_in_the_wheel_with_all_its_modules(wheel_files: set[str]) -> None:
    packages = _checkout_packages()
    assert Path("pipelines/components/readers") in packages  # the walk itself works
    missing = [
        _installed_path(module)
        for package in packages
        for module in sorted((REPO / package).glob("*.py"))
        if _installed_path(module) not in wheel_files
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


def test_the_wheel_installs_exactly_one_top_level_package(wheel_files: set[str]) -> None:
    """A wheel that installs ``app/`` or ``pipelines/`` at the top of site-packages overwrites (and on
    uninstall deletes) a host project's package of that name; DocQA installs ``docqa`` and nothing else."""
    tops = {name.split("/")[0] for name in wheel_files if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"docqa"}, tops
    assert "docqa/app/cli/__init__.py" in wheel_files and "docqa/pipelines/api.py" in wheel_files


@pytest.fixture(scope="module")
def host_project(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A host application's folder with its *own* ``app``, ``pipelines`` and ``ingest`` packages, and an
    environment where DocQA is importable only from the unpacked wheel (as from site-packages; its
    dependencies come from this venv). The checkout is not on the path."""
    work = tmp_path_factory.mktemp("host")
    site = work / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    project = work / "project"
    for name in ("app", "pipelines", "ingest"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(f"OWNER = 'host {name}'\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), DOCQA_READER_MODEL="compact", HF_HUB_OFFLINE="1",
               DOCQA_CACHE_DIR=str(work / "cache"), DOCQA_CONFIG=str(work / "config.json"))
    return project, env


def test_a_host_project_with_its_own_app_pipelines_and_ingest_imports_docqa(host_project) -> None:
    project, env = host_project
    code = (
        "import app, pipelines, ingest, docqa\n"
        "from docqa import DocQA\n"
        "from docqa.app.server.app import create_app\n"
        "import docqa.app.cli\n"
        "print(app.OWNER, pipelines.OWNER, ingest.OWNER, DocQA.__module__, docqa.__file__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    owners, module, where = done.stdout.split()[:6], done.stdout.split()[6], done.stdout.split()[7]
    assert owners == ["host", "app", "host", "pipelines", "host", "ingest"]
    assert module == "docqa.pipelines.api"
    assert not where.startswith(str(REPO)), where  # DocQA came from the wheel, not the checkout


def test_docqa_ui_watch_runs_from_a_host_project(host_project, tmp_path: Path) -> None:
    """``docqa ui --watch`` spawns ``python -m docqa.app.cli`` and Streamlit; from a folder with its own
    ``app/`` both must still find DocQA's (before one package: "No module named 'app.server'")."""
    import signal
    import time
    import urllib.request

    project, env = host_project
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "note.txt").write_text("The fog horn sounds every thirty seconds in fog.\n", encoding="utf-8")
    index = tmp_path / "index"
    log = tmp_path / "ui.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docqa.app.ui.launcher", "--index", str(index), "--port", "0",
             "--watch", str(folder), "--no-ocr"],
            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT,
            # Ctrl-C as a terminal delivers it, also under a runner started as a background job (SIGINT
            # inherited as ignored): otherwise the kill below orphans the page and watcher children.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            url, indexed, deadline = None, False, time.monotonic() + 240
            while time.monotonic() < deadline and not (url and indexed) and proc.poll() is None:
                text = log.read_text(encoding="utf-8")
                if "open http" in text:
                    url = text.split("open ", 1)[1].split()[0]
                indexed = (index / "index.sqlite").exists() and "added" in text
                time.sleep(0.5)
            text = log.read_text(encoding="utf-8")
            assert url, text[-3000:]
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
                assert response.status == 200
            assert indexed, text[-3000:]
            assert "No module named" not in text and "Traceback" not in text, text[-3000:]
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.parametrize("first", ["", "import haystack.telemetry; "])
def test_the_python_api_sends_haystack_no_usage_reports_unless_asked_to(first: str) -> None:
    """``from docqa import DocQA`` switches Haystack's PostHog client off, whether Haystack was imported
    before or after it; a user who sets HAYSTACK_TELEMETRY_ENABLED decides themselves."""
    probe = (f"{first}from docqa import DocQA; import haystack.telemetry._telemetry as t; "
             "print(t.telemetry is None)")
    env = {k: v for k, v in os.environ.items() if k != "HAYSTACK_TELEMETRY_ENABLED"}
    off = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert off.stdout.strip() == "True"
    opted_in = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                              env={**env, "HAYSTACK_TELEMETRY_ENABLED": "True"})
    assert opted_in.stdout.strip() == "False"
