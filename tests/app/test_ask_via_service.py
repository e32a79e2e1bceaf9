"""`docqa ask` answers through a `docqa serve` already running on the same index — and only when that is
safe: same index and settings, a live process, a loopback address, the API key when one is needed.
Anything else is answered in-process, as if no service existed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa import config
from docqa.app.cli import app as cli
from docqa.app.server import discovery
from docqa.app.server.app import create_app
from tests.app.service_client import service_client
from tests.conftest import REPO

QUESTION = "When was the Duchy of Normandy founded?"


@pytest.fixture
def index(sample_index: Path, tmp_path: Path, test_reader_dir: Path, monkeypatch) -> Path:
    """A copy of the sample index (a service file must never leak into the shared one), read by the test
    reader on torch (no backend measuring) — for the service and the CLI alike, through the environment."""
    copy = tmp_path / "index"
    shutil.copytree(sample_index, copy)
    monkeypatch.setenv(config.READER_MODEL, str(test_reader_dir))
    monkeypatch.setenv(config.READER_BACKEND, "torch")
    monkeypatch.delenv(config.API_KEY, raising=False)
    return copy


class _Forwarder(BaseHTTPRequestHandler):
    """A loopback HTTP port in front of the real service app (its TestClient): what `docqa serve` answers,
    without starting uvicorn. Records the headers each request came with (names in lower case)."""

    client = None
    seen: list[dict[str, str]] = []

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        response = self.client.request(method, self.path, content=body, headers=headers)
        self.send_response(response.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._forward("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._forward("GET")

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def running_service(index: Path) -> Iterator[tuple[str, Path]]:
    """The service app over ``index`` behind a loopback port, announced in the index as `docqa serve` does."""
    from docqa.pipelines.api import DocQA

    docqa = DocQA(index)
    with service_client(create_app(docqa, api_key="")) as client:  # runs start-up: models load as in
        deadline = time.monotonic() + 120  # `docqa serve`, in the background (shared with this process)
        while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield from _behind_a_port(client, docqa)


def _behind_a_port(client, docqa) -> Iterator[tuple[str, type[_Forwarder]]]:
    handler = type("Handler", (_Forwarder,), {"client": client, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    written = discovery.announce(docqa.settings, url, needs_key=False, rerank=docqa.rerank_status())
    try:
        yield url, handler
    finally:
        discovery.withdraw(written)
        server.shutdown()
        server.server_close()


def ask_json(index: Path, *extra: str) -> dict:
    result = CliRunner().invoke(cli, ["ask", QUESTION, "--index", str(index), "--json", *extra],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ask_goes_to_the_running_service_and_gets_the_same_answer(index, running_service):
    url, handler = running_service
    served = ask_json(index)
    alone = ask_json(index, "--no-service")
    assert served["service"] == url and alone["service"] is None
    texts = [a["text"] for a in served["answers"]]
    assert texts and texts == [a["text"] for a in alone["answers"]]
    assert [p["id"] for p in served["passages"]] == [p["id"] for p in alone["passages"]]
    assert served["reader_backend"]["backend"] == "torch"  # from the service's /ready
    asked = [h for h in handler.seen if "x-requested-with" in h]
    assert asked and all("x-api-key" not in h for h in asked)  # no key set: none sent


def test_a_fresh_docqa_ask_through_the_service_never_imports_the_models_stack(index, running_service):
    """What makes the served `docqa ask` quick: its process never imports Haystack or PyTorch (~1.3-2 s
    on 2 cores). A module-level import of the Python API in any CLI module broke this once (2.4 s)."""
    url, _ = running_service
    code = ("import sys\n"
            "from docqa.app.cli import app\n"
            "try:\n"
            f"    app(['ask', {QUESTION!r}, '--index', {str(index)!r}, '--json'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "finally:\n"
            "    print('HEAVY', [m for m in ('haystack', 'torch', 'transformers') if m in sys.modules],"
            " file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=os.environ.copy())
    assert json.loads(done.stdout)["service"] == url, done.stderr[-2000:]
    assert "HEAVY []" in done.stderr, done.stderr[-2000:]


def test_other_settings_or_a_threshold_are_answered_in_process(index, running_service, monkeypatch):
    url, handler = running_service
    monkeypatch.setenv("DOCQA_RERANK", "1")  # this ask reranks; the service started without (conftest)
    assert ask_json(index)["service"] is None
    monkeypatch.setenv("DOCQA_RERANK", "0")
    assert ask_json(index, "--no-answer-threshold", "0.5")["service"] is None
    assert handler.seen == []  # it was not even asked


def test_a_service_that_needs_a_key_is_used_only_with_the_key(index, running_service, monkeypatch):
    url, handler = running_service
    record = json.loads(discovery.service_file(index).read_text())
    discovery.service_file(index).write_text(json.dumps({**record, "needs_key": True}))
    assert ask_json(index)["service"] is None and handler.seen == []
    monkeypatch.setenv(config.API_KEY, "k" * 32)
    # The service behind the port has no key, so any key passes: what counts is that the CLI sends it.
    assert ask_json(index)["service"] == url
    assert handler.seen[0]["x-api-key"] == "k" * 32


def test_a_stale_or_foreign_service_file_is_ignored(index: Path):
    from docqa.pipelines.api import DocQA

    settings = DocQA(index).settings
    path = discovery.announce(settings, "http://127.0.0.1:9", needs_key=False)  # port 9: nothing listens
    assert path is not None and discovery.find_service(settings) is not None  # this process is alive
    assert ask_json(index)["service"] is None  # refused connection: answered here
    record = json.loads(path.read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    path.write_text(json.dumps({**record, "pid": int(dead.stdout)}))
    assert discovery.find_service(settings) is None  # a process that has exited
    assert discovery.announce(settings, "http://10.0.0.5:8000", needs_key=False) is None  # not loopback
    discovery.withdraw(path)
    assert path.exists()  # another process's file is not ours to remove
    path.write_text(json.dumps(record))
    discovery.withdraw(path)
    assert not path.exists()


@pytest.mark.slow  # a real `docqa serve` and `docqa ask` in fresh interpreters
def test_docqa_serve_announces_itself_and_withdraws_on_sigterm(index: Path) -> None:
    env = dict(os.environ)
    serve = subprocess.Popen([sys.executable, "-m", "docqa.app.cli", "serve", "--port", "0", "--index",
                              str(index)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env, cwd=REPO)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "DocQA service ready" not in line and time.monotonic() < deadline:
            line = serve.stdout.readline()
        assert "DocQA service ready" in line
        url = line.split("ready: ")[1].split()[0]
        assert json.loads(discovery.service_file(index).read_text())["url"] == url
        asked = subprocess.run([sys.executable, "-m", "docqa.app.cli", "ask", QUESTION, "--index",
                                str(index), "--json"], capture_output=True, text=True, env=env, cwd=REPO)
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout)["service"] == url
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    assert not discovery.service_file(index).exists()


def test_a_filtered_question_goes_to_the_service_with_its_filters(index, running_service):
    url, handler = running_service
    served = ask_json(index, "--filter", "file_name != normans.txt")
    alone = ask_json(index, "--no-service", "--filter", "file_name != normans.txt")
    assert served["service"] == url
    files = {Path(p["file"]).name for p in served["passages"]}
    assert files and "normans.txt" not in files  # the service applied the filter
    assert [p["id"] for p in served["passages"]] == [p["id"] for p in alone["passages"]]
