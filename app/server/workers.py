"""`docqa serve --workers N`: N processes serve one index on one port.

Why processes: a question's reading is CPU work (tokenising, ONNX or torch forward passes, ranking spans)
and much of it holds Python's GIL, so threads in one process stop scaling once a core's worth of Python is
busy. N processes each load the models once and take connections from the same listening socket, bound
here before any model loads (as with one worker: a port in use is one line, ``--port 0`` works).

What keeps N processes on one index correct is already on disk, not in a process: a commit (an upload, an
ingest, a delete) is seen by every reader at its next question; the FAQ, feedback, the API keys, the
improve jobs and the promoted readers are files replaced atomically under file locks, re-read when they
change; the audit log is appended with ``O_APPEND`` and rotated under a file lock. What stays per worker:
its share of the cores, ``--max-concurrent-asks`` and ``GET /ready`` (the worker that took the request; it
says its ``pid``). ``DOCQA_RATE_LIMIT`` is one limit for all of them: the supervisor creates the per-key
token buckets in shared memory and every worker draws from them (:mod:`docqa.app.server.rate_buckets`).

Why our own supervisor rather than uvicorn's ``workers=N`` (an import string re-reading its settings from
the environment in each worker):

- the parent knows when every worker accepts requests, so it prints ``DocQA service ready: URL`` and the
  discovery file names it (its pid: `docqa ask` checks that process is alive) only then;
- a worker that cannot start (a bad setting, a model name that does not parse) sends its one-line reason
  to the parent, which stops and prints it as `docqa serve` with one worker does, instead of starting
  replacements forever; the first worker starts alone, so the line is printed once;
- workers end with the parent, also after ``kill -9`` (a watch thread), so no orphan keeps the port;
- each worker is pinned to its own share of the cores (:func:`core_share`), so the models' thread pools
  of N workers do not contend for the same cores;
- the settings travel to each worker in the spawn pipe (pickled), so the API key is never on a command
  line, in a file, or copied into another environment variable.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from docqa.app.server import discovery
from docqa.app.server.errors import ServeConfigError
from docqa.app.server.rate_buckets import SharedBuckets

logger = logging.getLogger("docqa.serve")

STARTUP_FAILURE = 3  # uvicorn's exit status for an app that could not start
PARENT_CHECK_S = 1.0  # how often a worker checks its parent is still there
STOP_GRACE_S = 30.0  # a worker still running this long after SIGTERM is killed
READY_TIMEOUT_S = 600.0  # imports and building the app; models load later, in the background


@dataclass(frozen=True)
class WorkerSettings:
    """What each worker builds its app from: `docqa serve`'s options (see
    :func:`docqa.app.server.running.serve`). ``api_key`` is kept out of ``repr`` so no log shows it."""

    url: str
    bound_host: str
    index: str | None = None
    api_key: str | None = field(default=None, repr=False)
    embedding_model: str | None = None
    reader_model: str | None = None
    reader_backend: str | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    max_concurrent_asks: int | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    log_level: str = "info"
    reading_batch_window_s: float | None = None
    reading_batch_workers: int = 1


# ----- in a worker -----
class _ReportingServer(uvicorn.Server):
    """uvicorn's server that tells the parent once it accepts requests (after the app's start-up)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.on_started()


def _exit_with_parent(parent: int) -> None:
    """Stop this worker (as a SIGTERM does: requests in flight finish) once its parent is gone: after a
    ``kill -9`` of `docqa serve` nothing else would end it, and it would keep serving the port."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def build_app(settings: WorkerSettings, rate_buckets: SharedBuckets | None = None) -> tuple[Any, Any]:
    """The DocQA and the service app one worker serves: what `docqa serve` builds with one worker, its
    per-key rate limit taken from ``rate_buckets``, the table every worker shares."""
    from docqa.app.server.app import create_app
    from docqa.pipelines.api import DocQA

    docqa = DocQA(settings.index, embedding_model=settings.embedding_model,
                  reader_model=settings.reader_model, reader_backend=settings.reader_backend)
    app = create_app(
        docqa,
        api_key=settings.api_key or "",
        max_upload_bytes=settings.max_upload_bytes,
        max_concurrent_asks=settings.max_concurrent_asks,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
        bound_host=settings.bound_host,
        reading_batch_window_s=settings.reading_batch_window_s,
        reading_batch_workers=settings.reading_batch_workers,
        rate_buckets=rate_buckets,
    )
    return docqa, app


def core_share(slot: int, count: int) -> set[int] | None:
    """The cores worker ``slot`` of ``count`` runs on: an equal, disjoint share of this process's cores, or
    None (all of them) when there are fewer cores than workers or no way to pin (not Linux).

    Why pin: every model session sizes its thread pool to the cores its process may use, so N unpinned
    workers run N pools of all the cores and contend; pinned, each runs a pool of its own share. Measured
    (benchmarks/throughput.py, 2 shared cores): unpinned, two workers made 0.76-0.98x the questions/s of
    one process; pinned, 1.40-1.62x.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < count:
        return None
    return set(cores[slot * len(cores) // count:(slot + 1) * len(cores) // count])  # sizes differ by <= 1


def run_worker(settings: WorkerSettings, sock: socket.socket, messages: Any, parent: int,
               cores: set[int] | None = None, rate_buckets: SharedBuckets | None = None) -> None:
    """A worker process: build the app, serve ``sock`` until SIGTERM, report to the parent on
    ``messages``: ``("ready", pid, discovery file or None)`` or ``("error", pid, one line)``."""
    threading.Thread(target=_exit_with_parent, args=(parent,), name="docqa-parent-watch", daemon=True).start()
    if cores:
        os.sched_setaffinity(0, cores)
    from docqa.errors import DocQAError

    try:
        docqa, app = build_app(settings, rate_buckets)
    except (DocQAError, ValueError) as err:  # what `docqa serve` prints as one line with one worker
        messages.put(("error", os.getpid(), str(err)))
        sys.exit(STARTUP_FAILURE)

    def started() -> None:
        # Every worker writes the same record, naming the parent: the process `docqa ask` checks is alive
        # and the one that withdraws the file when the service stops.
        written = discovery.announce(docqa.settings, settings.url, needs_key=bool(settings.api_key),
                                     rerank=docqa.rerank_status(), pid=parent)
        messages.put(("ready", os.getpid(), str(written) if written else None))

    server = _ReportingServer(uvicorn.Config(app, log_level=settings.log_level), started)
    server.run(sockets=[sock])
    if not server.started:
        messages.put(("error", os.getpid(), "a worker could not start the service (its log says why)"))
        sys.exit(STARTUP_FAILURE)


# ----- in the parent -----
class Supervisor:
    """Starts ``count`` workers on ``sock``, keeps that many running until SIGINT/SIGTERM, then stops them.

    The first worker starts alone (a setting every worker would refuse is reported once), the others
    together; :meth:`run` announces the service once all of them accept requests.
    """

    def __init__(self, settings: WorkerSettings, sock: socket.socket, count: int) -> None:
        self.settings = settings
        self.sock = sock
        self.count = count
        self.context = multiprocessing.get_context("spawn")  # no fork: threads and model state don't copy
        self.messages = self.context.Queue()
        self.workers: list[multiprocessing.process.BaseProcess] = []
        self.ready: set[int] = set()
        self.announced: set[str] = set()
        self.stop = threading.Event()
        self.rate_buckets = SharedBuckets.create(self.context)  # one per-key rate limit for all workers

    def _start(self, slot: int) -> multiprocessing.process.BaseProcess:
        process = self.context.Process(
            target=run_worker,
            args=(self.settings, self.sock, self.messages, os.getpid(), core_share(slot, self.count),
                  self.rate_buckets),
            name="docqa-serve-worker", daemon=False,
        )
        process.start()
        return process

    def _receive(self, timeout: float) -> None:
        """Take the workers' messages for up to ``timeout`` s. :raises ServeConfigError: a worker's error."""
        try:
            kind, pid, detail = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        if kind == "error":
            raise ServeConfigError(detail)
        self.ready.add(pid)
        if detail:
            self.announced.add(detail)

    def _wait_ready(self, processes: Sequence[multiprocessing.process.BaseProcess]) -> bool:
        """True once every one of ``processes`` accepts requests; False when asked to stop first.

        :raises ServeConfigError: a worker could not start (its reason), or ended before it was ready.
        """
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(p.pid in self.ready for p in processes):
            if self.stop.is_set():
                return False
            self._receive(0.2)
            ended = [p for p in processes if p.exitcode is not None and p.pid not in self.ready]
            if ended and not self.stop.is_set():
                self._receive(0.5)  # its reason may still be on the way
                raise ServeConfigError(
                    f"a worker process ended while starting (exit status {ended[0].exitcode}); "
                    "the log above says why"
                )
            if time.monotonic() > deadline:
                raise ServeConfigError(f"the workers did not start within {READY_TIMEOUT_S:.0f} s")
        return True

    def run(self, on_ready: Callable[[], None]) -> None:
        """Serve until SIGINT or SIGTERM; ``on_ready`` is called once every worker accepts requests."""
        with _stop_on_signals(self.stop):
            try:
                self.workers.append(self._start(0))
                if not self._wait_ready(self.workers):
                    return
                self.workers.extend(self._start(slot) for slot in range(1, self.count))
                if not self._wait_ready(self.workers):
                    return
                on_ready()
                while not self.stop.is_set():
                    self._receive(0.5)
                    self._replace_ended()
            finally:
                self._stop_all()
                for path in self.announced:  # after the workers: none of them can write it again
                    discovery.withdraw(Path(path))

    def _replace_ended(self) -> None:
        """A worker that died while serving (killed, out of memory) is replaced; the others serve
        meanwhile."""
        for i, process in enumerate(self.workers):
            if process.exitcode is not None and not self.stop.is_set():
                logger.warning("docqa serve: worker %s ended (exit status %s); starting another",
                               process.pid, process.exitcode)
                self.workers[i] = self._start(i)

    def _stop_all(self) -> None:
        """SIGTERM to every worker (each finishes its requests in flight), then SIGKILL to any that is
        still running after :data:`STOP_GRACE_S`: `docqa serve` never leaves a worker behind."""
        for process in self.workers:
            if process.exitcode is None and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.workers:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join(5)
        self.messages.close()
        self.messages.join_thread()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (the previous handlers come back afterwards). Ctrl+C in a terminal
    reaches the workers too (one process group); they shut down on their own and the parent reaps them."""
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_workers(settings: WorkerSettings, sock: socket.socket, count: int) -> None:
    """Serve with ``count`` worker processes until SIGINT or SIGTERM (`docqa serve --workers N`).

    :raises ServeConfigError: a worker could not start (the first one's reason, in one line).
    """
    url = settings.url

    def ready() -> None:
        print(f"DocQA service ready: {url} ({count} workers; API docs at {url}/docs; Ctrl+C stops it)",
              flush=True)

    Supervisor(settings, sock, count).run(ready)
