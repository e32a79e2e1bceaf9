"""A real ``python -m docqa.app.server --port 0`` process in tests: wait for the line that gives its URL,
and stop it. The service picks a free port itself and prints it once it accepts requests, so no test
hands a port over (another process could take it in between)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

READY_LINE = "DocQA service ready: "


def wait_until_ready(process: subprocess.Popen, log_path: Path, timeout_s: float) -> str:
    """The base URL the service printed to ``log_path``.

    :raises AssertionError: the process ended, or printed nothing within ``timeout_s``, with its log."""
    deadline = time.monotonic() + timeout_s
    while READY_LINE not in (text := log_path.read_text(encoding="utf-8")):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"server did not start: {text}")
        time.sleep(0.25)
    return text.split(READY_LINE, 1)[1].split()[0]


def stop(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """Terminate ``process``; kill it if it has not ended after ``grace_s``."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
