"""`docqa ingest PATH --watch` as a user runs it: first ingest, one line per change, Ctrl-C stops cleanly."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

# Slow (~13 s on a quiet 2-core machine): a real `docqa ingest --watch` process loads the embedding model.
pytestmark = pytest.mark.slow

TIMEOUT_S = 120.0  # the first ingest loads the embedding model


def _lines(proc: subprocess.Popen) -> queue.Queue[str]:
    """The process's stdout lines, read by a thread so waiting on them can time out."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _drain(stream) -> tuple[list[str], threading.Thread]:
    """Read a pipe to its end on a thread. An unread stderr pipe fills at 64 KiB (a first ONNX export warns
    a lot) and then blocks the child on its next write — at exit, say — which looks like a hang."""
    chunks: list[str] = []
    thread = threading.Thread(target=lambda: chunks.extend(stream), daemon=True)
    thread.start()
    return chunks, thread


def _next_line(lines: queue.Queue[str], deadline: float) -> str:
    try:
        return lines.get(timeout=max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        raise AssertionError("timed out waiting for the watcher's output") from None


def test_watch_applies_changes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "first.txt").write_text("The lighthouse keeper lit the lamp at dusk.", encoding="utf-8")
    index = tmp_path / "index"
    proc = subprocess.Popen(
        # -X faulthandler: if Ctrl-C ever fails to stop it, SIGABRT below prints every thread's stack.
        [sys.executable, "-X", "faulthandler", "-m", "docqa.app.cli", "ingest", str(folder), "--index",
         str(index), "--watch", "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # Ctrl-C as a terminal delivers it: a runner started in the background (`cmd &` in a script, as
        # CI may be) passes SIGINT on as ignored, and Python then installs no KeyboardInterrupt handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        # The first ingest's report is one indented JSON object; then the watcher is running.
        lines = _lines(proc)
        errors, errors_done = _drain(proc.stderr)
        report_text = ""
        while not report_text.rstrip().endswith("\n}"):
            report_text += _next_line(lines, deadline)
        assert json.loads(report_text)["counts"]["added"] == 1
        time.sleep(1.0)  # let the observer start before the change
        (folder / "second.txt").write_text("The ferry leaves pier three at seven.", encoding="utf-8")
        (folder / "first.txt").unlink()
        changes = [json.loads(_next_line(lines, deadline)) for _ in range(2)]
        assert sorted((c["status"], Path(c["path"]).name) for c in changes) == [
            ("added", "second.txt"),
            ("removed", "first.txt"),
        ]
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler: where each thread is stuck
            proc.wait(timeout=30)
            errors_done.join(timeout=10)
            stacks = "".join(errors)[-6000:]
            pytest.fail(f"Ctrl-C did not stop the watcher within 30 s; its threads:\n{stacks}")
        errors_done.join(timeout=10)
        assert code == 0, "".join(errors)
        assert "Traceback" not in "".join(errors)
    finally:
        if proc.poll() is None:
            proc.kill()
    listed = subprocess.run(
        [sys.executable, "-m", "docqa.app.cli", "documents", "--index", str(index), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert [Path(d["file"]).name for d in json.loads(listed.stdout)] == ["second.txt"]
