"""How `docqa ask` finds a `docqa serve` already running on the same index, and asks it instead.

Why: a fresh `docqa ask` process pays for its imports (Haystack pulls torch: ~2 s on 2 busy cores) and
model loads before it reads a word — 4.6 s for the samples — while a running service has all of that
loaded and answers in tens of milliseconds. So `docqa serve` leaves a small file in the index directory
(:data:`FILE_NAME`: its URL, pid, the settings that decide an answer and its reranking status — never
the API key) while it
runs, and removes it on exit. `docqa ask` uses the service only when everything checks out:

- the file names a live process (a service killed with -9 leaves its file behind) and a loopback URL;
- the service answers with exactly the settings this `docqa ask` would use (index, store, embedding and
  reader model, backend, fallback, reranking) — a flag or variable that differs means asking in-process;
- the service needs an API key only if this process has ``DOCQA_API_KEY`` to send.

Anything else — no file, a stale one, a refused connection, an error status, a body that is not an
answer — falls back silently to answering in-process, so the service can only make `docqa ask` faster.
This module imports only the standard library and the foundations: the CLI imports it before deciding
whether it needs Haystack at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from docqa import config
from docqa.atomic import atomic_write_text

FILE_NAME = ".docqa-service.json"
FORMAT = 1
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
CONNECT_TIMEOUT_S = 1.0  # a live loopback service accepts in microseconds; a dead port refuses at once
ASK_TIMEOUT_S = 300.0  # reading may wait for a slot behind other users' questions
# The settings that decide an answer: `docqa ask` uses a service only when all of them are the same.
SETTING_NAMES = ("embedding_model", "reader_model", "reader_backend", "reader_fallback", "store", "rerank")


def service_file(index_dir: str | Path) -> Path:
    return Path(index_dir) / FILE_NAME


def settings_record(settings: config.Settings) -> dict[str, Any]:
    """What of ``settings`` must match between a service and a `docqa ask` (JSON-ready)."""
    record: dict[str, Any] = {name: getattr(settings, name) for name in SETTING_NAMES}
    record["index_dir"] = str(Path(settings.index_dir).expanduser().resolve())
    return record


def announce(settings: config.Settings, url: str, *, needs_key: bool,
             rerank: Mapping[str, Any] | None = None, pid: int | None = None) -> Path | None:
    """Write the service file for a service listening at ``url`` (loopback URLs only); None if not written.

    ``pid``: the process that owns the service (default: this one). A worker of `docqa serve --workers N`
    names its parent, which outlives every worker and withdraws the file when the service stops.
    A read-only or missing index directory only means `docqa ask` will not find the service.
    """
    if urlsplit(url).hostname not in LOOPBACK_HOSTS:
        return None
    path = service_file(settings.index_dir)
    record = {"format": FORMAT, "url": url, "pid": pid or os.getpid(), "needs_key": needs_key,
              "settings": settings_record(settings), "rerank": dict(rerank or {})}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    except OSError:
        return None
    return path


def withdraw(path: Path | None) -> None:
    """Remove the service file written by this process (a newer service's file is left alone)."""
    if path is None:
        return
    record = _read(path)
    if record is not None and record.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, but not a service we started
        return True
    except OSError:
        return False
    return True


def find_service(settings: config.Settings) -> dict[str, Any] | None:
    """The running service's record when `docqa ask` with ``settings`` may use it (see module doc)."""
    record = _read(service_file(settings.index_dir))
    if record is None or not _alive(record.get("pid")):
        return None
    url = record.get("url")
    if not isinstance(url, str) or urlsplit(url).hostname not in LOOPBACK_HOSTS:
        return None
    if record.get("settings") != settings_record(settings):
        return None
    if record.get("needs_key") and not config.env(config.API_KEY):
        return None
    return record


def request_json(url: str, body: Mapping[str, Any] | None = None,
                 timeout: float = ASK_TIMEOUT_S) -> dict[str, Any] | None:
    """POST ``body`` (GET without one) to a loopback service as a program on this machine does
    (``X-Requested-With``, and ``X-API-Key`` when ``DOCQA_API_KEY`` is set); the JSON body of a 200, else
    None."""
    headers = {"X-Requested-With": "docqa-cli"}
    key = config.env(config.API_KEY)
    if key:
        headers["X-API-Key"] = key
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode("utf-8")
    method = "GET" if data is None else "POST"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    # No proxy: a loopback service must never be reached through one (http_proxy set for the Internet).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                return None
            data = json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def ask_service(settings: config.Settings, question: str, *, top_k: int, max_answers: int,
                filters: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(answer, service record)`` from a running service on this index, or None: answer in-process.

    The answer is the service's ``/ask`` body (``AskResult.to_dict()`` of the service's DocQA).
    """
    record = find_service(settings)
    # One timeout for the whole call would either cut off a long read or wait long on a dead port: the
    # port is tried first, briefly, then the question gets the long timeout.
    if record is None or not _connects(record["url"]):
        return None
    body: dict[str, Any] = {"question": question, "top_k": top_k, "max_answers": max_answers}
    if filters:
        body["filters"] = filters
    # One service serves every collection of the index: the others under /collections/{name}/.
    prefix = "" if settings.collection == config.DEFAULT_COLLECTION else f"/collections/{settings.collection}"
    answer = request_json(record["url"].rstrip("/") + prefix + "/ask", body)
    if answer is None or answer.get("question") != question or not isinstance(answer.get("answers"), list):
        return None
    return answer, record


def _connects(url: str) -> bool:
    """True when something accepts connections at ``url``'s port, within :data:`CONNECT_TIMEOUT_S`."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False
