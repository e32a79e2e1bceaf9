"""Adding uploaded files to an index: what :meth:`docqa.pipelines.api.DocQA.add_uploads` does for both
front ends (the Streamlit page and ``POST /documents``).

Why here and not in each front end: the page and the service used to stage, ingest and settle uploads
themselves (each with its own copy of the steps around :mod:`docqa.ingest.uploads`), so a fix in one —
skipping the ingest for bytes identical to the indexed upload, replacing an upload of the older service
layout — never reached the other. Now both call one method and only present its :class:`UploadReport`.

The steps, under the index's upload lock (one batch at a time, in any process, decides what replaces
what; waiting for it, or for another writer, gives up after ``lock_timeout`` with a ``BusyError`` — HTTP
423 — instead of hanging for as long as the other ingest runs):

0. the files of a batch killed before it settled are settled (:func:`~docqa.ingest.uploads.recover_staged`);
   the writer must be free: waiting for it happens here, before anything is staged or parsed;
1. :func:`~docqa.ingest.uploads.stage_uploads` saves each file as ``uploads/<safe name>``;
2. with ``refuse_unreadable`` (the service), a file the loader cannot read refuses the whole batch
   (:class:`UnreadableUploadsError`) before anything is ingested;
3. files whose bytes equal the indexed upload of that name are not ingested (no writer lock, no commit);
   the others are ingested in one call, so their embeddings are batched;
4. :func:`~docqa.ingest.uploads.settle_uploads` keeps what the index now holds and puts the earlier copy
   back for a file that failed or was never ingested — also when the ingest raised or was cancelled
   (``cancel``: a service's client went away). A big file stopped in its parts stays, partially indexed
   (``partial``): uploading it again, or ``docqa ingest`` on it, indexes the rest;
5. uploads of the older service layout (``uploads/<id>/<name>``) that a kept file replaces are deleted
   from the index and the disk; their new copy reports ``updated``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from docqa.errors import DocQAError, InvalidInputError
from docqa.ingest import uploads
from docqa.ingest.ingestor import ADDED, FAILED, UNCHANGED, UPDATED, FileResult, IngestProgress, IngestReport
from docqa.pipelines.document_stores.errors import IndexLockedError

if TYPE_CHECKING:
    from docqa.ingest.records import SourceFile
    from docqa.pipelines.api import DocQA


class UnreadableUploadsError(InvalidInputError):
    """Files of an upload the loader cannot read (corrupt, encrypted, scanned without OCR, empty); nothing
    was indexed. ``files`` pairs each client file name with the loader's reason."""

    def __init__(self, files: list[tuple[str, str]]) -> None:
        self.files = files
        self.problems = [f"{name}: {reason}" for name, reason in files]
        super().__init__(f"{'; '.join(self.problems)}. Nothing was indexed.")


@dataclass
class UploadedFile:
    """What became of one uploaded file.

    ``result`` is the ingest's line for it, or — when it was not ingested — ``unchanged`` (same bytes as
    the indexed upload of that name) or ``failed`` with the reason ``not ingested``.
    """

    client_name: str  # the name the browser or client sent
    stored_as: str  # the safe name it is saved and indexed under
    key: str  # the indexed path: <index>/uploads/<stored_as>
    result: FileResult

    @property
    def status(self) -> str:
        return self.result.status


@dataclass
class UploadReport:
    """One upload batch: a line per file in the order sent, and the ingest that ran (None when every file
    was unchanged). ``results`` and ``seconds`` read like an :class:`IngestReport`'s."""

    files: list[UploadedFile]
    ingest: IngestReport | None
    replaced: list[str]  # indexed keys of older-layout uploads this batch replaced

    @property
    def results(self) -> list[FileResult]:
        return [f.result for f in self.files]

    @property
    def seconds(self) -> float:
        return self.ingest.seconds if self.ingest is not None else 0.0

    @property
    def ok(self) -> bool:
        return all(f.status != FAILED for f in self.files) and not self.cancelled

    @property
    def cancelled(self) -> bool:
        """The ingest was stopped by ``cancel`` (what it had committed stays; see the module docstring)."""
        return self.ingest is not None and self.ingest.cancelled


log = logging.getLogger(__name__)
WRITER_POLL_S = 0.1


def add_uploads(
    qa: DocQA,
    files: Iterable[tuple[str | None, uploads.UploadData]],
    *,
    progress: IngestProgress | None = None,
    lock_timeout: float = 5.0,
    refuse_unreadable: bool = False,
    ocr: bool = True,
    cancel: Callable[[], bool] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> UploadReport:
    """Save ``files`` (client name, bytes or a seekable binary stream) as uploads of ``qa``'s index and
    ingest them; see the module docstring for the steps.

    :param lock_timeout: seconds to wait for another upload and another writer together (and once more
        should a writer take the index between that wait and the ingest).
    :param cancel: checked between the ingest's batches; True stops it (``UploadReport.cancelled``).
    :param tags: the uploaded files' tags (``DocQA.ingest``); an unchanged file gets them too, without
        being embedded again.
    :raises UnreadableUploadsError: with ``refuse_unreadable``, when a file cannot be read; nothing changed.
    :raises BusyError: another upload or writer held the index for ``lock_timeout`` s; nothing changed.
    :raises DocQAError: what the ingest raised (a missing embedding model); the earlier uploads are back in
        place.
    """
    index_dir = qa.index.directory
    deadline = time.monotonic() + lock_timeout
    with uploads.upload_lock(index_dir, timeout=lock_timeout):
        indexed = {s.key: s for s in qa.documents()}
        recovered = uploads.recover_staged(index_dir, indexed.get)
        if any(recovered.values()):
            log.warning("Settled the files of an upload that was interrupted: %s", recovered)
        _wait_for_writer(qa, deadline)
        staged = uploads.stage_uploads(index_dir, files)
        report: IngestReport | None = None
        try:
            if refuse_unreadable and (problems := uploads.unreadable(staged)):
                raise UnreadableUploadsError([(item.client_name, reason) for item, reason in problems])
            to_ingest = [
                s.path
                for s in staged
                if tags is not None or not (s.unchanged and _complete(indexed.get(str(s.path))))
            ]
            if to_ingest:  # the writer was free a moment ago: its lock_timeout only covers a race
                report = qa.ingest(
                    to_ingest, progress=progress, lock_timeout=lock_timeout, ocr=ocr, cancel=cancel, tags=tags
                )
        finally:
            # On any failure the earlier copies come back; for an ingest that raised, the index says which
            # files it had committed in earlier checkpoints (they stay).
            lookup = _records(qa) if report is None else None
            results = uploads.settle_uploads(staged, report, lookup)
        replaced = []
        for key in uploads.superseded(staged, results, indexed, index_dir):
            try:
                qa.delete(key, lock_timeout=lock_timeout)
            except DocQAError:
                continue  # it stays listed (the new upload is indexed); it can be removed by hand
            uploads.remove_upload(key, index_dir)
            replaced.append(key)
    replaced_names = {uploads.upload_name(key, index_dir) for key in replaced}
    out = []
    for item, result in zip(staged, results, strict=True):
        key = str(item.path)
        if result is None:
            source = indexed.get(key)
            if item.unchanged and source is not None:
                result = FileResult(key, UNCHANGED, len(source.passage_ids), source.pages)
            else:
                result = FileResult(key, FAILED, reason="not ingested")
        elif result.status == ADDED and item.name in replaced_names:
            result = replace(result, status=UPDATED)  # it replaces an upload of that name (older layout)
        out.append(UploadedFile(item.client_name, item.name, key, result))
    return UploadReport(out, report, replaced)


def _complete(source: SourceFile | None) -> bool:
    """Indexed and not stopped in its parts (same bytes as a partial upload: ingest it to finish it)."""
    return source is not None and not source.partial


def _wait_for_writer(qa: DocQA, deadline: float) -> None:
    """Wait (until ``deadline``) for no other process to hold the index's writer lock, before anything
    is staged or parsed: a client learns the index is busy in ``lock_timeout`` seconds, not after its
    file was parsed (a 50 MB text: 10-20 s).

    :raises IndexLockedError: still held at ``deadline``.
    """
    while qa.index.is_locked():
        if time.monotonic() >= deadline:
            raise IndexLockedError(
                f"The index at {qa.catalog.location()} is being written by another DocQA process (an ingest "
                "is running). Nothing of this upload was saved; wait for it to finish and try again."
            )
        time.sleep(WRITER_POLL_S)


def _records(qa: DocQA) -> Callable[[str], SourceFile | None] | None:
    """The index's records by key, read now; None when the index cannot be read (nothing is kept then)."""
    try:
        return {s.key: s for s in qa.documents()}.get
    except DocQAError:
        return None


def settle_interrupted_uploads(qa: DocQA) -> None:
    """Settle the files of upload batches killed before they settled (what DocQA does when it opens an
    index): kept if the index holds them, else put back or removed. Skipped while a batch is live (it
    settles its own), and never fatal: the index opens whatever this finds."""
    index_dir = qa.index.directory
    if not uploads.has_unsettled_batches(index_dir):
        return
    try:
        with uploads.upload_lock(index_dir, timeout=0):
            recovered = uploads.recover_staged(index_dir, {s.key: s for s in qa.documents()}.get)
    except DocQAError as err:  # a live batch (busy), an unreadable index: the next batch settles them
        log.info("Uploads of an interrupted batch are not settled yet: %s", err)
        return
    except OSError as err:
        log.warning("Uploads of an interrupted batch cannot be settled: %s", err)
        return
    if any(recovered.values()):
        log.warning("Settled the files of an upload that was interrupted: %s", recovered)
