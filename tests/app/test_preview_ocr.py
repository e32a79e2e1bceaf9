"""The page preview boxes an answer on a scanned page (no text layer) from the OCR word boxes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from docqa.app.ui.preview import ANSWER, render_marked_page
from docqa.ingest.layout import OCR_BOXES, attach_layout
from docqa.ingest.loaders import load_file
from docqa.ingest.splitting import PageAwareSplitter
from tests.conftest import SAMPLES
from tests.ingest.scans import image_pdf, render_pages


@pytest.fixture(scope="module")
def scanned_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("scan")
    scan = image_pdf(render_pages(SAMPLES / "packet_switching.pdf", [1]), folder / "scan.pdf")
    return scan, load_file(scan)


def _text_layer_rects(source: Path, needle: str) -> list[tuple[float, ...]]:
    """Where the words are in the original PDF (its text layer), per line, in PDF points."""
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(str(source))[0]
    textpage = page.get_textpage()
    start = textpage.get_text_range().index(needle)
    return [textpage.get_rect(i) for i in range(textpage.count_rects(start, len(needle)))]


def _answer_on_scan(loaded, answer: str):
    meta = {"source_key": str(loaded.path), "sha256": "x"}
    passages = PageAwareSplitter().run(pages=loaded.pages, meta=meta)["documents"]
    attach_layout(passages, loaded)
    passage = next(p for p in passages if answer in p.content)
    (page, page_start, _end) = passage.meta["page_offsets"][0]
    start = page_start + passage.content.index(answer)
    return passage, page, (start, start + len(answer))


@pytest.mark.slow  # OCRs a scanned page (its module fixture): ~2-7 s
def test_answer_on_a_scanned_page_is_boxed_where_the_words_are(scanned_page) -> None:
    scan, loaded = scanned_page
    passage, page, span = _answer_on_scan(loaded, "Paul Baran")
    marked = render_marked_page(
        scan,
        page,
        answer="Paul Baran",
        passage=passage.content,
        ocr_boxes=passage.meta[OCR_BOXES],
        answer_span=span,
        passage_span=tuple(passage.meta["page_offsets"][0][1:]),
    )
    assert marked.mark == ANSWER
    assert len(marked.answer_rects) == 2, "one box per word"
    (expected,) = _text_layer_rects(SAMPLES / "packet_switching.pdf", "Paul Baran")
    left = min(r[0] for r in marked.answer_rects)
    right = max(r[2] for r in marked.answer_rects)
    assert abs(left - expected[0]) < 3 and abs(right - expected[2]) < 3, (marked.answer_rects, expected)
    assert all(abs(r[1] - expected[1]) < 4 and abs(r[3] - expected[3]) < 4 for r in marked.answer_rects)
    assert marked.passage_rects and marked.detail_png


def test_a_box_shrinks_to_the_part_of_a_word_the_answer_covers() -> None:
    from docqa.app.ui.preview import ocr_rects

    whole = ocr_rects([[1, 10, 20, 0.1, 0.1, 0.3, 0.12]], 1, (10, 20), (0, 0, 100, 100))
    part = ocr_rects([[1, 10, 20, 0.1, 0.1, 0.3, 0.12]], 1, (10, 15), (0, 0, 100, 100))
    assert whole == [(10.0, 88.0, 30.0, 90.0)]
    assert part == [(10.0, 88.0, 20.0, 90.0)]
    assert ocr_rects([[2, 10, 20, 0.1, 0.1, 0.3, 0.12]], 1, (10, 20), (0, 0, 100, 100)) == [], "other page"


@pytest.mark.slow  # OCRs a scanned page (its module fixture)
def test_image_files_are_previewed_with_the_answer_marked(scanned_page, tmp_path: Path) -> None:
    _, loaded = scanned_page
    image = render_pages(SAMPLES / "packet_switching.pdf", [1])[0]
    image.save(tmp_path / "page.png", dpi=(200, 200))
    passage, page, span = _answer_on_scan(loaded, "Paul Baran")  # same page, same OCR boxes
    marked = render_marked_page(
        tmp_path / "page.png", page, answer="Paul Baran", ocr_boxes=passage.meta[OCR_BOXES], answer_span=span
    )
    assert marked.mark == ANSWER and marked.page_count == 1
    shown = Image.open(io.BytesIO(marked.png))
    assert abs(shown.width / shown.height - image.width / image.height) < 0.01
