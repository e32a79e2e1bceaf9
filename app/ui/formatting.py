"""Text the page shows, made safe and readable: HTML and Markdown escaping, highlights, dates, counts.

Why a module of its own without Streamlit: everything shown from a document or a user (file names,
passages, answers, questions) passes through here, so escaping is done in one place and tested directly.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: this module stays free of the models' imports
    from docqa.pipelines.api import SourceFile


def esc(text: object) -> str:
    """HTML-escape anything shown from documents or users: file names, passages, answers, questions."""
    return html.escape(str(text), quote=True)


def md_escape(text: str) -> str:
    """Escape text for st.markdown: no emphasis, links, HTML, LaTeX or colour directives from file content."""
    return re.sub(r"([\\`*_\[\]<>$:~|])", r"\\\1", text)


def highlight_html(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` as escaped HTML with each ``[start, end)`` span wrapped in ``<mark class="docqa-hit">``.

    Spans that fall outside the text or overlap an earlier span are ignored rather than trusted.
    """
    out: list[str] = []
    position = 0
    for start, end in sorted(set(spans)):
        if start < position or not 0 <= start < end <= len(text):
            continue
        out.append(esc(text[position:start]))
        out.append(f'<mark class="docqa-hit">{esc(text[start:end])}</mark>')
        position = end
    out.append(esc(text[position:]))
    return "".join(out)


def when(iso: str | None) -> str:
    """``2026-11-27T06:47:14+00:00`` → ``2026-11-27 06:47 UTC`` (or the text itself if it is not ISO)."""
    if not iso:
        return "never"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


def plural(count: int, word: str) -> str:
    """``1 passage``, ``3 passages``: counts read as a person would write them."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def short_id(text: str) -> str:
    """A short stable widget key for a document key or question (keys must not contain arbitrary text)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def where(
    file_name: str, page: int | None, doc: SourceFile | None, kind: str | None, section: str | None = None
) -> str:
    """``report.pdf, page 3 of 6`` for paged documents, ``manual.docx › Fog horn`` for Word and HTML
    (no pages: the heading the text is under says where), the bare file name for text files."""
    if section:
        return f"{file_name} › {section}"
    paged = kind == "pdf" or (doc is not None and doc.pages > 1)
    if page and paged:
        return f"{file_name}, page {page}" + (f" of {doc.pages}" if doc else "")
    return file_name
