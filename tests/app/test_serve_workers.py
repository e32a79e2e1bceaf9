"""`docqa serve --workers N`: several processes serve one index on one port. What a user would notice:
answers from any worker equal the one-process answer, more than one worker really serves, a document added
through one worker is found through every connection, the discovery
file names the parent, stopping the parent stops every worker (no orphan keeps the port), a killed
worker is replaced, and a mistake in how it was started is one line."""

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
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from docqa import config
from docqa.app.cli import app as cli
from docqa.app.server import discovery
from tests.conftest import REPO

QUESTIONS = ["When was the Duchy of Normandy founded?", "Who invented packet switching?",
             "Who invented the atmospheric engine?"]
HEADERS = {"X-Requested-With": "pytest"}


@pytest.fixture(scope="module")
def index(sample_index: Path, tmp_path_factory, test_reader_dir: Path) -> Iterator[Path]:
    """A copy of the sample index (the service writes its discovery file there), read by the test reader
    on torch, for the service and the in-process reference alike (through the environment)."""
    copy = tmp_path_factory.mktemp("workers") / "index"
    shutil.copytree(sample_index, copy)
    saved = {name: os.environ.get(name) for name in (config.READER_MODEL, config.READER_BACKEND,
                                                      config.API_KEY)}
    os.environ[config.READER_MODEL] = str(test_reader_dir)
    os.environ[config.READER_BACKEND] = "torch"
    os.environ.pop(config.API_KEY, None)
    yield copy
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _serve(index: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "docqa.app.cli", "serve", "--port", "0", "--index", str(index), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env={**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False", **(env or {})},
    )


def _ready_url(serve: subprocess.Popen) -> str:
    deadline = time.monotonic() + 120
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = serve.stdout.readline()
        if not line and serve.poll() is not None:
            break
        lines.append(line)
        if line.startswith("DocQA service ready: "):
            return line.split("ready: ")[1].split()[0]
    raise AssertionError("no ready line:\n" + "".join(lines))


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (the workers and multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"  # a zombie has ended; only its exit status is left


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if _alive(p)}


def _ready_pids(url: str, count: int, timeout: float = 90) -> set[int]:
    """Worker pids that answered ``/ready`` with 200 (every worker loaded its models), ``count`` of them:
    a new connection per request, which the kernel hands to whichever worker waits on the socket."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(pids) < count and time.monotonic() < deadline:
        response = httpx.get(f"{url}/ready", headers=HEADERS, timeout=30)
        if response.status_code == 200:
            pids.add(response.json()["pid"])
        else:
            time.sleep(0.1)
    return pids


@pytest.mark.slow  # a real `docqa serve --workers 2`: a fresh interpreter and two spawned workers
def test_two_workers_answer_as_one_process_does_and_stop_with_the_parent(index: Path) -> None:
    from docqa.pipelines.api import DocQA

    serve = _serve(index, "--workers", "2")
    try:
        url = _ready_url(serve)
        record = json.loads(discovery.service_file(index).read_text())
        assert record["url"] == url and record["pid"] == serve.pid  # the parent, which outlives workers
        pids = _ready_pids(url, 2)
        assert len(pids) == 2, pids  # two processes serve, each with its models loaded
        assert pids <= _children(serve.pid)

        expected = {q: [a.text for a in DocQA(index).ask(q).answers] for q in QUESTIONS}
        got: list[tuple[str, int, list[str]]] = []
        lock = threading.Lock()

        def client(number: int) -> None:
            with httpx.Client(base_url=url, headers=HEADERS, timeout=120) as http:
                for question in QUESTIONS[number % 3:] + QUESTIONS[:number % 3]:
                    response = http.post("/ask", json={"question": question})
                    texts = [a["text"] for a in response.json().get("answers", [])]
                    with lock:
                        got.append((question, response.status_code, texts))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(got) == 12 and all(status == 200 for _, status, _ in got)
        assert all(texts == expected[q] for q, _, texts in got), (got, expected)
        assert any(expected.values())  # the comparison is about real answers

        # A commit through one worker is what every worker answers from next (8 fresh connections).
        note = index.parent / "zorblax.txt"
        note.write_text("The Zorblax festival is held every year in the town of Quimperle in March.\n")
        with note.open("rb") as handle:
            added = httpx.post(f"{url}/documents", headers=HEADERS, files={"files": handle}, timeout=120)
        assert added.status_code == 200, added.text
        for _ in range(8):
            found = httpx.post(f"{url}/search", headers=HEADERS, json={"query": "Zorblax festival"},
                               timeout=60)
            assert found.json()["passages"][0]["file"].endswith("zorblax.txt"), found.text
        children = _children(serve.pid)
    finally:
        serve.send_signal(signal.SIGTERM)
        status = serve.wait(60)
    assert status == 0
    assert not _wait_gone(children, 10)  # every worker (and the resource tracker) ended with the parent
    assert not discovery.service_file(index).exists()


@pytest.mark.slow  # a real `docqa serve --workers 2` with keys and a rate limit
def test_a_keys_rate_limit_is_one_limit_across_the_workers(index: Path, tmp_path: Path) -> None:
    """14 requests at once with one key, limited to 6 a minute: 6 are granted, whichever worker takes them.
    Until a round lands granted requests on both workers (the kernel decides where connections go), a new
    key (a new bucket) tries again; per-worker buckets would grant up to 12 in such a round."""
    from concurrent.futures import ThreadPoolExecutor

    from docqa.pipelines.api import KeyStore

    own = tmp_path / "index"  # a copy: the keys made here must not reach the other tests' service
    shutil.copytree(index, own, ignore=shutil.ignore_patterns(".docqa-service.json"))
    keys = KeyStore(own)
    serve = _serve(own, "--workers", "2", env={config.API_KEY: "rate-test-key", config.RATE_LIMIT: "6"})
    try:
        url = _ready_url(serve)

        def once(key: str) -> int | None:  # the granting worker's pid, None when refused with 429
            response = httpx.get(f"{url}/ready", headers={**HEADERS, "X-API-Key": key}, timeout=60)
            return None if response.status_code == 429 else response.json()["pid"]  # 503: still loading

        rounds = []
        for attempt in range(8):
            _, key = keys.create(f"rate-{attempt}", ["default"], "read")
            with ThreadPoolExecutor(14) as pool:
                granted = [pid for pid in pool.map(once, [key] * 14) if pid is not None]
            rounds.append(granted)
            assert len(granted) <= 7, rounds  # 6, and at most one refilled token (one every 10 s)
            if len(set(granted)) == 2:
                break
        assert len(set(rounds[-1])) == 2, rounds  # a round where both workers granted: still <= 7 in all
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)


@pytest.mark.slow  # a real service; a worker, then the parent, killed with -9
def test_a_killed_worker_is_replaced_and_workers_end_when_their_parent_is_killed(index: Path) -> None:
    serve = _serve(index, "--workers", "2")
    try:
        url = _ready_url(serve)
        before = _children(serve.pid)
        worker = httpx.get(f"{url}/ready", headers=HEADERS, timeout=30).json()["pid"]
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _children(serve.pid) - before:
            time.sleep(0.2)
        replacement = _children(serve.pid) - before
        assert len(replacement) == 1, (before, _children(serve.pid))
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200  # the other kept serving
        children = _children(serve.pid)
    finally:
        serve.kill()
        serve.wait(30)
    assert not _wait_gone(children, 15)  # the parent watch ends each worker within a second or two
    # Nobody withdrew the discovery file; it names the dead parent, so `docqa ask` ignores it.
    assert discovery.find_service(config.Settings.from_env().override(index_dir=index)) is None
    discovery.service_file(index).unlink()


@pytest.mark.slow  # a fresh interpreter and a spawned worker
def test_a_worker_that_cannot_start_is_one_line_and_no_service(index: Path) -> None:
    serve = _serve(index, "--workers", "2", env={config.FAQ_THRESHOLD: "lots"})
    output, _ = serve.communicate(timeout=120)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert serve.returncode == 2, output
    assert len(errors) == 1 and config.FAQ_THRESHOLD in errors[0], output  # once, not once per worker
    assert "Traceback" not in output and "DocQA service ready" not in output
    assert not discovery.service_file(index).exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [(["--workers", "0"], "--workers must be 1 or more"),
     (["--workers", "-3"], "--workers must be 1 or more"),
     (["--workers", "2", "--watch", "."], "--watch needs --workers 1")],
)
def test_bad_worker_options_are_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--index", str(tmp_path), *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], result.output


def test_each_worker_gets_its_own_share_of_the_cores(monkeypatch) -> None:
    from docqa.app.server import workers

    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4}, raising=False)
    shares = [workers.core_share(slot, 2) for slot in range(2)]
    assert shares == [{0, 1}, {2, 3, 4}]  # disjoint, every core used: no two workers' pools share a core
    assert workers.core_share(0, 6) is None  # more workers than cores: every worker may use every core
