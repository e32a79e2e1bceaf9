"""The parse/split stage of an ingest: one changed file's bytes → its record and passages.

Why a module of its own: ``docqa ingest --jobs N`` runs this stage in spawned worker processes
(``docqa.ingest.bulk``) while the one writer embeds and commits, and ``--jobs 1`` runs the very same code
in process. Both paths call :func:`parse` (or :func:`build` for bytes an upload already parsed), so a run
with a pool produces exactly the passages, ids and metadata a serial run does (tests/ingest/test_bulk.py
compares the two indexes). Everything in and out is plain and picklable: a :class:`ParseJob` names the
file and what the writer already decided about it (hash, size, mtime, folder, tags, added or updated);
the result is a :class:`Prepared` (a :class:`SourceFile` plus its passages) or a failed
:class:`FileResult`. Nothing here loads a model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haystack import Document

from docqa.ingest.layout import attach_layout
from docqa.ingest.limits import Limits
from docqa.ingest.loaded import LoadedFile
from docqa.ingest.loaders import LoadError, load_file, unexpected_reason
from docqa.ingest.records import SourceFile, utc_now
from docqa.ingest.report import FAILED, FileResult
from docqa.ingest.splitting import PageAwareSplitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseJob:
    """One file to read and split, with what the writer decided before reading it."""

    path: Path
    shown: str  # the path as the report shows it
    sha256: str
    size: int
    mtime_ns: int
    folder: str
    status: str  # ADDED or UPDATED
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return str(self.path)


@dataclass
class Prepared:
    """A file read and split, ready to embed: its record (``passage_ids`` filled), passages, report line."""

    source: SourceFile
    passages: list[Document]
    result: FileResult


def failed(job: ParseJob, reason: str) -> FileResult:
    return FileResult(path=job.shown, status=FAILED, reason=reason)


def parse(
    job: ParseJob,
    splitter: PageAwareSplitter,
    *,
    ocr: bool,
    limits: Limits,
    on_ocr: Callable[[int, int], None] | None = None,
) -> Prepared | FileResult:
    """Load, clean and split ``job``'s file; any exception of the loader becomes its failed line.

    KeyboardInterrupt and other BaseExceptions still stop the run.
    """
    try:
        loaded = load_file(job.path, ocr=ocr, progress=on_ocr, limits=limits)
        return build(job, loaded, splitter)
    except LoadError as err:
        return failed(job, str(err))
    except Exception as err:
        log.debug("ingesting %s failed", job.path, exc_info=True)
        return failed(job, unexpected_reason(job.path, err))


def build(job: ParseJob, loaded: LoadedFile, splitter: PageAwareSplitter) -> Prepared:
    """Split a loaded file into passages and make its record (what the index keeps for the file)."""
    source = SourceFile(
        key=job.key,
        file_name=job.path.name,
        title=loaded.title,
        kind=loaded.kind,
        sha256=job.sha256,
        size=job.size,
        mtime_ns=job.mtime_ns,
        page_lengths=[len(p) for p in loaded.pages],
        passage_ids=[],
        ingested_at=utc_now(),
        notes=list(loaded.notes),
        tables=loaded.table_count,
        folder=job.folder,
        tags=dict(job.tags),
    )
    meta = {
        **source.metadata(),  # what filters select on, in every passage (docqa.ingest.records)
        "source_key": job.key,
        "file": job.shown,
        "file_name": job.path.name,
        "title": loaded.title,
        "kind": loaded.kind,
        "sha256": job.sha256,
    }
    # Table rows are passages of their own (LoadedFile.breaks); asked only of files that have tables,
    # so a splitter without ``breaks`` still splits everything else.
    extra = {"breaks": loaded.breaks} if loaded.breaks else {}
    passages = splitter.run(pages=loaded.pages, meta=meta, **extra)["documents"]
    attach_layout(passages, loaded)  # section headings (Word, HTML), OCR word boxes (scans)
    source.passage_ids = [doc.id for doc in passages]
    notes, tables = list(loaded.notes), loaded.table_count
    result = FileResult(job.shown, job.status, len(passages), len(loaded.pages), notes=notes, tables=tables)
    return Prepared(source, passages, result)
