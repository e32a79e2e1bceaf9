"""Turn a text PDF's pages into reading text: running lines out, columns in order, tables as rows.

The steps, each in its own module, run on PDFium's positioned text runs (:mod:`docqa.ingest.pdflines`):

1. running headers, footers and page numbers are found across the pages and removed
   (:mod:`docqa.ingest.running`); they are kept in ``LoadedFile.running``;
2. tables are found and each row rendered with its column headers (:mod:`docqa.ingest.tables`); a table
   that ends a page and one that starts the next page with as many columns are one table: a repeated
   header row is dropped, a missing one is taken from the page before;
3. the rest of each page is put in reading order, two-column blocks column by column
   (:mod:`docqa.ingest.columns`); table rows stay whole and in place;
4. the text is cleaned (:func:`docqa.ingest.cleaning.clean_text`), joining a hyphenated line end only
   where the document does not spell that word with a hyphen elsewhere (:func:`hyphenated_words`).

A page where steps 1-3 find nothing keeps PDFium's plain page text, so ordinary prose PDFs read exactly as
plain extraction reads them (``data/samples/packet_switching.pdf``: every sentence the same as before).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from docqa.ingest.cleaning import clean_text
from docqa.ingest.columns import reading_order
from docqa.ingest.loaded import TableSpan, page_ranges
from docqa.ingest.pdflines import MAX_SEGMENTS, Line, PageText, read_page
from docqa.ingest.running import Edges, edges, find_running
from docqa.ingest.tables import Table, find_tables, render_row

# Runs of all pages held at once in the first pass (~100 bytes each): beyond, pages are read again.
MAX_KEPT_SEGMENTS = 200_000
# "e-mail", "well-known": a hyphenated word written on one line.
_HYPHENATED = re.compile(r"\b([^\W\d_]+)-([^\W\d_]+)\b")


def hyphenated_words(texts: Iterable[str]) -> frozenset[str]:
    """Words the document spells with a hyphen inside a line (lower case), unless it also spells them
    joined. A line-end "e-\\nmail" keeps its hyphen only when "e-mail" is in this set.

    Why this rule: without a dictionary (DocQA reads any language), the document itself is the best
    witness of how a word is spelled. Typesetting hyphens are far more common at line ends than compounds,
    so the default is to join ("infor-\\nmation" → "information"), as before.
    """
    hyphenated: set[str] = set()
    joined: set[str] = set()
    for text in texts:
        for line in text.split("\n"):
            hyphenated.update(match.group(0).lower() for match in _HYPHENATED.finditer(line))
            joined.update(word.lower() for word in line.split())
    return frozenset(word for word in hyphenated if word.replace("-", "") not in joined)


@dataclass
class LaidOut:
    pages: list[str]
    tables: list[TableSpan] = field(default_factory=list)
    table_count: int = 0
    breaks: list[list[int]] = field(default_factory=list)
    running: dict[int, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _same_row(a: list[str], b: list[str]) -> bool:
    return [" ".join(x.lower().split()) for x in a] == [" ".join(x.lower().split()) for x in b]


def lay_out(document, *, layout: bool = True) -> LaidOut:
    """Read every page of an open ``pypdfium2.PdfDocument`` (closed here) into cleaned page texts.

    Running lines are found across all pages before any page is composed, so a first pass reads every
    page and keeps each one's :class:`~docqa.ingest.running.Edges`; its lines are kept too while the
    document's kept runs stay under :data:`MAX_KEPT_SEGMENTS`, and pages past that are read again in the
    second pass. Memory is so bounded whatever the page count (5,000 hostile pages of 999 runs each
    would otherwise hold ~5M runs, over a gigabyte), while ordinary files are read once.
    """
    try:
        return _lay_out(document, layout)
    finally:
        document.close()


def _lay_out(document, layout: bool) -> LaidOut:
    count = len(document)
    if not layout:
        return LaidOut([clean_text(read_page(document[i], positions=False).plain) for i in range(count)])
    read: list[PageText] = []
    page_edges: list[Edges | None] = []
    kept = 0
    for index in range(count):
        page = read_page(document[index])
        page_edges.append(edges(page.lines, page.height) if page.lines else None)
        if page.lines is not None:
            kept += sum(len(line.segments) for line in page.lines)
            if kept > MAX_KEPT_SEGMENTS:
                page.lines, page.reread = None, True
        read.append(page)
    running = find_running(page_edges)
    out = LaidOut([])
    raw: list[str] = []
    page_tables: list[list[tuple[Table, int, str]]] = []  # per page: (table, number, title)
    open_table: tuple[Table, int, str] | None = None  # a table that ended its page: it may go on
    for index, page in enumerate(read):
        lines_read = read_page(document[index]).lines if page.reread else page.lines
        page.lines = None  # composed below: nothing of this page is held after it
        if lines_read is None:
            raw.append(page.plain)
            page_tables.append([])
            open_table = None
            continue
        dropped = running.drop.get(index, set())
        lines = [line for number, line in enumerate(lines_read) if number not in dropped]
        tables = find_tables(lines)
        fixed = frozenset(n for table in tables for n in range(table.first, table.last + 1))
        ordered, blocks = reading_order(lines, fixed)
        _renumber(tables, lines, ordered)
        placed: list[tuple[Table, int, str]] = []
        for table in tables:
            if table.first == 0 and open_table and open_table[0].columns == table.columns:
                previous, number, title = open_table
                if not _same_row(table.header, previous.header):  # no repeated header: it is a row
                    table.rows.insert(0, table.header)
                table.header = previous.header
            else:
                out.table_count += 1
                number, title = out.table_count, table.title or ""
            placed.append((table, number, title))
        open_table = placed[-1] if placed and placed[-1][0].last == len(ordered) - 1 else None
        page_tables.append(placed)
        if not dropped and not blocks and not tables:
            raw.append(page.plain)
        else:
            raw.append(_compose(ordered, [table for table, _, _ in placed]))
        if dropped:
            out.running[index + 1] = running.texts[index]
    compounds = hyphenated_words(raw)
    for index, text in enumerate(raw):
        cleaned = clean_text(text, compounds)
        out.pages.append(cleaned)
        out.tables.extend(_spans(cleaned, index + 1, page_tables[index], out.breaks))
    skipped = [i + 1 for i, edge in enumerate(page_edges) if edge is None and read[i].plain.strip()]
    if skipped:
        out.notes.append(
            f"pages {page_ranges(skipped)} read without layout (over {MAX_SEGMENTS} separate text runs, "
            "or too many runs for their characters)"
        )
    return out


def _renumber(tables: list[Table], lines: list[Line], ordered: list[Line]) -> None:
    """Point each table's ``first``/``last`` at its lines in ``ordered`` (table rows stay whole, in order)."""
    where = {id(line): number for number, line in enumerate(ordered)}
    for table in tables:
        table.first, table.last = where[id(lines[table.first])], where[id(lines[table.last])]


def _compose(ordered: list[Line], tables: list[Table]) -> str:
    """The page's lines as text, each table replaced by its rows, one paragraph each."""
    parts: list[str] = []
    starts = {table.first: table for table in tables}
    index = 0
    while index < len(ordered):
        table = starts.get(index)
        if table is None:
            parts.append(ordered[index].text + "\n")
            index += 1
            continue
        rows = [render_row(table.header, row) for row in table.rows]
        parts.append("\n\n" + "\n\n".join(row for row in rows if row) + "\n\n")
        index = table.last + 1
    return "".join(parts)


def _spans(
    cleaned: str, page: int, placed: list[tuple[Table, int, str]], breaks: list[list[int]]
) -> list[TableSpan]:
    """Where each table's rows are in the cleaned page text (found by their own cleaned text); each row's
    start and the table's end are appended to ``breaks``."""
    spans: list[TableSpan] = []
    cursor = 0
    for table, number, title in placed:
        rows = [clean_text(render_row(table.header, row)) for row in table.rows]
        starts = []
        for row in filter(None, rows):
            found = cleaned.find(row, cursor)
            if found < 0:
                break
            starts.append(found)
            cursor = found + len(row)
        if not starts:
            continue
        breaks.extend([page, start] for start in starts)
        breaks.append([page, cursor])
        spans.append([page, starts[0], cursor, title, number])
    return spans


__all__ = ["LaidOut", "PageText", "hyphenated_words", "lay_out"]
