"""What an ingest tells its caller: one :class:`FileResult` per file, the :class:`IngestReport`, and the
:class:`IngestProgress` callbacks a front end implements.

Why a module of its own: the parse/split stage (``docqa.ingest.preparing``) runs in pool worker processes
for ``--jobs N`` and builds these results there; a worker should import what it needs to read and split a
file, not the ingest loop and its store protocols. Plain dataclasses, so they pickle back to the writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("added", "updated", "unchanged", "skipped", "failed", "removed", "partial")
ADDED, UPDATED, UNCHANGED, SKIPPED, FAILED, REMOVED, PARTIAL = STATUSES
CANCELLED_REASON = "not indexed: the ingest was cancelled before this file's passages were embedded"


@dataclass
class FileResult:
    """One line of the ingest report."""

    path: str
    status: str
    passages: int = 0
    pages: int = 0
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    tables: int = 0  # tables found in the file (PDF, Word), read as rows with their column headers


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    passages_embedded: int = 0
    checkpoints: int = 0
    cancelled: bool = False  # stopped by the run's ``cancel`` check: files not reached have no line

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "passages_embedded": self.passages_embedded,
            "cancelled": self.cancelled,
            "counts": {s: self.count(s) for s in STATUSES},
            "files": [r.__dict__ for r in self.results],
        }


class IngestProgress:
    """Callbacks a front end implements to show progress. The defaults do nothing."""

    def discovered(self, total_files: int) -> None: ...

    def file_done(self, result: FileResult) -> None: ...

    def embedding(self, done: int, total: int) -> None: ...

    def ocr(self, path: str, done: int, total: int) -> None:
        """``done`` of ``total`` scanned pages of ``path`` read by OCR (seconds a page on small machines).
        Not called for files read in ``--jobs`` pool workers: their pages count when the file is done."""
