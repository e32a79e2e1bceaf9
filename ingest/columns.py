"""Reading order of two-column (and mixed one/two-column) pages, from where the text is, not stream order.

Why: a PDF's content stream may draw a two-column page line by line across both columns (many
generators do), and text extraction then reads "left line 1, right line 1, left line 2 ...", which
interleaves two unrelated texts in every passage. Here columns are found from positions alone:

1. the *gutter* is the x in the middle :data:`GUTTER_BAND` of the text's width that the fewest text
   segments cross (a difference array over whole points: linear in segments + page width);
2. lines that cross it are full-width (a title, a one-column paragraph, a wide table); a run of at least
   :data:`MIN_BLOCK_LINES` consecutive lines that do not cross it, starting with one whose text spans
   most of its column, with text on both sides, is a two-column block, read left column first, then
   right (a side may hold several runs: an index entry, its leader dots and its page number); a gap
   of more than :data:`MAX_LINE_GAP` line heights ends a block;
3. a block is only taken as columns when both sides hold long runs of text: the median part is at least
   :data:`MIN_FILL` of its column's width, and the right column has a straight left edge (at least
   :data:`MIN_ALIGNED` of its lines start within :data:`EDGE_TOLERANCE` points of one x; justified prose
   whose wide word gaps happened to leave the gutter free for a few lines was read as two columns in
   the libtasn1 manual without it). Table rows also leave the gutter free: tables are found first
   (:mod:`docqa.ingest.tables`) and their rows stay whole, in place.

Mixed pages (a full-width title or abstract above two columns, a full-width paragraph between two
two-column blocks) are read block by block, top to bottom.
"""

from __future__ import annotations

from statistics import median

from docqa.ingest.pdflines import Line

GUTTER_BAND = (0.3, 0.7)
MIN_BLOCK_LINES = 3
MIN_FILL = 0.5
EDGE_TOLERANCE = 2.0  # points
MIN_ALIGNED = 0.8  # of the right column's lines start at its edge (the rest: indented paragraph starts)
MAX_LINE_GAP = 2.0  # line heights of white space between two lines of one column block


def _gutter(lines: list[Line]) -> float | None:
    left = min(line.x0 for line in lines)
    right = max(line.x1 for line in lines)
    width = int(right - left)
    if width < 100:
        return None
    cover = [0] * (width + 2)
    for line in lines:
        for segment in line.segments:
            a = max(0, int(segment.x0 - left))
            b = min(width + 1, int(segment.x1 - left) + 1)
            cover[a] += 1
            cover[b] -= 1
    running = 0
    counts = []
    for value in cover:
        running += value
        counts.append(running)
    low, high = int(GUTTER_BAND[0] * width), int(GUTTER_BAND[1] * width)
    best = min(range(low, high + 1), key=lambda x: counts[x])
    # the centre of the free run around the best point: a gutter is a band, its middle is safest
    end = best
    while end + 1 <= high and counts[end + 1] == counts[best]:
        end += 1
    return left + (best + end) / 2


def _split(line: Line, gutter: float) -> tuple[Line, Line]:
    return (
        Line([s for s in line.segments if s.x1 <= gutter]),
        Line([s for s in line.segments if s.x0 >= gutter]),
    )


def _kind(line: Line, gutter: float, left: float, right: float) -> str:
    """ "long": a line of a column (a side's text spans most of its column: one run, or an index entry's
    name, leader dots and page number); "short": could be one (a paragraph's last line); "other": crosses
    the gutter, never in a column. Table rows never get here (``fixed`` in :func:`reading_order`)."""
    if any(s.x0 < gutter < s.x1 for s in line.segments):
        return "other"
    a, b = _split(line, gutter)
    long_a = bool(a.segments) and a.x1 - a.x0 >= MIN_FILL * (gutter - left)
    long_b = bool(b.segments) and b.x1 - b.x0 >= MIN_FILL * (right - gutter)
    return "long" if long_a or long_b else "short"


def _is_column_block(block: list[Line], gutter: float, left: float, right: float) -> bool:
    if len(block) < MIN_BLOCK_LINES:
        return False
    lefts = [line.x1 - line.x0 for line in (_split(b, gutter)[0] for b in block) if line.segments]
    rights = [line.x1 - line.x0 for line in (_split(b, gutter)[1] for b in block) if line.segments]
    if len(lefts) < 2 or len(rights) < 2:
        return False
    if median(lefts) < MIN_FILL * (gutter - left) or median(rights) < MIN_FILL * (right - gutter):
        return False
    # A column has a straight left edge: its lines start at one x (give or take a paragraph indent).
    starts = [part.x0 for part in (_split(b, gutter)[1] for b in block) if part.segments]
    edge = median(starts)
    return sum(abs(x - edge) <= EDGE_TOLERANCE for x in starts) >= MIN_ALIGNED * len(starts)


def reading_order(lines: list[Line], fixed: frozenset[int] = frozenset()) -> tuple[list[Line], int]:
    """``lines`` in reading order (two-column blocks column by column), and how many such blocks.

    ``fixed``: indices of lines that stay whole and in place (table rows, found first: their cells leave
    the gutter free too, and must not be read as two columns).
    """
    if len(lines) < MIN_BLOCK_LINES:
        return lines, 0
    gutter = _gutter(lines)
    if gutter is None:
        return lines, 0
    left = min(line.x0 for line in lines)
    right = max(line.x1 for line in lines)
    ordered: list[Line] = []
    blocks = 0
    run: list[Line] = []

    def flush() -> None:
        nonlocal blocks
        if _is_column_block(run, gutter, left, right):
            parts = [_split(line, gutter) for line in run]
            ordered.extend(part for part, _ in parts if part.segments)
            ordered.extend(part for _, part in parts if part.segments)
            blocks += 1
        else:
            ordered.extend(run)
        run.clear()

    for number, line in enumerate(lines):
        kind = "other" if number in fixed else _kind(line, gutter, left, right)
        if run and line.top - run[-1].bottom > MAX_LINE_GAP * run[-1].height:
            flush()  # white space ends a block: a short full-width line below columns is not one of them
        if kind == "long" or (kind == "short" and run):
            run.append(line)
        else:
            flush()
            ordered.append(line)
    flush()
    return ordered, blocks
