"""Adding uploaded files to an index: what :meth:`docqa.pipelines.api.DocQA.add_uploads` does for both
front ends (the Streamlit page and ``POST /documents``).

Why here and not in each front end: the page and the service used to stage, ingest and settle uploads
themselves (each with its own copy of the steps around :mod:`docqa.ingest.uploads`), so a fix in one —
skipping the ingest for bytes identical to the indexed upload, replacing an upload of the older service
layout — never reached the other. Now both call one method and only present its :class:`UploadReport`.

The steps, under the index's upload lock (one batch at a time decides what replaces what):

1. :func:`~docqa.ingest.uploads.stage_uploads` saves each file as ``uploads/<safe name>``;
2. with ``refuse_unreadable`` (the service), a file the loader cannot read refuses the whole batch
   (:class:`UnreadableUploadsError`) before anything is ingested;
3. files whose bytes equal the indexed upload of that name are not ingested (no writer lock, no commit);
   the others are ingested in one call, so their embeddings are batched;
4. :func:`~docqa.ingest.uploads.settle_uploads` keeps what the index now holds and puts the earlier copy
   back for a file that failed or was never ingested — also when the ingest raised;
5. uploads of the older service layout (``uploads/<id>/<name>``) that a kept file replaces are deleted
   from the index and the disk; their new copy reports ``updated``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from docqa.errors import DocQAError, InvalidInputError
from docqa.ingest import uploads
from docqa.ingest.ingestor import ADDED, FAILED, UNCHANGED, UPDATED, FileResult, IngestProgress, IngestReport

if TYPE_CHECKING:
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
        return all(f.status != FAILED for f in self.files)


def add_uploads(
    qa: DocQA,
    files: Iterable[tuple[str | None, uploads.UploadData]],
    *,
    progress: IngestProgress | None = None,
    lock_timeout: float = 5.0,
    refuse_unreadable: bool = False,
    ocr: bool = True,
) -> UploadReport:
    """Save ``files`` (client name, bytes or a seekable binary stream) as uploads of ``qa``'s index and
    ingest them; see the module docstring for the steps.

    :raises UnreadableUploadsError: with ``refuse_unreadable``, when a file cannot be read; nothing changed.
    :raises DocQAError: what the ingest raised (a locked index, a missing embedding model); the earlier
        uploads are back in place.
    """
    index_dir = qa.index.directory
    with uploads.upload_lock(index_dir):
        indexed = {s.key: s for s in qa.documents()}
        staged = uploads.stage_uploads(index_dir, files)
        report: IngestReport | None = None
        try:
            if refuse_unreadable and (problems := uploads.unreadable(staged)):
                raise UnreadableUploadsError([(item.client_name, reason) for item, reason in problems])
            to_ingest = [s.path for s in staged if not (s.unchanged and str(s.path) in indexed)]
            if to_ingest:
                report = qa.ingest(to_ingest, progress=progress, lock_timeout=lock_timeout, ocr=ocr)
        finally:
            results = uploads.settle_uploads(staged, report)  # restores the earlier copies on any failure
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
