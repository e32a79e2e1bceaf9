"""Render a PDF page as an image with the answer (or its passage) marked on it, for the search page.

Why this is not a plain text search: DocQA's offsets refer to the *cleaned* page text (white space
collapsed, line-break hyphenation undone, unicode normalised) while the PDF's own text layer still has
line breaks, hyphens and ligatures. So we normalise PDFium's text the same way while remembering which PDF
character each normalised character came from, find the answer there, and ask PDFium for the boxes of
those characters. When the answer cannot be found we mark the passage; when neither can, we show the page.

No Streamlit in here: the page calls :func:`render_marked_page` and shows the PNG.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from docqa.pipelines.api import IMAGE_SUFFIXES

ANSWER = "answer"
PASSAGE = "passage"
PAGE = "page"

# Fill and outline colours (RGBA): the answer in yellow with an orange frame, the passage in light blue.
_ANSWER_FILL = (255, 214, 0, 110)
_ANSWER_LINE = (230, 100, 0, 255)
_PASSAGE_FILL = (80, 150, 255, 45)
_PASSAGE_LINE = (60, 120, 230, 200)

Rect = tuple[float, float, float, float]  # left, bottom, right, top in PDF points


@dataclass
class MarkedPage:
    """A rendered page and what could be marked on it (``mark`` is ANSWER, PASSAGE or PAGE)."""

    png: bytes  # the whole page
    mark: str
    page_number: int
    page_count: int
    answer_rects: list[Rect] = field(default_factory=list)
    passage_rects: list[Rect] = field(default_factory=list)
    scale: float = 1.0  # pixels per PDF point in ``png``
    detail_png: bytes | None = None  # the marked region, cropped so its text is readable on screen
    detail_box: tuple[int, int, int, int] | None = None  # where the detail is in ``png`` (pixels)


_IGNORED = set("-\u00ad\u2010\u2011\u00a0\x00\ufffe\ufeff")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise_with_map(text: str) -> tuple[str, list[int]]:
    """A comparison key for text: lower-cased and NFKC-normalised, without white space or hyphens.

    Dropping white space and hyphens outright (rather than re-implementing the cleaner's rules) makes
    "fault-\\r\\ntolerant", "effi-\\r\\ncient" and "Paul\\r\\nBaran" in PDFium's text match "fault-tolerant",
    "efficient" and "Paul Baran" in DocQA's. Returns the key and, for each of its characters, the index in
    ``text`` it came from.
    """
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace() or ch in _IGNORED:
            continue
        for piece in unicodedata.normalize("NFKC", ch).lower().translate(_QUOTES):
            if piece.isspace() or piece in _IGNORED:
                continue
            out.append(piece)
            origin.append(i)
    return "".join(out), origin


def normalise(text: str) -> str:
    return normalise_with_map(text)[0]


def _occurrences(haystack: str, needle: str) -> list[int]:
    found, start = [], haystack.find(needle)
    while start != -1:
        found.append(start)
        start = haystack.find(needle, start + 1)
    return found


def locate(page_text: str, needle: str, expected_fraction: float | None = None) -> tuple[int, int] | None:
    """Where ``needle`` is in ``page_text`` (PDF character indices ``[start, end)``), tolerant of layout.

    When the text occurs several times, the occurrence nearest ``expected_fraction`` (its position as a
    fraction of the page text, known from DocQA's offsets) wins, so "1965" is marked where the answer is.
    """
    norm, origin = normalise_with_map(page_text)
    target = normalise(needle)
    if not target or not norm:
        return None
    hits = _occurrences(norm, target)
    if not hits:
        return None
    if expected_fraction is not None and len(hits) > 1:
        goal = expected_fraction * len(norm)
        hits.sort(key=lambda h: abs(h - goal))
    start = hits[0]
    end = start + len(target) - 1
    return origin[start], origin[end] + 1


def _words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def locate_passage(page_text: str, passage: str, words: int = 8) -> tuple[int, int] | None:
    """The stretch of the page a passage covers: from its first few words to its last few.

    A passage may continue on another page; then only its head or its tail is on this one, and the marked
    region runs to the end (or from the start) of the page.
    """
    tokens = _words(passage)
    if not tokens:
        return None
    head = locate(page_text, " ".join(tokens[:words]))
    tail = locate(page_text, " ".join(tokens[-words:]))
    if head and tail and head[0] < tail[1]:
        return head[0], tail[1]
    if head:
        return head[0], len(page_text)
    if tail:
        return 0, tail[1]
    return None


def _rects(textpage, span: tuple[int, int]) -> list[Rect]:
    start, end = span
    count = textpage.count_rects(start, end - start)
    return [tuple(float(v) for v in textpage.get_rect(i)) for i in range(count)]  # type: ignore[misc]


def ocr_rects(
    boxes: list[list[float]], page_number: int, span: tuple[int, int] | None, bbox: Rect
) -> list[Rect]:
    """PDF rectangles of the OCR words (``meta["ocr_boxes"]``, see ingest/layout.py) that overlap ``span``.

    A scanned page has no text layer to search, so the answer is found by its character offsets in the page
    text instead; each word box is stored as fractions of the page (origin top-left) and mapped onto this
    page's box here.
    """
    if span is None:
        return []
    left, bottom, right, top = bbox
    width, height = right - left, top - bottom
    start, end = span
    rects: list[Rect] = []
    for page, word_start, word_end, x0, y0, x1, y1 in boxes:
        if page != page_number or word_start >= end or word_end <= start:
            continue
        # An answer may cover part of a word ("Pouzin" of "Pouzin."): narrow the box by character share.
        length = max(1, word_end - word_start)
        a = x0 + (x1 - x0) * (max(start, word_start) - word_start) / length
        b = x0 + (x1 - x0) * (min(end, word_end) - word_start) / length
        rects.append((left + a * width, top - y1 * height, left + b * width, top - y0 * height))
    return rects


def _open_document(path: Path, page_number: int):
    """(document, page index in it, the file's page count); an image file becomes a one-page PDF."""
    import pypdfium2 as pdfium

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        document = pdfium.PdfDocument(str(path))
        return document, page_number, len(document)
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
        dpi = image.info.get("dpi", (150, 150))[0] or 150
    if not 1 <= page_number <= len(frames):
        raise ValueError(f"{path.name} has {len(frames)} pages, not a page {page_number}")
    buffer = io.BytesIO()
    frames[page_number - 1].save(buffer, format="PDF", resolution=float(dpi))
    return pdfium.PdfDocument(buffer.getvalue()), 1, len(frames)


def render_marked_page(
    pdf_path: str | Path,
    page_number: int,
    answer: str | None = None,
    passage: str | None = None,
    expected_fraction: float | None = None,
    scale: float = 2.0,
    ocr_boxes: list[list[float]] | None = None,
    answer_span: tuple[int, int] | None = None,
    passage_span: tuple[int, int] | None = None,
) -> MarkedPage:
    """Render page ``page_number`` (1-based) of ``pdf_path`` to PNG with the answer or passage marked.

    Besides the whole page, returns a *detail*: the marked region with a margin, at most about a third
    of a page high and centred on the answer, because a whole page scaled into a browser column is too
    small to read.

    Scanned pages and image files (no text layer) are marked from ``ocr_boxes`` and the answer's and
    passage's character offsets in the page text (``answer_span``, ``passage_span``).

    :raises ValueError: when the page does not exist in the file.
    :raises OSError / pypdfium2.PdfiumError: when the file cannot be opened as a PDF.
    """
    from PIL import ImageDraw

    pdf, index_in_pdf, page_count = _open_document(Path(pdf_path), page_number)
    try:
        if not 1 <= index_in_pdf <= len(pdf):
            raise ValueError(f"{Path(pdf_path).name} has {page_count} pages, not a page {page_number}")
        page = pdf[index_in_pdf - 1]
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        answer_rects: list[Rect] = []
        passage_rects: list[Rect] = []
        if ocr_boxes:
            bbox = page.get_bbox()
            answer_rects = ocr_rects(ocr_boxes, page_number, answer_span, bbox)
            passage_rects = ocr_rects(ocr_boxes, page_number, passage_span, bbox)
        # PDFium's text and character indices agree one to one; if a PDF breaks that, marking is unsafe.
        elif len(text) == textpage.count_chars():
            if answer:
                span = locate(text, answer, expected_fraction)
                if span:
                    answer_rects = _rects(textpage, span)
            if passage:
                span = locate_passage(text, passage)
                if span:
                    passage_rects = _rects(textpage, span)

        left, bottom, right, top = page.get_bbox()
        image = page.render(scale=scale, rotation=0).to_pil().convert("RGB")
        # Drawing RGBA colours on an RGB image blends them; on an RGBA image it would overwrite the text.
        overlay = ImageDraw.Draw(image, "RGBA")

        def box(rect: Rect, pad: float) -> tuple[float, float, float, float]:
            x0, y0, x1, y1 = rect
            return (
                (x0 - left - pad) * scale,
                (top - y1 - pad) * scale,
                (x1 - left + pad) * scale,
                (top - y0 + pad) * scale,
            )

        for rect in passage_rects:
            overlay.rectangle(box(rect, 1.5), fill=_PASSAGE_FILL)
        if passage_rects:
            # One frame around the whole passage region reads better than one per line.
            boxes = [box(r, 3.0) for r in passage_rects]
            frame = (
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            )
            overlay.rectangle(frame, outline=_PASSAGE_LINE, width=2)
        for rect in answer_rects:
            overlay.rectangle(box(rect, 2.0), fill=_ANSWER_FILL, outline=_ANSWER_LINE, width=3)

        detail_box = _detail_box(
            [box(r, 0) for r in answer_rects], [box(r, 0) for r in passage_rects], image.size, scale
        )
        detail_png = _png(image.crop(detail_box)) if detail_box else None
        png = _png(image)
        page.close()
    finally:
        pdf.close()
    mark = ANSWER if answer_rects else PASSAGE if passage_rects else PAGE
    return MarkedPage(
        png=png,
        mark=mark,
        page_number=page_number,
        page_count=page_count,
        answer_rects=answer_rects,
        passage_rects=passage_rects,
        scale=scale,
        detail_png=detail_png,
        detail_box=detail_box,
    )


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


Box = tuple[float, float, float, float]


def _detail_box(
    answer: list[Box],
    passage: list[Box],
    size: tuple[int, int],
    scale: float,
    margin_pt: float = 18.0,
    min_height_pt: float = 120.0,
    max_height_pt: float = 300.0,
) -> tuple[int, int, int, int] | None:
    """The crop (pixels) that shows the passage around the answer: the passage's lines plus a margin,
    cut to ``max_height_pt`` around the answer when the passage is long."""
    region = passage + answer
    if not region:
        return None
    width, height = size
    margin = margin_pt * scale
    x0 = max(0.0, min(b[0] for b in region) - margin)
    x1 = min(float(width), max(b[2] for b in region) + margin)
    y0 = min(b[1] for b in region) - margin
    y1 = max(b[3] for b in region) + margin
    focus = answer or passage
    centre = (min(b[1] for b in focus) + max(b[3] for b in focus)) / 2
    if y1 - y0 > max_height_pt * scale:
        y0, y1 = centre - max_height_pt * scale / 2, centre + max_height_pt * scale / 2
    elif y1 - y0 < min_height_pt * scale:
        middle = (y0 + y1) / 2
        y0, y1 = middle - min_height_pt * scale / 2, middle + min_height_pt * scale / 2
    y0, y1 = max(0.0, y0), min(float(height), y1)
    return int(x0), int(y0), int(round(x1)), int(round(y1))
