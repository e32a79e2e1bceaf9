"""Running headers, footers and page numbers: lines a PDF repeats at the same place on most pages.

Why remove them: text extraction puts "ACME Corp — Confidential — Page 3" between the last line of one
page and the first of the next, so it lands inside sentences that run across pages and in every passage
that holds a page end, where it matches questions about ACME and confuses the reader. They are found by
place and repetition, not by wording, so any language works:

- only the first and last :data:`EDGE_LINES` lines of a page, and only inside the top or bottom
  :data:`EDGE_BAND` of the page, are candidates (a repeated phrase in the body is content);
- a line set larger than the body text (over :data:`MAX_HEIGHT` times the page's median line height) is
  a title, not a running line, even when it repeats ("Part 1", "Part 2" at the top of each page);
- a line's key is its text with every run of digits replaced by ``#`` (so "Page 3 of 9" and "Page 4 of
  9", or a bare "3", match) plus which edge it is on;
- a key is *running* when it is on at least :data:`MIN_SHARE` of the pages (and on at least
  :data:`MIN_PAGES`) within :data:`POSITION_TOLERANCE` points of the same height. Title pages without a
  header and alternating left/right page numbers (same height, different x) still count;
- a page is never emptied: when every line of a page would go, they are its content ("Page 3 of the
  manual." alone on each page of a test file) and stay.

Removed lines are kept: :class:`Running` records each page's removed lines, and every passage carries the
running lines of its first page in ``meta["running_lines"]``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median

from docqa.ingest.pdflines import Line

EDGE_LINES = 2  # a header or footer block rarely has more lines (title + page number)
EDGE_BAND = 0.15  # of the page height: A4 margins with a header line sit in the top/bottom 8-12 %
MIN_SHARE = 0.5  # "most pages"
MIN_PAGES = 3  # two pages cannot tell a running header from a coincidence
POSITION_TOLERANCE = 6.0  # points: half a line of 11-point text
MAX_HEIGHT = 1.15  # of the page's median line height: running lines are set at body size or smaller

_DIGITS = re.compile(r"\d+")


@dataclass
class Running:
    """Which lines of each page (0-based page index → line indices) are running headers or footers."""

    drop: dict[int, set[int]] = field(default_factory=dict)
    texts: dict[int, list[str]] = field(default_factory=dict)  # page index → removed lines, in order


def _key(line: Line, edge: str) -> tuple[str, str]:
    return edge, _DIGITS.sub("#", " ".join(line.text.lower().split()))


@dataclass
class Edges:
    """What running-line detection needs of one page: its first and last lines (by line number), how many
    lines it has, their median height and the page height. Small, so every page's can be kept while the
    pages themselves are laid out one at a time."""

    candidates: list[tuple[int, Line]]
    count: int
    body: float  # median line height
    height: float  # of the page


def edges(lines: list[Line], height: float) -> Edges | None:
    """The :class:`Edges` of a page's lines (None for a page without lines)."""
    if not lines:
        return None
    count = len(lines)
    numbers = sorted(set(range(min(EDGE_LINES, count))) | set(range(max(0, count - EDGE_LINES), count)))
    return Edges([(n, lines[n]) for n in numbers], count, median(line.height for line in lines), height)


def find_running(pages: list[Edges | None]) -> Running:
    """Find running lines in ``pages`` (:func:`edges` of each page, in order; None: not laid out)."""
    found = Running()
    laid_out = [i for i, page in enumerate(pages) if page is not None]
    if len(laid_out) < MIN_PAGES:
        return found
    places: dict[tuple[str, str], list[tuple[int, int, float]]] = defaultdict(list)
    texts: dict[tuple[int, int], str] = {}
    for index in laid_out:
        page = pages[index]
        assert page is not None
        for number, line in page.candidates:
            if line.height > MAX_HEIGHT * page.body:
                continue  # larger than the body text: a title ("Part 2") that happens to repeat
            texts[index, number] = line.text
            if line.bottom <= EDGE_BAND * page.height:
                places[_key(line, "top")].append((index, number, line.top))
            elif line.top >= (1 - EDGE_BAND) * page.height:
                places[_key(line, "bottom")].append((index, number, line.top))
    needed = max(MIN_PAGES, MIN_SHARE * len(laid_out))
    for (_, text), hits in places.items():
        if not text.strip():
            continue
        middle = median(top for _, _, top in hits)
        near = [(page, number) for page, number, top in hits if abs(top - middle) <= POSITION_TOLERANCE]
        if len({page for page, _ in near}) < needed:
            continue
        for page, number in near:
            found.drop.setdefault(page, set()).add(number)
    for index, numbers in list(found.drop.items()):
        page = pages[index]
        assert page is not None
        if len(numbers) == page.count:  # nothing else on the page: that line is the page's content
            del found.drop[index]
            continue
        found.texts[index] = [texts[index, n] for n in sorted(numbers)]
    return found
