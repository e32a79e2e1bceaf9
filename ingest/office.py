"""Word documents (.docx): headings, paragraphs and tables, in reading order, with section headings.

Why python-docx directly rather than Haystack's ``DOCXToDocument`` (which wraps the same library): the
converter returns one flat string, and we need to know which paragraphs are headings so passages can
cite their section (a .docx has no fixed pages). Tables become one readable row per line-block,
``cell | cell | cell``, because a BERT reader reads running text, not grids; cells merged across columns
are written once.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from docqa.ingest.layout import assemble_blocks
from docqa.ingest.loaded import LoadedFile, LoadError, title_from_stem

DOCX_SUFFIXES = {".docx"}
_HEADING_STYLE = re.compile(r"^(heading \d|title|subtitle)$", re.IGNORECASE)


def load_docx(path: Path, data: bytes) -> LoadedFile:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise LoadError("corrupt Word file: not a .docx (zip) package; old .doc files need saving as .docx")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_blocks(document))
        core_title = (document.core_properties.title or "").strip()
    except PackageNotFoundError as err:
        raise LoadError("corrupt Word file: it holds no Word document") from err
    except (KeyError, ValueError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0][:100] if str(err) else repr(err)
        raise LoadError(f"corrupt Word file: {reason}") from err
    text, sections = assemble_blocks(blocks)
    if not text.strip():
        raise LoadError("no text: the Word document is empty")
    title = core_title or next((heading for _, heading in sections), "") or title_from_stem(path)
    return LoadedFile(path=path, kind="docx", title=title, pages=[text], sections=sections)


def _is_heading(paragraph) -> bool:
    style = paragraph.style
    name = (style.name if style is not None else "") or ""
    if _HEADING_STYLE.match(name):
        return True
    # Custom heading styles still carry an outline level (0 = level 1) in their paragraph properties.
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.find(_qn("w:outlineLvl")) is not None


def _qn(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


def _blocks(document) -> Iterator[tuple[str, bool]]:
    """``(text, is_heading)`` for each paragraph and table row, in the order they appear in the body."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in document.element.body.iterchildren():
        if child.tag == _qn("w:p"):
            paragraph = Paragraph(child, document)
            yield paragraph.text, _is_heading(paragraph)
        elif child.tag == _qn("w:tbl"):
            yield from ((row, False) for row in _table_rows(Table(child, document)))


def _table_rows(table) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            yield " | ".join(cells)
