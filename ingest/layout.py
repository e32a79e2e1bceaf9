"""Where a passage sits in its file beyond page numbers: section headings, OCR word boxes, tables.

Word and HTML files have no pages, so their passages cite the heading they fall under
(``meta["section"]``). Scanned pages have no text layer a preview could search, so their passages carry
the boxes of their words (``meta["ocr_boxes"]``) and a preview can mark an answer from its character
offsets alone. A passage holding rows of a PDF table names the table (``meta["table"]``: its caption or
the heading above it, "" when it has none), and a PDF passage keeps the running header and footer lines
removed from its page (``meta["running_lines"]``). All are computed here from a
:class:`~docqa.ingest.loaded.LoadedFile`, after splitting, so the splitter stays format-agnostic.

    passages = PageAwareSplitter().run(pages=loaded.pages, meta=meta)["documents"]
    attach_layout(passages, loaded)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import TYPE_CHECKING

from docqa.ingest.cleaning import clean_text
from docqa.ingest.loaded import LoadedFile

if TYPE_CHECKING:  # importing haystack takes seconds; loaders (and so the UI and server) import this module
    from haystack import Document

SECTION = "section"  # the heading in force where the passage starts (else the first one in it)
SECTIONS = "sections"  # [[offset in passage, heading], ...]: every heading in force within the passage
OCR_BOXES = "ocr_boxes"  # [[page, start, end, left, top, right, bottom], ...]; page-relative offsets
TABLE = "table"  # the title (caption or heading above) of the first table the passage holds rows of
RUNNING_LINES = "running_lines"  # running header/footer lines removed from the passage's first page


def assemble_blocks(
    blocks: Iterable[tuple[str, bool]], offsets: dict[int, tuple[int, int]] | None = None
) -> tuple[str, list[tuple[int, str]]]:
    """Join ``(text, is_heading)`` blocks into one page text; return it and ``(offset, heading)`` pairs.

    Each block is cleaned on its own and becomes its own paragraph, so a heading or a table row is never
    run into the next block, and section offsets are exact in the text that is stored. ``offsets``, when
    given, receives each kept block's ``(start, end)`` in that text by its index in ``blocks``.
    """
    from docqa.ingest.splitting import (
        PAGE_SEPARATOR,  # imports haystack: only when a Word/HTML file is loaded
    )

    parts: list[str] = []
    sections: list[tuple[int, str]] = []
    position = 0
    for index, (raw, is_heading) in enumerate(blocks):
        text = clean_text(raw)
        if not text:
            continue
        if parts:
            position += len(PAGE_SEPARATOR)
        if is_heading:
            sections.append((position, " ".join(text.split())))
        if offsets is not None:
            offsets[index] = (position, position + len(text))
        parts.append(text)
        position += len(text)
    return PAGE_SEPARATOR.join(parts), sections


def attach_layout(documents: list[Document], loaded: LoadedFile) -> None:
    """Add ``section``, ``ocr_boxes``, ``table`` and ``running_lines`` to passages split from ``loaded``
    (in place)."""
    starts = [offset for offset, _ in loaded.sections]
    for doc in documents:
        meta = doc.meta
        pieces = meta.get("page_offsets", [])
        if loaded.running and pieces and loaded.running.get(pieces[0][0]):
            meta[RUNNING_LINES] = loaded.running[pieces[0][0]]
        for page, start, end in pieces:
            titles = [t for t in loaded.tables if t[0] == page and t[1] < end and t[2] > start]
            if titles:
                meta[TABLE] = titles[0][3]
                break
        if loaded.sections:
            # The heading in force where the passage's first sentence is; text before the first heading
            # (a preamble) has none.
            doc_start = int(meta.get("doc_start", 0))
            doc_end = doc_start + len(doc.content or "")
            index = bisect_right(starts, doc_start) - 1
            spans = [[0, loaded.sections[index][1]]] if index >= 0 else []
            spans += [
                [offset - doc_start, heading]
                for offset, heading in loaded.sections[index + 1 :]
                if offset < doc_end
            ]
            if spans:
                meta[SECTIONS] = spans
                # A passage that starts before the first heading is cited by the first heading it holds.
                meta[SECTION] = spans[0][1]
        if loaded.word_boxes:
            boxes = []
            for page, start, end in meta.get("page_offsets", []):
                for box in loaded.word_boxes.get(page, []):
                    if box[0] < end and box[1] > start:
                        boxes.append([page, *box])
            if boxes:
                meta[OCR_BOXES] = boxes


def section_at(meta: dict, offset: int) -> str | None:
    """The heading an answer at ``offset`` (in the passage text) falls under, for citing it.

    A passage may run across a heading; then the answer's own section is cited, not the passage's first.
    """
    found = None
    for start, heading in meta.get(SECTIONS, []):
        if start <= offset:
            found = heading
    return found
