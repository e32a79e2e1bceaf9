"""Tables on text PDF pages, and how any table (PDF or Word) becomes text a reader can answer from.

Why rows with their headers: extraction reads a table row by row without column names ("X200 €1,299
2.1 kg"), so "What is the price of the X200?" has no passage that says it. Rendered as
``Model: X200 | Price: €1,299 | Weight: 2.1 kg``, each row is one sentence that names its facts, and
each row is a passage of its own (``LoadedFile.breaks``), so a long table is split between rows and every
part carries every header. Why one row a passage: with ~8 rows in a passage the compact reader answered a
neighbour row's cell (exact match 0.33 on ``benchmarks/pdf_layout.py``'s 12 cell questions); one row a
passage: 0.83. Word tables use the same :func:`render_row` and breaks.

Why our own grouping on PDFium's text runs (:mod:`docqa.ingest.pdflines`) instead of pdfplumber: the
runs are already read for running headers and columns, so finding tables adds almost nothing, and
positions alone work with and without ruling lines. Measured on the 17 pages of
``benchmarks/pdf_layout.py`` (three tables — ruled, unruled, across a page break — two-column pages,
prose, the sample): pdfplumber (pdfminer.six, pure Python) with its ``lines`` strategy took 57 ms a page
and missed the unruled table; with its ``text`` strategy 99 ms a page, and it found "tables" on every
prose page (13 false ones on 13 prose pages). The whole layout step here reads ~480 pages/s (2 ms a page),
where the main branch's pypdf extraction read ~280. Detection, from positions only:

- a *table line* has at least two runs of text separated by a gap wider than
  :data:`~docqa.ingest.pdflines.WORD_GAP` line heights (cells; prose is one run per line);
- at least :data:`MIN_ROWS` consecutive table lines (header + 2 rows), no vertical gap above
  :data:`MAX_ROW_GAP` line heights between them, form a table; its columns are the runs' x-ranges merged
  where they overlap (left-, right- and centre-aligned cells all land in one column);
- a line with one run that starts right of the first column, inside a table, continues the cells of
  the row above (a wrapped cell);
- not a table: lines with leader dots (a table of contents, an index: "Invoking asn1Parser . . . 5"),
  a first column of list markers only (a bulleted or numbered list: "•" then the item), a header cell of
  more than :data:`MAX_HEADER_WORDS` words (a sentence, not a column name), every column's median cell
  of :data:`PROSE_WORDS` words or more (two columns of prose drawn line by line across the page). The
  first three were false tables in the Texinfo and DocBook manuals under ``/usr/share/doc`` (libtasn1,
  shared-mime-info);
- the first row is the header; the short line just above the table (at most :data:`MAX_TITLE_WORDS`
  words) is its title (a caption or a heading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import median

from docqa.ingest.pdflines import Line, Segment

MIN_ROWS = 3
MAX_ROW_GAP = 2.5  # line heights: fpdf2's ruled cells are ~2 lines apart, paragraphs ~1
MAX_TITLE_WORDS = 15
MAX_COLUMNS = 30  # more "columns" than this is scattered text, not a table
PROSE_WORDS = 5  # a column whose median cell has this many words is running text, not cells
MAX_HEADER_WORDS = 8  # a header cell names a column; a longer one is a sentence (a list item, prose)

# Leader dots of a table of contents or an index ("Invoking asn1Parser . . . . 5"): not a table row.
_LEADERS = re.compile(r"(?:\. ?){4,}|…{2,}|_{4,}")
# What starts a list item: a bullet, a dash, "1.", "2)", "a)", "iv." — a column of these is a list.
_MARKER = re.compile(r"^(?:[^\w\s]{1,2}|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]|[ivxlcIVXLC]{1,5}[.)])$")


@dataclass
class Table:
    """A table found on a page: lines ``first..last`` of the ordered page lines."""

    first: int
    last: int
    header: list[str]
    rows: list[list[str]]
    title: str | None = None

    @property
    def columns(self) -> int:
        return len(self.header)


def render_row(header: list[str], cells: list[str]) -> str:
    """``Model: X200 | Price: €1,299``: each non-empty cell named by its column's header."""
    parts = []
    for number, cell in enumerate(cells):
        cell = " ".join(cell.split())
        if not cell:
            continue
        name = " ".join(header[number].split()) if number < len(header) else ""
        parts.append(f"{name}: {cell}" if name and name != cell else cell)
    return " | ".join(parts)


def _columns(rows: list[Line]) -> list[tuple[float, float]]:
    spans = sorted((s.x0, s.x1) for line in rows for s in line.segments)
    merged: list[list[float]] = []
    for x0, x1 in spans:
        if merged and x0 <= merged[-1][1] + 1.0:
            merged[-1][1] = max(merged[-1][1], x1)
        else:
            merged.append([x0, x1])
    return [(a, b) for a, b in merged]


def _cells(line: Line, columns: list[tuple[float, float]]) -> list[Segment | None]:
    cells: list[Segment | None] = [None] * len(columns)
    for segment in line.segments:
        for number, (x0, x1) in enumerate(columns):
            if segment.x0 < x1 and segment.x1 > x0:
                cells[number] = segment if cells[number] is None else _join(cells[number], segment)
                break
    return cells


def _join(a: Segment | None, b: Segment) -> Segment:
    if a is None:
        return b
    return Segment(
        f"{a.text} {b.text}", min(a.x0, b.x0), min(a.top, b.top), max(a.x1, b.x1), max(a.bottom, b.bottom)
    )


def _table(lines: list[Line], first: int, last: int) -> Table | None:
    body = lines[first : last + 1]
    multi = [line for line in body if len(line.segments) >= 2]
    columns = _columns(multi)
    if not 2 <= len(columns) <= MAX_COLUMNS:
        return None
    rows: list[list[Segment | None]] = []
    for line in body:
        cells = _cells(line, columns)
        if len(line.segments) == 1 and rows and cells[0] is None:  # a wrapped cell of the row above
            rows[-1] = [_join(a, b) if b is not None else a for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    filled = sum(1 for row in rows if sum(cell is not None for cell in row) >= 2)
    if len(rows) < MIN_ROWS or filled < 2 * len(rows) / 3:
        return None
    texts = [[cell.text if cell else "" for cell in row] for row in rows]
    if any(len(text.split()) > MAX_HEADER_WORDS for text in texts[0]):
        return None
    if all(not row[0] or _MARKER.match(row[0]) for row in texts):
        return None  # a bulleted or numbered list: markers in the first column, items in the second
    words = [[len(row[n].split()) for row in texts if row[n]] for n in range(len(columns))]
    if all(column and median(column) >= PROSE_WORDS for column in words):
        return None  # every column reads as running text: columns of prose drawn across the page
    header = [text or f"Column {number + 1}" for number, text in enumerate(texts[0])]
    return Table(first, last, header, texts[1:])


def _title(lines: list[Line], first: int) -> str | None:
    if first == 0:
        return None
    above, top = lines[first - 1], lines[first]
    gap = top.top - above.bottom
    if len(above.segments) != 1 or gap > 3 * above.height or gap < -above.height:
        return None
    text = above.text.strip()
    return text if 0 < len(text.split()) <= MAX_TITLE_WORDS else None


def _is_row(line: Line) -> bool:
    return len(line.segments) >= 2 and not any(_LEADERS.search(s.text) for s in line.segments)


def find_tables(lines: list[Line]) -> list[Table]:
    """The tables among ``lines`` (in reading order), each with its header, rows and title."""
    tables: list[Table] = []
    index = 0
    while index < len(lines):
        if not _is_row(lines[index]):
            index += 1
            continue
        last = index
        multi = 1
        while last + 1 < len(lines):
            line, previous = lines[last + 1], lines[last]
            if line.top - previous.bottom > MAX_ROW_GAP * previous.height:
                break
            if _is_row(line):
                multi += 1
            elif len(line.segments) != 1 or line.x0 <= lines[index].segments[0].x1:
                break
            last += 1
        while last > index and not _is_row(lines[last]):  # a table ends on a row, not a wrapped cell
            last -= 1
        table = _table(lines, index, last) if multi >= MIN_ROWS else None
        if table is not None:
            table.title = _title(lines, index)
            tables.append(table)
            index = last + 1
        else:
            index += 1
    return tables
