"""Bring an index in line with files on disk: add new files, replace changed ones, keep unchanged ones.

The run holds the index's writer lock throughout and commits a new snapshot every ``checkpoint_every``
passages (and at the end). So a run killed at any moment loses at most the work since the last
checkpoint, the index stays openable, and running the same ingest again finishes the rest without
re-embedding what was already committed (unchanged files are recognised by size+mtime, then content hash).

A file with more passages than one checkpoint is committed in parts: the first part holds
``FIRST_PART_PASSAGES`` passages, each next one twice the last, up to ``checkpoint_every``. Why: a file
used to be one commit, and a 50 MB text (50,000 passages, about an hour of embedding on 2 cores) held the
writer for that hour with nothing searchable; now its first passages are searchable after one small
batch (32 passages: seconds) and a kill loses at most one part. Until its last part the file's record is
*partial* (:attr:`~docqa.ingest.records.SourceFile.pending_passages`); the next ingest of the same
content resumes after the passages already indexed (the ids are the same: they derive from the file's
key, content hash and position), changed content replaces it. ``cancel`` (checked before every file and
every batch) stops a run between two commits: what was committed stays, a file stopped in the middle is
reported ``partial`` and stays so until it is ingested again.

A file that fails to load is reported with its reason and leaves whatever the index already holds for it
untouched: bad input never destroys good data. That holds for every failure while a file is read and
split, not only the ones a loader anticipated: a parser's own exception on a hostile file (RecursionError,
an lxml or zip error, MemoryError) becomes that file's ``failed`` line naming the error class, with the
traceback logged at debug level, and the batch goes on. What one file may cost is bounded by
:class:`~docqa.ingest.limits.Limits`, read from the environment once per run.

Why the store and the embedding step come in as :class:`typing.Protocol` s: data flows files → ingest →
store ← pipelines, so ``ingest/`` imports nothing from ``pipelines/`` or ``app/``. This module owns the
incremental decisions (discover, skip unchanged, load + split changed, prune, report, progress); the
store (``docqa.pipelines.document_stores.local.index.LocalIndex``) and the indexing pipeline
(``docqa.pipelines.indexing.IndexingPipeline``: embedder → writer) are handed in by whoever wires them up
(``docqa.pipelines.api.DocQA.ingest``).

Reading a changed file (load, OCR, split) is ``docqa.ingest.preparing``'s, called here file by file
(``jobs=1``) or run a few files ahead in a process pool (``jobs=N``, ``docqa.ingest.bulk``); this process
stays the one writer either way, so the checkpoints, the report's order and the crash safety are the same.

    ingestor = Ingestor(index, indexing_pipeline, embedding_model="all-MiniLM-L6-v2", dim=384)
    report = ingestor.run(["./manuals"], prune=True)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, closing
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from haystack import Document

from docqa.ingest import parsed
from docqa.ingest.bulk import ParsePool, available_cores
from docqa.ingest.discovery import Candidate, discover, display, folder_of
from docqa.ingest.limits import Limits
from docqa.ingest.loaders import LoadError, is_supported, unexpected_reason, unsupported_reason
from docqa.ingest.preparing import ParseJob, Prepared, build, parse
from docqa.ingest.records import SourceFile, file_sha256
from docqa.ingest.report import (  # noqa: F401 - re-exported: the report's names have always lived here
    ADDED,
    CANCELLED_REASON,
    FAILED,
    PARTIAL,
    REMOVED,
    SKIPPED,
    STATUSES,
    UNCHANGED,
    UPDATED,
    FileResult,
    IngestProgress,
    IngestReport,
)
from docqa.ingest.splitting import PageAwareSplitter
from docqa.ingest.tags import check_kinds, check_tags, sidecar_tags

log = logging.getLogger(__name__)

# Fewer files than this per job are read here: starting workers costs ~2.5 s and ~260 MB each, which a
# small run never earns back (a newcomer's first ingest of the 3 samples: 19.95 s with 2 jobs, 17.97 s
# with 1, load 1.0, 2 cores).
POOL_MIN_FILES_PER_JOB = 2

ProgressCallback = Callable[[int, int], None]

# The first part of a file committed in parts; each next part doubles, up to checkpoint_every. 32 MiniLM
# passages embed in ~2-3 s on 2 busy cores (512 took 43 s under load), so the first part is searchable
# seconds after the file is split, and the ramp adds only log2(512/32) = 4 commits to a big file.
FIRST_PART_PASSAGES = 32
CancelCheck = Callable[[], bool]


def _never() -> bool:
    return False


class IndexTransaction(Protocol):
    """An open write transaction on an index, held under its single-writer lock.

    Changes are staged; each :meth:`commit` makes everything staged so far live atomically (a checkpoint).
    """

    @property
    def files(self) -> Mapping[str, SourceFile]:
        """The staged manifest: file key → what the index holds for that file."""
        ...

    @property
    def commits(self) -> int:
        """Snapshots committed so far in this transaction."""
        ...

    def put_files(self, additions: Sequence[tuple[SourceFile, list[Document], np.ndarray]]) -> None:
        """Stage each file's passages with their embeddings, replacing the file's previous passages."""
        ...

    def extend_files(self, additions: Sequence[tuple[SourceFile, list[Document], np.ndarray]]) -> None:
        """Stage the next part of files committed in parts: ``source`` is the file's new record (the
        indexed passage ids followed by exactly these), the passages it already has are kept."""
        ...

    def update_sources(self, sources: Sequence[SourceFile]) -> None:
        """Stage new manifest entries for indexed files whose passages do not change."""
        ...

    def remove_files(self, keys: Iterable[str]) -> list[SourceFile]:
        """Stage the removal of these files; return the entries that were indexed."""
        ...

    def commit(self) -> str:
        """Make the staged state live; return the new snapshot's name."""
        ...


class WritableIndex(Protocol):
    """An index the Ingestor can open a write transaction on."""

    def transaction(
        self, embedding_model: str | None = None, dim: int | None = None, timeout: float = 5.0
    ) -> AbstractContextManager[IndexTransaction]:
        """Take the writer lock (waiting up to ``timeout`` s) and stage changes on the live index.

        Must refuse an index built with another embedding model than ``embedding_model``.
        """
        ...


class PassageIndexer(Protocol):
    """The embedding step: embed files' passages, stage them in ``transaction`` and commit a checkpoint."""

    def write_files(
        self,
        transaction: IndexTransaction,
        files: Sequence[tuple[SourceFile, list[Document]]],
        progress: ProgressCallback | None = None,
        extend: bool = False,
    ) -> int:
        """:returns: how many passages were embedded. ``progress(done, total)`` follows the embedding.
        ``extend``: the documents are the next part of files indexed in parts (``extend_files``)."""
        ...


class Ingestor:
    """Runs one ingest against an index. Construct, then call :meth:`run`.

    :param index: where passages go (a :class:`WritableIndex`, e.g. ``LocalIndex``).
    :param indexer: embeds and writes batches of files (a :class:`PassageIndexer`: the indexing pipeline).
    :param embedding_model: the model ``indexer`` embeds with; an index built with another one is refused.
    :param dim: its embedding dimension (for an index that is still empty).
    :param ocr: read scanned PDF pages and image files with Tesseract (``--no-ocr`` turns it off).
    :param limits: what one file may cost; None reads ``DOCQA_MAX_*`` when :meth:`run` starts.
    :param jobs: processes that read and split files while this one embeds and commits (``--jobs``);
        1 reads them here, one after another (see :meth:`_outcomes`); None: one per usable core.
    """

    def __init__(
        self,
        index: WritableIndex,
        indexer: PassageIndexer,
        embedding_model: str,
        dim: int,
        splitter: PageAwareSplitter | None = None,
        checkpoint_every: int = 512,
        lock_timeout: float = 5.0,
        ocr: bool = True,
        limits: Limits | None = None,
        jobs: int | None = 1,
    ) -> None:
        self.index = index
        self.jobs = available_cores() if jobs is None else max(1, jobs)
        self.ocr = ocr
        self.limits = limits
        self.indexer = indexer
        self.embedding_model = embedding_model
        self.dim = dim
        self.splitter = splitter or PageAwareSplitter()
        self.checkpoint_every = max(1, checkpoint_every)
        self.lock_timeout = lock_timeout
        self._tags: dict[str, Any] | None = None

    def run(
        self,
        paths: Iterable[Path | str],
        prune: bool = False,
        progress: IngestProgress | None = None,
        cancel: CancelCheck | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> IngestReport:
        """Ingest ``paths``; ``cancel()`` returning True stops the run before its next file or batch
        (``report.cancelled``; nothing committed is undone, see the module docstring).

        :param tags: the user's tags for every file of this run (``docqa.ingest.tags``); they replace a
            file's earlier tags — an unchanged file whose tags (or folder) differ gets its new metadata
            without being read or embedded again. None keeps each file's tags as they are.
        """
        self._tags = None if tags is None else check_tags(tags)
        self._sidecars: dict[Path, list] = {}
        progress = progress or IngestProgress()
        stop = cancel or _never
        started = time.perf_counter()
        limits = self.limits or Limits.from_env()  # a bad DOCQA_MAX_* value stops here, naming it
        report = IngestReport()
        candidates, missing = discover(paths)
        problems = [FileResult(path=m, status=FAILED, reason="path does not exist") for m in missing]
        progress.discovered(len(candidates) + len(problems))
        for problem in problems:
            report.results.append(problem)
            progress.file_done(problem)

        touched: list[SourceFile] = []
        with ExitStack() as stack:
            transaction = stack.enter_context(
                self.index.transaction(self.embedding_model, self.dim, timeout=self.lock_timeout)
            )
            self._check_run_tags(candidates, transaction.files.values())
            pending: list[tuple[SourceFile, list[Document], FileResult]] = []
            pending_passages = 0
            outcomes = self._outcomes(candidates, transaction.files, touched, progress, limits, stop)
            stack.enter_context(closing(outcomes))  # a pool's workers end with the run, however it ends
            for outcome in outcomes:
                if outcome is None:  # stop() said so before the next file
                    report.cancelled = True
                    break
                if isinstance(outcome, FileResult):
                    report.results.append(outcome)
                    progress.file_done(outcome)
                    continue
                source, passages, result = outcome.source, outcome.passages, outcome.result
                done = _resumable(transaction.files.get(source.key), passages)
                if done or len(passages) > self.checkpoint_every:  # a big file: committed in parts
                    if pending:  # the files before it keep their own, whole, checkpoint
                        flushed = self._flush(transaction, pending, report, progress, stop)
                        pending, pending_passages = [], 0
                        if not flushed:
                            report.cancelled = True
                            break
                    finished = self._write_parts(
                        transaction, source, passages, done, result, report, progress, stop
                    )
                    if not finished:
                        report.cancelled = True
                        break
                    continue
                pending.append((source, passages, result))
                pending_passages += len(passages)
                if pending_passages >= self.checkpoint_every:
                    if not self._flush(transaction, pending, report, progress, stop):
                        report.cancelled = True
                        break
                    pending, pending_passages = [], 0
            outcomes.close()  # the workers are not needed for the last flush
            if pending and not report.cancelled:
                report.cancelled = not self._flush(transaction, pending, report, progress, stop)
            if report.cancelled:
                report.checkpoints = transaction.commits
                report.seconds = time.perf_counter() - started
                return report
            # Manifest-only changes (new mtimes, pruned files) go into one final commit together.
            changed = bool(touched)
            transaction.update_sources(touched)
            if prune:
                gone = transaction.remove_files([key for key in transaction.files if not Path(key).exists()])
                changed = changed or bool(gone)
                for source in gone:
                    removed = FileResult(
                        path=display(Path(source.key)), status=REMOVED, reason="file no longer exists"
                    )
                    report.results.append(removed)
                    progress.file_done(removed)
            if changed:
                transaction.commit()
            report.checkpoints = transaction.commits
        report.seconds = time.perf_counter() - started
        return report

    def _outcomes(
        self,
        candidates: Sequence[Candidate],
        indexed: Mapping[str, SourceFile],
        touched: list[SourceFile],
        progress: IngestProgress,
        limits: Limits,
        stop: CancelCheck,
    ) -> Iterator[Prepared | FileResult | None]:
        """Each candidate's outcome, in candidate order; None (then nothing) once ``stop()`` is true.

        ``jobs == 1`` reads each file here, when the loop asks for it (today's path, with OCR progress).
        ``jobs > 1`` decides every file here but reads the changed ones in a pool of worker processes,
        a few files ahead of the writer (``docqa.ingest.bulk``); the order, and so the commits and the
        report, are the same as with one job.
        """
        if self.jobs <= 1 or len(candidates) < POOL_MIN_FILES_PER_JOB * self.jobs:
            for candidate in candidates:
                if stop():
                    yield None
                    return
                yield self._prepare(candidate, indexed, touched, progress, limits)
            return
        decided = (self._decide(candidate, indexed, touched) for candidate in candidates)
        with ParsePool(self.jobs, self.splitter, ocr=self.ocr, limits=limits) as pool:
            yield from pool.ordered(decided, stop)

    def _prepare(
        self,
        candidate: Candidate,
        indexed: Mapping[str, SourceFile],
        touched: list[SourceFile],
        progress: IngestProgress,
        limits: Limits,
    ) -> Prepared | FileResult:
        """Decide what to do with one file; load and split it (in this process) if it is new or changed."""
        decided = self._decide(candidate, indexed, touched)
        if not isinstance(decided, ParseJob):
            return decided
        return parse(
            decided,
            self.splitter,
            ocr=self.ocr,
            limits=limits,
            on_ocr=lambda done, total: progress.ocr(decided.shown, done, total),
        )

    def _decide(
        self, candidate: Candidate, indexed: Mapping[str, SourceFile], touched: list[SourceFile]
    ) -> ParseJob | Prepared | FileResult:
        """Skip, keep (unchanged) or fail a file without reading it, or say how to read it (a ParseJob).

        Runs in the writer: it needs the index's manifest. A file whose content is unchanged but whose
        mtime moved is appended to ``touched``. Any exception becomes this file's ``failed`` line.
        """
        try:
            return self._decide_file(candidate, indexed, touched)
        except Exception as err:
            log.debug("ingesting %s failed", candidate.path, exc_info=True)
            reason = str(err) if isinstance(err, LoadError) else unexpected_reason(candidate.path, err)
            return FileResult(path=candidate.display, status=FAILED, reason=reason)

    def _decide_file(
        self, candidate: Candidate, indexed: Mapping[str, SourceFile], touched: list[SourceFile]
    ) -> ParseJob | Prepared | FileResult:
        path, shown = candidate.path, candidate.display
        if not is_supported(path):
            return FileResult(path=shown, status=SKIPPED, reason=unsupported_reason(path))
        known = indexed.get(str(path))
        try:
            stat = path.stat()
            # A partial record (a file stopped in its parts) is never unchanged: resumed or replaced.
            unchanged = known and known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns
            if unchanged and not known.partial:
                return self._unchanged(candidate, known, known, touched)
            sha = file_sha256(path)
        except FileNotFoundError:
            return FileResult(path=shown, status=FAILED, reason="file disappeared before it could be read")
        except OSError as err:
            return FileResult(path=shown, status=FAILED, reason=f"cannot read file: {err.strerror or err}")
        if known and not known.partial and known.sha256 == sha:
            # Touched but not changed: nothing to re-embed; remember the new mtime to skip hashing next time.
            moved = replace(known, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
            return self._unchanged(candidate, known, moved, touched, always=True)
        job = ParseJob(
            path=path,
            shown=shown,
            sha256=sha,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            folder=folder_of(candidate.folder, known),
            status=UPDATED if known and not known.partial else ADDED,
            tags=self._tags_of(candidate, known),
        )
        # An upload's readability check may have parsed these very bytes already (docqa.ingest.parsed).
        loaded = parsed.take(path, sha, ocr=self.ocr)
        return job if loaded is None else build(job, loaded, self.splitter)

    def _tags_of(self, candidate: Candidate, known: SourceFile | None) -> dict[str, Any]:
        """This run's tags for a file: ``--tag`` tags with its ``tags.yaml`` entries over them; a file
        with neither keeps the tags it has."""
        beside = sidecar_tags(candidate.path, self._sidecars)
        if self._tags is None and beside is None:
            return dict(known.tags) if known is not None else {}
        return {**(self._tags or {}), **(beside or {})}

    def _check_run_tags(self, candidates: Sequence[Candidate], indexed: Iterable[SourceFile]) -> None:
        """Every tag of this run (``--tag`` and the sidecars) against the index and one another, before
        anything is read: a bad sidecar or a tag of another kind stops the run, naming it."""
        run_tags = [self._tags or {}]
        for candidate in candidates:
            beside = sidecar_tags(candidate.path, self._sidecars)
            if beside:
                run_tags.append(beside)
        seen = list(indexed)
        for tags in run_tags:
            check_kinds(tags, seen)
            seen.append(SourceFile("", "", "", "", "", 0, 0, [], [], "", tags=dict(tags)))

    def _unchanged(
        self,
        candidate: Candidate,
        known: SourceFile,
        record: SourceFile,
        touched: list[SourceFile],
        always: bool = False,
    ) -> FileResult:
        """An unchanged file: its record is staged again (``touched``) when its mtime moved (``always``)
        or its tags or folder changed — a metadata update, no passage is read or embedded again."""
        tags = self._tags_of(candidate, known)
        folder = folder_of(candidate.folder, known)
        notes = []
        if tags != known.tags or folder != known.folder:
            record = replace(record, tags=dict(tags), folder=folder)
            notes, always = ["metadata updated"], True
        if always:
            touched.append(record)
        return FileResult(candidate.display, UNCHANGED, len(known.passage_ids), known.pages, notes=notes)

    def _flush(
        self,
        transaction: IndexTransaction,
        pending: list[tuple[SourceFile, list[Document], FileResult]],
        report: IngestReport,
        progress: IngestProgress,
        stop: CancelCheck = _never,
    ) -> bool:
        """Embed the pending files' passages in one batch and commit them as a checkpoint.

        :returns: False when ``stop()`` ended it: nothing was committed, each file is reported failed.
        """
        embedded = self._embed_and_write(
            transaction,
            [(source, docs) for source, docs, _ in pending],
            lambda done, total: progress.embedding(done, total),
            stop,
        )
        for _, _, result in pending:
            if embedded is None:  # loaded and split, never written: the index is unchanged
                result = replace(result, status=FAILED, passages=0, reason=CANCELLED_REASON)
            report.results.append(result)
            progress.file_done(result)
        report.passages_embedded += embedded or 0
        return embedded is not None

    def _embed_and_write(
        self,
        transaction: IndexTransaction,
        files: list[tuple[SourceFile, list[Document]]],
        on_progress: ProgressCallback,
        stop: CancelCheck,
        extend: bool = False,
    ) -> int | None:
        """One checkpoint through the indexer; None when ``stop()`` said so before it or between two
        embedding batches (the writer had not run: nothing of it is staged or committed)."""
        if stop():
            return None

        # A plain function, not a bound method: Haystack deep-copies pipeline inputs, and a bound method's
        # copy would carry a copy of the front end's progress object.
        def checked(done: int, total: int) -> None:
            if stop():
                raise _Stopped
            on_progress(done, total)

        try:
            return self.indexer.write_files(transaction, files, progress=checked, extend=extend)
        except _Stopped:
            return None

    def _write_parts(
        self,
        transaction: IndexTransaction,
        source: SourceFile,
        passages: list[Document],
        done: int,
        result: FileResult,
        report: IngestReport,
        progress: IngestProgress,
        stop: CancelCheck,
    ) -> bool:
        """Embed and commit one big file in parts, from passage ``done`` on (see the module docstring).

        Each part is one checkpoint: the first replaces what the index had for the file (unless resuming),
        the others extend it. :returns: False when ``stop()`` ended it before the last part.
        """
        ids = [doc.id for doc in passages]
        total, start = len(ids), done
        if start:
            result.notes.append(f"resumed: {start} of {total} passages were already indexed")
        size = min(FIRST_PART_PASSAGES, self.checkpoint_every)
        while done < total:
            if stop():
                if done:
                    result.status, result.passages = PARTIAL, done
                    result.reason = (
                        f"stopped after {done} of {total} passages (cancelled); they are searchable, and "
                        "ingesting the file again indexes the rest"
                    )
                else:
                    result.status, result.passages, result.reason = FAILED, 0, CANCELLED_REASON
                report.results.append(result)
                progress.file_done(result)
                return False
            end = min(total, done + size)
            record = replace(source, passage_ids=ids[:end], pending_passages=total - end)
            offset = done - start
            embedded = self._embed_and_write(
                transaction,
                [(record, passages[done:end])],
                lambda d, _t, offset=offset: progress.embedding(offset + d, total - start),
                stop,
                extend=done > 0,
            )
            if embedded is None:
                continue  # stop() is now true: reported at the top of the loop
            report.passages_embedded += embedded
            done, size = end, min(2 * size, self.checkpoint_every)
        report.results.append(result)
        progress.file_done(result)
        return True


class _Stopped(BaseException):  # noqa: N818 - a signal, not an error
    """Raised from the embedding progress callback when the run's ``cancel`` check says stop.

    A BaseException, like KeyboardInterrupt, so it unwinds through the pipeline untouched: Haystack wraps
    every ``Exception`` of a component (and snapshots the pipeline's inputs, with warnings) before
    re-raising it. Nothing is committed by then: the writer runs after the embedder.
    """


def _resumable(known: SourceFile | None, passages: list[Document]) -> int:
    """How many of ``passages`` a partial record already holds (0: start over).

    Resumed only when the record is partial, of this content (same ids: they derive from key, content
    hash and position) and of the same length (a splitter that changed since would change the count).
    """
    if known is None or not known.partial or known.total_passages != len(passages):
        return 0
    held = len(known.passage_ids)
    if [doc.id for doc in passages[:held]] != known.passage_ids:
        return 0
    return held
