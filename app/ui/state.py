"""What the page keeps between script runs: one DocQA per settings, shared locks, cached reads.

Why caches: Streamlit re-runs the whole page script on every click. Models must load once per server
process (not per question or per browser tab), so the :class:`~docqa.pipelines.api.DocQA` lives in
``st.cache_resource``; index listings and rendered previews are ``st.cache_data`` keyed by what makes them
stale (the index's CURRENT snapshot name, a file's mtime), so the page never shows an outdated list and
never re-reads an unchanged one.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from docqa.config import Settings
from docqa.pipelines.api import DocQA
from docqa.resources import data_path

EXAMPLES_FILE = data_path("example_questions.json")


@st.cache_resource(show_spinner=False, hash_funcs={Settings: repr})
def open_docqa(settings: Settings) -> DocQA:
    """One DocQA per configuration per server process: its models load once and are shared by all tabs."""
    return DocQA(settings=settings)


def page_settings() -> Settings:
    """The page's configuration: the ``DOCQA_*`` environment, as ``docqa ui`` sets it."""
    settings = Settings.from_env()
    return settings.override(index_dir=settings.index_dir.expanduser().resolve())


def current_docqa() -> DocQA:
    """The DocQA of this tab's collection (app/ui/collections.py) in the page's configuration."""
    from docqa.app.ui.collections import CHOSEN

    collection = st.session_state.get(CHOSEN) or None
    return open_docqa(page_settings().override(collection=collection))


@st.cache_resource(show_spinner=False)
def process_state() -> dict[str, Any]:
    """State shared by every session of this server: the question lock and the samples autoload record."""
    return {
        "ask_lock": threading.Lock(),
        "autoload_lock": threading.Lock(),
        "autoloaded": set(),
        "asked_once": False,
    }


@st.cache_data(show_spinner=False, max_entries=16)
def index_overview(index_dir: str, collection: str, snapshot: str | None) -> dict[str, Any]:
    """Statistics and documents of one snapshot of one collection. ``snapshot`` (the CURRENT name) is the
    cache key: a commit by anyone makes a new key, so the page never shows a stale list, and never re-reads
    an unchanged one."""
    qa = DocQA(index_dir, collection=collection)
    return {"stats": qa.stats(), "documents": qa.documents()}


def examples_mapping() -> dict[str, Any]:
    """The shipped ``example_questions.json`` (file name → questions), re-read only when it changes."""
    mtime = EXAMPLES_FILE.stat().st_mtime_ns if EXAMPLES_FILE.exists() else 0
    return _load_examples(str(EXAMPLES_FILE), mtime)


@st.cache_data(show_spinner=False)
def _load_examples(path: str, mtime_ns: int) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@st.cache_data(show_spinner=False, max_entries=64)
def page_preview(
    path: str,
    mtime_ns: int,
    page: int,
    answer: str | None,
    passage: str | None,
    fraction: float | None,
    ocr_boxes: list[list[float]] | None = None,
    answer_span: tuple[int, int] | None = None,
    passage_span: tuple[int, int] | None = None,
) -> tuple[bytes, bytes | None, str, int]:
    """A PDF page or image with the answer marked (see app/ui/preview.py): whole page, detail, what was
    marked, page count. Cached per file version (``mtime_ns``). Scanned pages are marked from
    ``ocr_boxes`` and the spans' offsets in the page text."""
    from docqa.app.ui.preview import render_marked_page

    marked = render_marked_page(
        path,
        page,
        answer=answer,
        passage=passage,
        expected_fraction=fraction,
        ocr_boxes=ocr_boxes,
        answer_span=answer_span,
        passage_span=passage_span,
    )
    return marked.png, marked.detail_png, marked.mark, marked.page_count
