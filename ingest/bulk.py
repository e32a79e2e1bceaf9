"""``docqa ingest --jobs N``: read, OCR and split files in a pool of processes while one writer embeds.

Why processes and one writer: parsing (pypdf, lxml), page rendering and splitting are pure Python and
hold the GIL, and a scan's OCR is seconds a page, so one process reads one file at a time however many
cores there are. Embedding and committing stay in the calling process (the writer: one model in memory,
one holder of the index's writer lock, the same checkpoints), so the crash-safety story of
``docqa.ingest.ingestor`` is unchanged: workers never touch the index, a killed writer loses at most the
work since its last commit, and the next run resumes.

- **Spawned**, never forked: the writer has torch's thread pools and model weights loaded; a spawned
  worker imports only ``docqa.ingest.preparing`` (loaders, splitter) and loads no model. Jobs go in as
  paths (:class:`ParseJob`) and come back as plain :class:`Prepared` results.
- **In order**: :meth:`ParsePool.ordered` keeps up to ``2 * jobs`` files in flight ahead of the writer and
  hands results back in discovery order, so commits and the report list files exactly as ``--jobs 1``.
  A run with only one file to read (one change in a big folder) reads it in process: no worker starts.
- **A file that kills its worker fails alone**: when a worker dies (SIGKILL, a segfault in a native
  parser, the OOM killer) every file then in flight is suspect; each is read again alone in a fresh pool,
  and the one that kills that too is reported failed, naming the crash. The run goes on.
- **Stopping**: workers ignore SIGINT (Ctrl-C belongs to the writer); when the run ends, is cancelled or
  interrupted, :meth:`ParsePool.close` cancels queued files and terminates the workers; a writer killed
  with -9 cannot, so each worker also ends itself within a second of its writer's death.
- **OCR share**: a worker runs ``cores // jobs`` Tesseracts at once (``docqa.ingest.ocr`` defaults to one
  per core in a single process), so the pool does not start ``jobs × cores`` of them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from docqa.ingest.limits import Limits
from docqa.ingest.loaders import unexpected_reason
from docqa.ingest.preparing import ParseJob, Prepared, failed, parse
from docqa.ingest.report import FileResult
from docqa.ingest.splitting import PageAwareSplitter

AHEAD_PER_JOB = 2  # files in flight per worker: one being read, one queued, so no worker waits for work
PARENT_CHECK_S = 0.5  # how often a worker looks whether its writer is still there
MAX_QUEUED = 256  # decided files (unchanged, skipped) held ahead of the writer at most
Outcome = Prepared | FileResult
Worker = Callable[[ParseJob], Outcome]
_END = object()
_LATER = object()


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. under ``taskset`` or a CPU quota'd
    container's cpuset), the default for ``--jobs``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def crash_reason(job: ParseJob) -> str:
    return (
        f"the worker process reading {job.path.name} died (killed, or crashed by the file: out of memory, "
        "a fault in a native parser); the file was not indexed, the rest of the run went on"
    )


_state: dict[str, Any] = {}


def _init_worker(splitter: PageAwareSplitter, ocr: bool, limits: Limits, ocr_threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's; it ends the pool
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    from docqa.ingest import ocr as ocr_module

    ocr_module.set_default_workers(ocr_threads)
    _state.update(splitter=splitter, ocr=ocr, limits=limits)


def _exit_with_parent(parent: int) -> None:
    """End this worker when its writer is gone (kill -9 leaves no time to close the pool).

    Why a watch: a worker waiting for its next file blocks on the pool's queue, and it holds that queue's
    write end itself, so the writer's death never wakes it; an orphaned idle worker (haystack imported,
    ~300 MB) stayed forever (tests/ingest/test_bulk.py kills a writer and checks its workers end).
    """
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            os._exit(1)


def parse_in_worker(job: ParseJob) -> Outcome:
    """What a pool worker does with one file: :func:`~docqa.ingest.preparing.parse`, as ``--jobs 1``."""
    return parse(job, _state["splitter"], ocr=_state["ocr"], limits=_state["limits"])


class ParsePool:
    """A spawned process pool that reads :class:`ParseJob` s a few files ahead of the writer.

    :param worker: the function a worker runs per file (module-level, so spawn can import it).
    """

    def __init__(
        self,
        jobs: int,
        splitter: PageAwareSplitter,
        *,
        ocr: bool,
        limits: Limits,
        worker: Worker = parse_in_worker,
    ) -> None:
        self.jobs = max(1, jobs)
        self.ahead = AHEAD_PER_JOB * self.jobs
        self.worker = worker
        self._initargs = (splitter, ocr, limits, max(1, available_cores() // self.jobs))
        self._executor: ProcessPoolExecutor | None = None
        self._in_flight = 0
        self.started = False  # whether any file went to a worker

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ordered(
        self, items: Iterable[ParseJob | Outcome], stop: Callable[[], bool]
    ) -> Iterator[Outcome | None]:
        """Each item's outcome in input order: a :class:`ParseJob` is read by a worker, anything else
        (a result the writer decided without reading the file) passes through. Yields None, then stops,
        when ``stop()`` is true before the next outcome."""
        queue: deque[list[Any]] = deque()  # [job or outcome, its future (_LATER: held) or None: settled]
        deferred: list[Any] | None = None  # the first file to read, held until a second one needs reading
        source = iter(items)
        more = True
        while True:
            while more and self._in_flight < self.ahead and len(queue) < MAX_QUEUED:
                item = next(source, _END)
                if item is _END:
                    more = False
                elif isinstance(item, ParseJob):
                    self._in_flight += 1
                    if not self.started and deferred is None:
                        deferred = [item, _LATER]
                        queue.append(deferred)
                        continue
                    if deferred is not None:
                        deferred[1], deferred = self._submit(deferred[0]), None
                    queue.append([item, self._submit(item)])
                else:
                    queue.append([item, None])
            if not queue:
                return
            if stop():
                yield None
                return
            head = queue[0]
            if head[1] is _LATER:  # still the only file to read
                deferred = None
                if more:  # the rest is not decided yet (MAX_QUEUED): share it after all
                    head[1] = self._submit(head[0])
                else:
                    head[0], head[1] = self._read_here(head[0]), None
                    self._in_flight -= 1
            if head[1] is not None:
                self._settle(queue)
            yield queue.popleft()[0]

    def _read_here(self, job: ParseJob) -> Outcome:
        """The run's one file to read, read in this process: starting workers (~2.5 s of imports each on
        2 busy cores, ~260 MB each) buys nothing for a single file, the common re-ingest of one change."""
        splitter, ocr, limits, _ = self._initargs
        return parse(job, splitter, ocr=ocr, limits=limits)

    def _submit(self, job: ParseJob) -> Future:
        self.started = True
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=self._initargs,
            )
        return self._executor.submit(self.worker, job)

    def _settle(self, queue: deque[list[Any]]) -> None:
        """Wait for the first queued file; after a worker died, read every unfinished one alone."""
        entry = queue[0]
        try:
            entry[0], entry[1] = _outcome(entry[0], entry[1]), None
            self._in_flight -= 1
            return
        except BrokenProcessPool:
            pass
        self.close()
        self._in_flight = 0
        for entry in queue:
            job, future = entry
            if future is None:
                continue
            try:
                entry[0] = _outcome(job, future)  # finished before the pool broke: keep it
            except BrokenProcessPool:
                entry[0] = self._alone(job)
            entry[1] = None

    def _alone(self, job: ParseJob) -> Outcome:
        """Read one suspect file with no other file in flight: if its worker dies again, the file did it."""
        try:
            return _outcome(job, self._submit(job))
        except BrokenProcessPool:
            self.close()
            return failed(job, crash_reason(job))

    def close(self) -> None:
        """Cancel queued files and end the workers now (a worker may be seconds into an OCR page)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # The executor has no public way to stop a running task; its process table is the only handle.
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)
        executor.shutdown(wait=True)


def _outcome(job: ParseJob, future: Future) -> Outcome:
    """A finished future's outcome; an exception the worker let through becomes the file's failed line.

    :raises BrokenProcessPool: the pool lost a worker before this file was read.
    """
    try:
        return future.result()
    except BrokenProcessPool:
        raise
    except Exception as err:  # e.g. a result that could not be pickled back
        return failed(job, unexpected_reason(job.path, err))
