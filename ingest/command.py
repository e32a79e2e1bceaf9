"""The bulk ingestion command's terminal side: a live progress display and the per-file report."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.ingestion import STATUSES, FileResult, IngestProgress, IngestReport

_STYLE = dict(zip(STATUSES, ("green", "cyan", "dim", "yellow", "bold red", "magenta"), strict=True))


class RichIngestProgress(IngestProgress):
    """Two bars: files examined, and passages embedded in the current batch."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.files_task = self.progress.add_task("files", total=None)
        self.embed_task = self.progress.add_task("embedding", total=None, visible=False)

    def __enter__(self) -> RichIngestProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def discovered(self, total_files: int) -> None:
        self.progress.update(self.files_task, total=total_files)

    def file_done(self, result: FileResult) -> None:
        if result.status != "removed":
            self.progress.advance(self.files_task)

    def embedding(self, done: int, total: int) -> None:
        self.progress.update(self.embed_task, completed=done, total=total, visible=True)


def render_report(report: IngestReport, console: Console, verbose: bool = False) -> None:
    """A table of every file that needs attention (all files with ``verbose``) and a summary line."""
    rows = [r for r in report.results if verbose or r.status != "unchanged"]
    if rows:
        table = Table(title="Ingest report", show_lines=False, expand=False)
        table.add_column("file", overflow="fold")
        table.add_column("status")
        table.add_column("pages", justify="right")
        table.add_column("passages", justify="right")
        table.add_column("reason / notes", overflow="fold")
        for r in rows:
            detail = r.reason or "; ".join(r.notes)
            status = f"[{_STYLE[r.status]}]{r.status}[/]"
            table.add_row(r.path, status, str(r.pages or ""), str(r.passages or ""), detail)
        console.print(table)
    counts = ", ".join(f"{report.count(s)} {s}" for s in STATUSES if report.count(s))
    embedded = f"{report.passages_embedded} passages embedded in {report.seconds:.1f} s"
    console.print(f"{counts or 'nothing to do'} — {embedded}")
