"""Adding documents from the page: an ingest with a progress bar, and the per-file report afterwards.

Why shared: uploads (app/ui/documents.py, :meth:`docqa.pipelines.api.DocQA.add_uploads`) and the sample
documents (app/ui/onboarding.py, :meth:`~docqa.pipelines.api.DocQA.ingest`) show the same progress and the
same report, and both turn the index's failures (locked by another process, no embedding model) into a
banner through the page's one error mapping (app/ui/errors.py), never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from docqa.app.ui.errors import page_errors
from docqa.app.ui.formatting import md_escape, plural
from docqa.app.ui.styles import STATUS_ICONS
from docqa.pipelines.api import DocQA, FileResult, IngestProgress, IngestReport, UploadReport

REPORT_KEY = "ingest_report"
CANNOT_ADD = "Documents cannot be added"  # what the banner says when an ingest cannot run


class PageIngestProgress(IngestProgress):
    """Shows an ingest on the page: a progress bar whose caption says which phase it is in."""

    def __init__(self, container: Any, what: str) -> None:
        self.what = what
        self.total = 0
        self.done = 0
        self.value = 0.0
        self.bar = container.progress(0.0, text=f"Adding {what}…")

    def _show(self, value: float, text: str) -> None:
        self.value = max(self.value, min(max(value, 0.0), 1.0))  # never moves backwards
        self.bar.progress(self.value, text=text)

    def discovered(self, total_files: int) -> None:
        self.total = total_files
        self._show(0.0, f"Reading {plural(total_files, 'file')}…")

    def embedding(self, done: int, total: int) -> None:
        self._show(0.9 * done / total if total else 0.9, f"Embedding passages: {done} of {total}")

    def file_done(self, result: FileResult) -> None:
        self.done += 1
        name = Path(result.path).name
        self._show(
            self.done / max(self.total, 1), f"{self.done} of {self.total} done — {name}: {result.status}"
        )

    def close(self) -> None:
        self.bar.empty()


def run_ingest(qa: DocQA, paths: Sequence[Path], container: Any, what: str) -> IngestReport | None:
    """Ingest with a progress bar; ``None`` (and a banner in ``container``) when it could not run."""
    progress = PageIngestProgress(container, what)
    try:
        with page_errors(CANNOT_ADD, container):
            return qa.ingest(list(paths), progress=progress, lock_timeout=2.0)
    finally:
        progress.close()
    return None


def remember_report(title: str, report: IngestReport | UploadReport) -> None:
    """Keep what the sidebar shows about the last ingest; plain data so it survives reruns."""
    st.session_state[REPORT_KEY] = {
        "title": title,
        "seconds": report.seconds,
        "results": [
            {
                "name": Path(r.path).name,
                "status": r.status,
                "passages": r.passages,
                "reason": r.reason,
                "notes": list(r.notes),
            }
            for r in report.results
        ],
    }


def show_report() -> None:
    """The last ingest's report, one line per file with its outcome and why, until dismissed."""
    entry = st.session_state.get(REPORT_KEY)
    if not entry:
        return
    with st.container(border=True):
        st.markdown(f"**{entry['title']} report** · {entry['seconds']:.1f} s")
        for row in entry["results"]:
            icon = STATUS_ICONS.get(row["status"], "•")
            detail = row["reason"] or (plural(row["passages"], "passage") if row["passages"] else "")
            notes = "; ".join(row["notes"])
            text = f"{icon} **{row['status']}** `{row['name'].replace('`', '')}`"
            if detail:
                text += f" — {md_escape(detail)}"
            if notes:
                text += f" ({md_escape(notes)})"
            st.markdown(text)
        st.button("Dismiss", key="dismiss-report", on_click=lambda: st.session_state.pop(REPORT_KEY, None))
