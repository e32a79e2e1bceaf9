"""Word documents (.docx): headings, paragraphs and tables, in reading order, with section headings.

Passages cite their section (a .docx has no fixed pages), so we need to know which paragraphs are
headings; tables become one readable block per row, the first row as it reads (``Model | Price``) and
every other one with its column headers (``Model: X200 | Price: €1,299``, :func:`docqa.ingest.tables.
render_row`), because a BERT reader reads running text, not grids, and a row without its headers does
not say which number is the price; cells merged across columns are written once, a cell merged down a column
is repeated in each row it spans.

Why a streaming reader instead of python-docx (which Haystack's ``DOCXToDocument`` wraps): python-docx
builds the whole XML tree and answers each paragraph's text and style with uncompiled XPath queries, so
its cost grows with the element count, not the text: the probe's 100 MB of empty paragraphs took 372 s
and +1.4 GB, 10 MB of them ~50 s. Here the main document is fed to lxml 1 MB at a time straight from the
zip, through a parser *target* (start/end/data callbacks, no tree): memory is one paragraph or table row
whatever the file holds — 60 MB of empty paragraphs read in 17 s with +5 MB — and a 450-page manual
(2.2 MB of XML) reads in 0.3 s instead of python-docx's 6.4 s. The text is what python-docx gives,
character for character: the reference test (``tests/ingest/test_office_reference.py``) compares both on
documents with merged cells, hyperlinks, tabs, breaks and custom heading styles.

Safety: :class:`docqa.ingest.zipped.Package` checks the zip before anything is inflated and caps what
inflates (``DOCQA_MAX_UNZIPPED_MB``, ``DOCQA_MAX_ZIP_RATIO``); a DTD is refused (the Open Packaging
Conventions forbid them; they are how entity-expansion attacks start); lxml keeps its default limits (no
``huge_tree``: XML nested deeper than 256 levels is refused as corrupt).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from docqa.ingest.layout import assemble_blocks
from docqa.ingest.limits import Limits
from docqa.ingest.loaded import LoadedFile, LoadError, title_from_stem
from docqa.ingest.tables import render_row
from docqa.ingest.zipped import Package, parse_xml

DOCX_SUFFIXES = {".docx"}
_HEADING_STYLE = re.compile(r"^(heading \d|title|subtitle)$", re.IGNORECASE)
# Word nests a few levels per table; 256 is libxml2's own default limit for a document built as a tree.
MAX_DEPTH = 256
# Word tables have at most 63 columns; a row's cells are held until the row ends, so a row of millions of
# empty <w:tc/> (7 bytes each) would cost ~200 bytes apiece.
MAX_ROW_CELLS = 1000

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_OFFICE_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_CORE_PROPERTIES = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
_STYLES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
_WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"

# Run content and its text, as python-docx's CT_R.text reads it (w:br is "\n" only for a line break).
_RUN_CHARS = {_W + "tab": "\t", _W + "ptab": "\t", _W + "cr": "\n", _W + "noBreakHyphen": "-"}


def load_docx(path: Path, data: bytes, limits: Limits | None = None) -> LoadedFile:
    with Package(data, limits or Limits.from_env(), kind="Word file") as package:
        main = _main_document(package)
        heading_styles = _heading_styles(package, main)
        title = _core_title(package)
        reader = _BodyReader(heading_styles)
        package.parse(main, reader)
    offsets: dict[int, tuple[int, int]] = {}
    text, sections = assemble_blocks(reader.blocks, offsets)
    if not text.strip():
        raise LoadError("no text: the Word document is empty")
    title = title or next((heading for _, heading in sections), "") or title_from_stem(path)
    # Each table row is a passage of its own, as in PDFs (LoadedFile.breaks says why).
    breaks: list[list[int]] = []
    for rows in reader.table_rows.values():
        kept = [offsets[index] for index in rows if index in offsets]
        breaks.extend([1, start] for start, _ in kept)
        if kept:
            breaks.append([1, kept[-1][1]])
    return LoadedFile(
        path=path,
        kind="docx",
        title=title,
        pages=[text],
        sections=sections,
        table_count=reader.tables,
        breaks=breaks,
    )


def _relationships(package: Package, source: str) -> list[tuple[str, str]]:
    """``(type, part name)`` of each internal relationship of part ``source`` ("" for the package)."""
    folder, name = posixpath.split(source)
    rels = posixpath.join(folder, "_rels", f"{name}.rels")
    if not package.has(rels):
        return []
    out = []
    for rel in parse_xml(package.read(rels), rels).iter(_REL):
        if rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target") or ""
        resolved = posixpath.normpath(posixpath.join("/" + folder, target)).lstrip("/")
        out.append((rel.get("Type") or "", resolved))
    return out


def _main_document(package: Package) -> str:
    """The main document part's name (``word/document.xml`` as Word writes it), checked to be Word's."""
    if not package.has("[Content_Types].xml"):
        raise LoadError("corrupt Word file: it holds no Word document ([Content_Types].xml is missing)")
    main = next((name for kind, name in _relationships(package, "") if kind == _OFFICE_DOCUMENT), None)
    if main is None or not package.has(main):
        raise LoadError("corrupt Word file: it holds no Word document")
    types = parse_xml(package.read("[Content_Types].xml"), "[Content_Types].xml")
    content_type = next(
        (o.get("ContentType") for o in types.iter(_CT + "Override") if o.get("PartName") == "/" + main),
        None,
    )
    if content_type is None:
        extension = posixpath.splitext(main)[1].lstrip(".").lower()
        defaults = types.iter(_CT + "Default")
        by_extension = {(d.get("Extension") or "").lower(): d.get("ContentType") for d in defaults}
        content_type = by_extension.get(extension)
    if content_type != _WORD_MAIN:
        raise LoadError(
            f"not a Word document: its main part is '{content_type}' (a template or another Office file?)"
        )
    return main


def _heading_styles(package: Package, main: str) -> dict[str | None, bool]:
    """Paragraph style id → whether its name marks a heading; ``None`` → the default paragraph style's."""
    styles_part = next((name for kind, name in _relationships(package, main) if kind == _STYLES), None)
    headings: dict[str | None, bool] = {None: False}
    if styles_part is None or not package.has(styles_part):
        return headings
    root = parse_xml(package.read(styles_part), styles_part)
    for style in root.iter(_W + "style"):
        if (style.get(_W + "type") or "paragraph") != "paragraph":
            continue
        name_element = style.find(_W + "name")
        name = (name_element.get(_W + "val") if name_element is not None else None) or ""
        is_heading = bool(_HEADING_STYLE.match(name))
        style_id = style.get(_W + "styleId")
        if style_id is not None and style_id not in headings:
            headings[style_id] = is_heading
        if style.get(_W + "type") == "paragraph" and style.get(_W + "default") == "1":
            headings[None] = is_heading  # the last default wins, as in python-docx
    return headings


def _core_title(package: Package) -> str:
    core = next((name for kind, name in _relationships(package, "") if kind == _CORE_PROPERTIES), None)
    if core is None or not package.has(core):
        return ""
    title = parse_xml(package.read(core), core).find(_DC_TITLE)
    return (title.text or "").strip() if title is not None else ""


@dataclass
class _Cell:
    key: object  # identity: a cell merged down repeats its top cell's key
    span: int = 1
    merge: str | None = None  # w:vMerge: "continue" (the default when present) or "restart"
    paragraphs: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class _Row:
    grid_before: int = 0
    cells: list[_Cell] = field(default_factory=list)


class _BodyReader:
    """An lxml parser target reading ``w:document``'s body into ``(text, is_heading)`` blocks.

    Reads what python-docx's ``document.element.body`` children give: body-level paragraphs (runs that
    are direct children or inside a hyperlink) and body-level tables (each cell's own paragraphs; nested
    tables, like content controls and tracked insertions, are not read by python-docx and not here).
    Holds only the open path of tags and the paragraph or table row being read.
    """

    def __init__(self, heading_styles: dict[str | None, bool]) -> None:
        self.heading_styles = heading_styles
        self.blocks: list[tuple[str, bool]] = []
        self.stack: list[str] = []
        self.paragraph: list[str] | None = None  # text of the paragraph being read
        self.paragraph_depth = 0
        self.style_id: str | None = None
        self.outline = False
        self.in_text = False
        self.row: _Row | None = None
        self.cell: _Cell | None = None
        self.row_number = 0
        self.above: dict[int, _Cell] = {}  # grid offset → the cell starting there in the row above
        self.header: dict[int, str] = {}  # grid column → the text of the table's first row there
        self.tables = 0
        self.table_rows: dict[int, list[int]] = {}  # table number → the indices of its rows in ``blocks``

    # lxml target interface -------------------------------------------------------------------------
    def doctype(self, *_args: object) -> None:
        raise LoadError("unsafe Word file: its document declares a DTD, which Word files never hold")

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        stack = self.stack
        parent = stack[-1] if stack else ""
        depth = len(stack)
        if depth >= MAX_DEPTH:
            raise LoadError(f"corrupt Word file: its XML is nested more than {MAX_DEPTH} levels deep")
        stack.append(tag)
        if tag == _W + "p" and self._readable_paragraph(parent, depth):
            self.paragraph, self.paragraph_depth = [], depth
            self.style_id, self.outline = None, False
        elif self.paragraph is not None:
            self._start_in_paragraph(tag, attrib, depth)
        elif tag == _W + "tbl" and depth == 2 and parent == _W + "body":
            self.row_number, self.above, self.header = 0, {}, {}
            self.tables += 1
        elif tag == _W + "tr" and depth == 3 and self._in_body_table(3):
            self.row = _Row()
        elif self.row is not None:
            if tag == _W + "tc" and depth == 4:
                if len(self.row.cells) >= MAX_ROW_CELLS:
                    raise LoadError(
                        f"corrupt Word file: a table row has more than {MAX_ROW_CELLS} cells (Word allows 63)"
                    )
                self.cell = _Cell(key=(self.row_number, len(self.row.cells)))
                self.row.cells.append(self.cell)
            elif tag == _W + "gridBefore" and depth == 5 and parent == _W + "trPr":
                self.row.grid_before = _int(attrib.get(_W + "val"), 0)
            elif self.cell is not None and depth == 6 and parent == _W + "tcPr":
                if tag == _W + "gridSpan":
                    self.cell.span = max(1, _int(attrib.get(_W + "val"), 1))
                elif tag == _W + "vMerge":
                    self.cell.merge = attrib.get(_W + "val") or "continue"

    def end(self, tag: str) -> None:
        self.stack.pop()
        depth = len(self.stack)
        if self.paragraph is not None:
            if depth == self.paragraph_depth and tag == _W + "p":
                self._end_paragraph()
            elif tag == _W + "t":
                self.in_text = False
        elif self.row is not None:
            if tag == _W + "tc" and depth == 4:
                self.cell = None
            elif tag == _W + "tr" and depth == 3:
                self._end_row()

    def data(self, text: str) -> None:
        if self.in_text and self.paragraph is not None:
            self.paragraph.append(text)

    def comment(self, _text: str) -> None: ...

    def pi(self, _target: str, _data: str | None = None) -> None: ...

    def close(self) -> None: ...

    # paragraphs -------------------------------------------------------------------------------------
    def _readable_paragraph(self, parent: str, depth: int) -> bool:
        if depth == 2 and parent == _W + "body":
            return True
        return depth == 5 and parent == _W + "tc" and self.cell is not None

    def _in_body_table(self, depth: int) -> bool:
        return self.stack[depth - 1] == _W + "tbl" and self.stack[depth - 2] == _W + "body"

    def _start_in_paragraph(self, tag: str, attrib: dict[str, str], depth: int) -> None:
        relative = depth - self.paragraph_depth  # 1: child of w:p
        parent = self.stack[-2]
        if relative == 2 and parent == _W + "pPr":
            if tag == _W + "pStyle":
                self.style_id = attrib.get(_W + "val")
            elif tag == _W + "outlineLvl":
                self.outline = True
            return
        # Run content: a child of w:r, where the run is a child of w:p or of a w:hyperlink child of w:p.
        if parent != _W + "r":
            return
        if relative == 2 or (relative == 3 and self.stack[-3] == _W + "hyperlink"):
            if tag == _W + "t":
                self.in_text = True
            elif tag == _W + "br":
                if (attrib.get(_W + "type") or "textWrapping") == "textWrapping":
                    self.paragraph.append("\n")
            elif tag in _RUN_CHARS:
                self.paragraph.append(_RUN_CHARS[tag])

    def _end_paragraph(self) -> None:
        text = "".join(self.paragraph or [])
        self.paragraph, self.in_text = None, False
        if self.cell is not None and self.paragraph_depth == 5:
            self.cell.paragraphs.append(text)
            return
        if not text.strip():
            return  # an empty paragraph makes no block (assemble_blocks would drop it): 0 bytes each
        heading = self.heading_styles.get(self.style_id)
        if heading is None:  # an unknown style id reads as the default paragraph style
            heading = self.heading_styles.get(None, False)
        self.blocks.append((text, heading or self.outline))

    # tables -----------------------------------------------------------------------------------------
    def _end_row(self) -> None:
        row, self.row = self.row, None
        assert row is not None
        offset = row.grid_before
        seen: set[object] = set()
        texts: list[str] = []
        names: list[str] = []
        below: dict[int, _Cell] = {}
        for cell in row.cells:
            start = offset
            top = self.above.get(offset) if cell.merge == "continue" else None
            if top is not None:  # merged down: python-docx gives the top cell again
                cell.key, cell.text = top.key, top.text
            else:
                cell.text = " ".join("\n".join(cell.paragraphs).split())
            below[offset] = cell
            offset += cell.span
            if cell.key in seen:
                continue
            seen.add(cell.key)
            texts.append(cell.text)
            names.append(self.header.get(start, ""))
            if self.row_number == 0:
                self.header.update(dict.fromkeys(range(start, offset), cell.text))
        self.above = below
        self.row_number += 1
        if not any(texts):
            return
        # The header row as it reads; every other row with its column headers (docqa.ingest.tables).
        first = self.row_number == 1
        self.table_rows.setdefault(self.tables, []).append(len(self.blocks))
        self.blocks.append((" | ".join(texts) if first else render_row(names, texts), False))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def blocks_of(data: bytes, limits: Limits | None = None) -> Iterator[tuple[str, bool]]:
    """The ``(text, is_heading)`` blocks of a .docx, for tests comparing with python-docx."""
    with Package(data, limits or Limits.from_env(), kind="Word file") as package:
        main = _main_document(package)
        reader = _BodyReader(_heading_styles(package, main))
        package.parse(main, reader)
    yield from reader.blocks
