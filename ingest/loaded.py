"""What every loader returns (:class:`LoadedFile`) and the two ways loading ends early.

Kept apart from :mod:`docqa.ingest.loaders` (which picks a loader by file type) so the per-format modules
(PDF, images, Word, HTML) can share these types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from docqa.errors import InvalidInputError

# One OCR word box: [start, end) in the cleaned page text, then left, top, right, bottom as fractions of
# the page (origin top-left). Lists, not tuples, because they go into passage meta stored as JSON.
WordBox = list[float]
TableSpan = list  # [page, start, end, title or "", table number]; JSON-ready like WordBox


class LoadError(InvalidInputError):
    """The file cannot be indexed; ``str(err)`` is a one-line reason for the report."""


class UnsupportedFile(InvalidInputError):
    """The file type is not one DocQA reads; it is skipped, which is not a failure."""


@dataclass
class LoadedFile:
    """A file's cleaned text, one entry per page (text, Word and HTML files are a single page).

    ``sections``: ``(offset, heading)`` pairs, offsets into the pages joined by
    :func:`docqa.ingest.splitting.join_pages`, for formats without pages (Word, HTML) whose passages cite the
    heading they fall under. ``word_boxes``: for OCRed pages (1-based page number → boxes), where each
    word of the page text is on the page image, so a preview can box an answer on a page without a text
    layer. ``ocr_pages``: which pages were read by OCR. An OCRed page that yielded no text is kept as an
    empty string so the other pages keep their numbers; it produces no passages.
    """

    path: Path
    kind: str  # "pdf", "image", "docx", "html", "text" or "markdown"
    title: str
    pages: list[str]
    notes: list[str] = field(default_factory=list)  # non-fatal remarks, e.g. how the text was decoded
    sections: list[tuple[int, str]] = field(default_factory=list)
    word_boxes: dict[int, list[WordBox]] = field(default_factory=dict)
    ocr_pages: list[int] = field(default_factory=list)
    # Tables read as rows with their headers: [page, start, end, title, table number] per page a table is
    # on (offsets in the cleaned page text; a table continued over a page break keeps its number).
    tables: list[TableSpan] = field(default_factory=list)
    # [page, offset] where a passage must end: each table row starts one, a table's end closes the last.
    # Why: with ~8 rows in a passage the compact reader answered a neighbour row's cell (EM 0.33 on the
    # benchmark's cell questions); one row a passage names one value per column.
    breaks: list[list[int]] = field(default_factory=list)
    table_count: int = 0  # tables in the file (a table across a page break counts once)
    running: dict[int, list[str]] = field(default_factory=dict)  # page → running header/footer lines removed


def title_from_stem(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def page_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] → "1-3, 5": page lists in report notes stay short for long scans."""
    parts: list[str] = []
    for n in sorted(numbers):
        if parts and n == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ", ".join(parts)
