"""The audit log: who did what to which collection, append-only, in ``<index>/audit.jsonl``.

Why JSON lines, fsynced, and rotated by size: a team that shares one DocQA must be able to answer "who
deleted the handbook?" or "which app asked about salaries?" after the fact, and a log that a crash can
truncate mid-line, or that grows without end, cannot be trusted or kept. Each line is written with one
``write`` on a file opened for appending (O_APPEND: lines from several threads or processes never mix)
and fsynced; when the file passes ``DOCQA_AUDIT_MAX_MB`` it is renamed to ``audit.jsonl.1`` (older ones
shift up to ``.5``, the oldest dropped). Rotating and appending hold ``.audit.lock`` (``flock``): with
several writers (`docqa serve --workers N`, the CLI beside them) two could otherwise both see a full file,
rotate twice, and the second's rename of a file already moved would drop its line.

A line holds the time, the key's *name* (never the key), the action (route or command), the collection,
the question or file, the result count and status. ``DOCQA_AUDIT_QUESTIONS=0`` leaves questions out for
privacy (the count and status stay).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from docqa import config
from docqa.errors import InvalidInputError

AUDIT_FILE = "audit.jsonl"
LOCK_FILE = ".audit.lock"
KEEP_ROTATED = 5
_LOCK = threading.Lock()
_SINCE = re.compile(r"^(\d+)\s*([smhd])$")


@dataclass(frozen=True)
class AuditEvent:
    key: str  # the key's name, "cli" for a local command, "open" for a keyless loopback service
    action: str  # e.g. "POST /ask", "docqa ingest"
    collection: str | None = None
    question: str | None = None
    file: str | None = None
    count: int | None = None
    status: int | str = "ok"


class AuditLog:
    """Appending and reading one index's audit log."""

    def __init__(self, index_dir: str | Path, *, max_bytes: int | None = None,
                 questions: bool | None = None) -> None:
        self.path = Path(index_dir).expanduser() / AUDIT_FILE
        mb = config.env_float(config.AUDIT_MAX_MB, 16.0, low=0.001)
        self.max_bytes = max_bytes if max_bytes is not None else int(mb * 1024 * 1024)
        self.questions = config.env_flag(config.AUDIT_QUESTIONS, True) if questions is None else questions

    def append(self, event: AuditEvent) -> None:
        """Write one line (fsynced). A log that cannot be written (read-only index) never fails a request."""
        record: dict[str, Any] = {"time": datetime.now(UTC).isoformat(timespec="milliseconds")}
        for name, value in vars(event).items():
            if value is None or (name == "question" and not self.questions):
                continue
            record[name] = value[:500] if isinstance(value, str) else value
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            with _LOCK:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path.with_name(LOCK_FILE), "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed; other processes wait here
                    self._rotate_if_full(len(line))
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                    try:
                        os.write(fd, line)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
        except OSError:
            pass

    def _rotate_if_full(self, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size + adding <= self.max_bytes:
            return
        for n in range(KEEP_ROTATED - 1, 0, -1):
            older = self.path.with_name(f"{AUDIT_FILE}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{AUDIT_FILE}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{AUDIT_FILE}.1"))

    def read(self, *, key: str | None = None, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every line, oldest first (rotated files first), filtered by key name and time."""
        files = [self.path.with_name(f"{AUDIT_FILE}.{n}") for n in range(KEEP_ROTATED, 0, -1)]
        for path in [*files, self.path]:
            if not path.exists():
                continue
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a crash of an older version: skip, keep reading
                    if key is not None and record.get("key") != key:
                        continue
                    if since is not None and datetime.fromisoformat(record["time"]) < since:
                        continue
                    yield record


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``10m`` / ``2h`` / ``1d`` ago, or an ISO time; None for None.

    :raises InvalidInputError: naming the value.
    """
    if not text:
        return None
    now = now or datetime.now(UTC)
    match = _SINCE.match(text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"--since {text!r}: use e.g. 10m, 2h, 1d or an ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
