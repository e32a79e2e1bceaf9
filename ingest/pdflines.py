"""A text PDF page as positioned lines: what the layout steps (running headers, columns, tables) read.

Why PDFium's text *rectangles* and not one box per character: PDFium already merges the characters of
one run of text into one rectangle and starts a new one at a gap (a table cell, the other column), so a
page is ~40-80 rectangles instead of ~3,000 characters. Measured on ``data/samples/packet_switching.pdf``
(6 pages, 19,622 characters): pypdf's ``extract_text`` 8.0 ms a page, PDFium's page text plus every
character box 7.0 ms, PDFium's page text plus its rectangles and their text 3.2 ms. So reading the
layout this way is cheaper than the pypdf extraction it replaces, and PDFium's page text cleans to the
same text as pypdf's on that sample, character for character.

Hostile pages: PDFium finds each run's text by scanning the whole page (``get_text_bounded``), so the
cost is runs x characters. A page with more than :data:`MAX_SEGMENTS` runs, or runs x characters over
:data:`MAX_SCAN`, is not laid out: its plain PDFium text is used as is (noted in the report). Measured
here, a page of 4,900 runs of 204 characters (1M characters) took 39.6 s laid out and 1.6 s plain before
these bounds, and 400 pages of 999 runs x 19 characters 85 s (2.6-4.7 pages/s); now such pages read
plain, and the costliest pages within the bounds (990 runs x 4 characters, 190 runs x 100 characters)
take 0.06-0.08 s laid out, about what plain extraction takes. Real pages are far below: the sample's
pages are ~45 runs x 3,300 characters (150,000), a dense two-column page ~200 runs x 6,000 (1.2M).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Runs (rectangles), and runs x characters (what reading the runs' text costs), of one page beyond which
# layout is skipped (see the module docstring).
MAX_SEGMENTS = 1_000
MAX_SCAN = 4_000_000
# Neighbouring runs closer than this many line heights are one phrase. A word space is ~0.25 of the line
# height; table cells made by fpdf2, Word and LaTeX sit at least ~0.8 apart (fpdf2's default cell padding).
WORD_GAP = 0.6
# Two runs of one phrase are joined with a space when PDFium's text of the first ends with one, or when
# they are this many line heights apart (PDFium puts a space in its text where a word ends: this only
# catches runs it left without one); else with none: a comma or a quote after
# a word in another font ("globs2, magic" and '"TRUE"' in the shared-mime-info and libtasn1 manuals, not
# "globs2 , magic" and '" TRUE "').
SPACE_GAP = 0.5
# PDFium marks a hyphen it judges to end a line inside a word: U+FFFE in the page text (with the line break
# removed: "informa\ufffetion"), U+0002 in bounded text. Both are written back as a hyphen and a line end,
# as the page shows them, and cleaning decides whether the word is joined (docqa.ingest.cleaning).
_PLAIN_HYPHEN = "\ufffe"
_RUN_HYPHEN = "\x02"


@dataclass
class Segment:
    """One run of text on a page; coordinates in points from the page's top-left corner."""

    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    space_after: bool = False  # PDFium's text of the run ends with a space: a word ends here


@dataclass
class Line:
    """Segments sharing a baseline, left to right."""

    segments: list[Segment] = field(default_factory=list)

    @property
    def top(self) -> float:
        return min(s.top for s in self.segments)

    @property
    def bottom(self) -> float:
        return max(s.bottom for s in self.segments)

    @property
    def x0(self) -> float:
        return min(s.x0 for s in self.segments)

    @property
    def x1(self) -> float:
        return max(s.x1 for s in self.segments)

    @property
    def height(self) -> float:
        return max(1.0, self.bottom - self.top)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


@dataclass
class PageText:
    """One page: PDFium's plain text, and its positioned lines (``None`` when over the segment budget)."""

    plain: str
    lines: list[Line] | None
    width: float
    height: float
    reread: bool = False  # its lines were let go to bound memory: read the page again to lay it out


def read_page(page, *, positions: bool = True) -> PageText:
    """Read a ``pypdfium2.PdfPage`` into :class:`PageText` (only its plain text without ``positions``)."""
    left, bottom, right, top = page.get_bbox()
    textpage = page.get_textpage()
    try:
        plain = textpage.get_text_range().replace(_PLAIN_HYPHEN, "-\n")
        if not positions:
            return PageText(plain, None, right - left, top - bottom)
        count = textpage.count_rects()
        if count > MAX_SEGMENTS or count * textpage.count_chars() > MAX_SCAN:
            return PageText(plain, None, right - left, top - bottom)
        segments = []
        for index in range(count):
            x0, y0, x1, y1 = textpage.get_rect(index)
            raw = textpage.get_text_bounded(x0, y0, x1, y1).replace(_RUN_HYPHEN, "-")
            text = " ".join(raw.split())
            if text:
                segments.append(Segment(text, x0 - left, top - y1, x1 - left, top - y0, raw[-1:].isspace()))
    finally:
        textpage.close()
        page.close()
    return PageText(plain, group_lines(segments), right - left, top - bottom)


def group_lines(segments: list[Segment]) -> list[Line]:
    """Segments that overlap vertically by at least half the smaller height form one line, top to bottom."""
    lines: list[Line] = []
    for segment in sorted(segments, key=lambda s: (s.top, s.x0)):
        if lines:
            line = lines[-1]
            overlap = min(line.bottom, segment.bottom) - max(line.top, segment.top)
            smaller = min(line.height, max(1.0, segment.bottom - segment.top))
            if overlap >= 0.5 * smaller:
                line.segments.append(segment)
                continue
        lines.append(Line([segment]))
    for line in lines:
        line.segments = _merge_close(sorted(line.segments, key=lambda s: s.x0), line.height)
    return lines


def _merge_close(segments: list[Segment], height: float) -> list[Segment]:
    """Join neighbours closer than :data:`WORD_GAP` line heights: one phrase split by a font change (a bold
    word, a link) is one run of text, while table cells and columns sit farther apart."""
    merged = [segments[0]]
    for segment in segments[1:]:
        last = merged[-1]
        gap = segment.x0 - last.x1
        if gap < WORD_GAP * height:
            joiner = " " if last.space_after or gap >= SPACE_GAP * height else ""
            merged[-1] = Segment(
                last.text + joiner + segment.text,
                last.x0,
                min(last.top, segment.top),
                max(last.x1, segment.x1),
                max(last.bottom, segment.bottom),
                segment.space_after,
            )
        else:
            merged.append(segment)
    return merged
