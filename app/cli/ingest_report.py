"""The bulk ingestion command's terminal side: a live progress display and the per-file report."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docqa.pipelines.api import STATUSES, FileResult, IngestProgress, IngestReport

_STYLE = dict(
    zip(STATUSES, ("green", "cyan", "dim", "yellow", "bold red", "magenta", "dark_orange"), strict=True)
)


class RichIngestProgress(IngestProgress):
    """Bars for files examined (with pages read per second), passages embedded in the current batch, and
    OCR pages of the file being read (``--jobs 1``; pool workers report a file when it is done)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
            console=console,
            transient=False,
        )
        self.files_task = self.progress.add_task("files", total=None, rate="")
        self.embed_task = self.progress.add_task("embedding", total=None, visible=False, rate="")
        self.ocr_task = self.progress.add_task("OCR pages", total=None, visible=False, rate="")
        self.pages = 0
        self.started = time.perf_counter()

    def __enter__(self) -> RichIngestProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def discovered(self, total_files: int) -> None:
        self.progress.update(self.files_task, total=total_files)

    def file_done(self, result: FileResult) -> None:
        if result.status == "removed":
            return
        if result.status in ("added", "updated", "partial"):  # pages read this run, not kept ones
            self.pages += result.pages
        seconds = max(time.perf_counter() - self.started, 1e-6)
        self.progress.update(self.files_task, rate=f"{self.pages} pages, {self.pages / seconds:.1f} pages/s")
        self.progress.advance(self.files_task)

    def embedding(self, done: int, total: int) -> None:
        self.progress.update(self.embed_task, completed=done, total=total, visible=True)

    def ocr(self, path: str, done: int, total: int) -> None:
        """Scanned pages of the file being read (OCR takes seconds a page)."""
        self.progress.update(self.ocr_task, completed=done, total=total, visible=True)


def result_line(r: FileResult) -> str:
    """One file's report line as rich markup: status, path, size, and the reason or notes."""
    tables = f", {r.tables} table{'s' if r.tables != 1 else ''}" if r.tables else ""
    pages = f"{r.pages} page{'s' if r.pages != 1 else ''}"
    size = f" ({pages}, {r.passages} passages{tables})" if r.passages else ""
    detail = r.reason or "; ".join(r.notes)
    return f"[{_STYLE[r.status]}]{r.status:<9}[/] {escape(r.path)}{size}" + (
        f" — {escape(detail)}" if detail else ""
    )


def render_report(report: IngestReport, console: Console, verbose: bool = False) -> None:
    """One line per file that needs attention (every file with ``verbose``), then a summary line.

    Lines rather than a table: paths and reasons stay whole and greppable in narrow terminals and logs.
    """
    for r in report.results:
        if r.status == "unchanged" and not verbose:
            continue
        console.print(result_line(r), highlight=False)
    counts = ", ".join(f"{report.count(s)} {s}" for s in STATUSES if report.count(s))
    embedded = f"{report.passages_embedded} passages embedded in {report.seconds:.1f} s"
    console.print(f"{counts or 'nothing to do'} — {embedded}", highlight=False)
