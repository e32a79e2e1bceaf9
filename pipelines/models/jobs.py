"""Improve runs in the background, for the service (``POST /models/improve`` → ``GET /jobs/{id}``) and the
page's Quality view: a thread runs :meth:`DocQA.improve` and writes its progress and decision to
``models/jobs/<id>.json``.

Why files and not a dict in memory: the service may run several worker processes and the page is
another process; whichever answers ``GET /jobs/{id}`` reads the same file (written atomically, so a
reader never sees half a record). Why one run at a time per collection (``models/.improve.lock``): two
candidates trained from the same reader at once would race to promote, and on 2 cores each would take
twice as long. The lock is an OS file lock, so a run killed with the process frees it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from docqa.atomic import atomic_write_json
from docqa.errors import BusyError, DocQAError, NotFoundError
from docqa.pipelines.models.registry import now

JOBS_DIR = "jobs"
RUN_LOCK = ".improve.lock"
KEEP_JOBS = 50
WRITE_EVERY_S = 1.0


class JobNotFoundError(NotFoundError):
    """No job with that id in this collection."""


class ImproveBusyError(BusyError):
    """An improve run is already going in this collection (HTTP 423; training takes minutes)."""

    retry_after = 60


def run_lock(models_dir: Path) -> FileLock:
    """The collection's one-improve-at-a-time lock (usable from any thread)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(models_dir / RUN_LOCK), timeout=0, thread_local=False)


class ImproveJobs:
    """The background improve runs of one collection (see the module docstring)."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        self.path = self.models_dir / JOBS_DIR

    def get(self, job_id: str) -> dict[str, Any]:
        """:raises JobNotFoundError: no such job here (another collection's id is just as unknown)."""
        if not job_id.isalnum():
            raise JobNotFoundError(f"no job {job_id!r}")
        try:
            return json.loads((self.path / f"{job_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise JobNotFoundError(f"no job {job_id!r} in this collection") from None

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest jobs first."""
        if not self.path.is_dir():
            return []
        files = sorted(self.path.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
        out = []
        for file in files:
            try:
                out.append(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return out

    def acquire_run(self) -> FileLock:
        """Take the collection's one-run lock (the caller releases it), for this process's improve.

        :raises ImproveBusyError: a run is already going (the CLI, the service or the page), naming its
            job when it is a background one.
        """
        lock = run_lock(self.models_dir)
        try:
            lock.acquire()
        except Timeout:
            running = next((j["id"] for j in self.recent() if j.get("state") in ("queued", "running")), None)
            hint = (
                f" (job {running}: GET /jobs/{running})"
                if running
                else " (docqa improve, the service or the page)"
            )
            raise ImproveBusyError(
                f"an improve run is already going in this collection{hint}; wait for it to finish"
            ) from None
        return lock

    def start(
        self,
        run: Callable[[Callable[[str, float], None]], dict[str, Any]],
        *,
        kind: str = "improve",
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start ``run(progress)`` in a thread and return its job record at once.

        :raises ImproveBusyError: a run is already going in this collection (this or another process).
        """
        lock = self.acquire_run()
        job = {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "state": "running",
            "stage": "starting",
            "progress": 0.0,
            "created": now(),
            "finished": None,
            "params": params or {},
            "result": None,
            "error": None,
        }
        self.path.mkdir(parents=True, exist_ok=True)
        self._write(job)
        self._trim()
        threading.Thread(
            target=self._run, args=(job, run, lock), name=f"improve-{job['id'][:8]}", daemon=True
        ).start()
        return dict(job)

    def _run(self, job: dict[str, Any], run: Callable, lock: FileLock) -> None:
        last = {"t": 0.0}

        def progress(stage: str, done: float) -> None:
            if done >= 0:
                job["progress"] = round(done, 3)
            job["stage"] = stage[:300]
            if time.monotonic() - last["t"] >= WRITE_EVERY_S:
                last["t"] = time.monotonic()
                self._write(job)

        try:
            job["result"] = run(progress)
            job["state"], job["progress"] = "done", 1.0
        except DocQAError as err:  # a user-facing reason: too little feedback, a missing model, ...
            job["state"], job["error"] = "failed", str(err)
        except Exception as err:  # noqa: BLE001 - a job must end with a state, whatever went wrong
            job["state"], job["error"] = "failed", f"{type(err).__name__}: {err}"
        finally:
            job["finished"] = now()
            self._write(job)
            lock.release()

    def _write(self, job: dict[str, Any]) -> None:
        atomic_write_json(self.path / f"{job['id']}.json", job, durable=False)

    def _trim(self) -> None:
        files = sorted(self.path.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP_JOBS:]:
            old.unlink(missing_ok=True)
