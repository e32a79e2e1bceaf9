"""Scanned pages are read by OCR, keep their page numbers, and know where each word is on the page.

OCR is slow on two shared cores, so the scanned document is built and read once per module: a PDF whose
first page has a text layer and whose second and third pages are images (a scan of the sample article's
first page, and a blank scanned page).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from docqa.ingest.layout import OCR_BOXES, attach_layout
from docqa.ingest.loaders import LoadError, load_file
from docqa.ingest.splitting import PageAwareSplitter
from tests.conftest import SAMPLES, make_pdf
from tests.ingest.scans import concat_pdfs, image_pdf, render_pages


@pytest.fixture(scope="module")
def mixed_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scans")
    text_page = make_pdf(folder / "text.pdf", ["The lighthouse keeper lit the lamp at dusk every day."])
    scan = render_pages(SAMPLES / "packet_switching.pdf", [1])[0]
    blank = Image.new("RGB", scan.size, "white")
    scanned = image_pdf([scan, blank], folder / "scanned.pdf")
    return concat_pdfs([text_page, scanned], folder / "mixed.pdf")


@pytest.fixture(scope="module")
def loaded(mixed_pdf: Path):
    return load_file(mixed_pdf)


def test_scanned_page_is_read_and_keeps_its_page_number(loaded) -> None:
    assert loaded.pages[0] == "The lighthouse keeper lit the lamp at dusk every day."
    assert "Paul Baran" in loaded.pages[1]
    assert "Distributed Adaptive Message Block Switching" in loaded.pages[1]
    assert loaded.pages[2] == "", "a page OCR finds nothing on stays empty (no passages), numbering kept"
    assert loaded.ocr_pages == [2]


def test_report_notes_name_ocred_pages_confidence_and_empty_pages(loaded) -> None:
    read = next(note for note in loaded.notes if note.startswith("OCR read"))
    match = re.fullmatch(r"OCR read page 2 \(mean confidence (\d+)%\)", read)
    assert match, read
    assert 80 <= int(match.group(1)) <= 100
    assert "OCR found no text on page 3; not indexed" in loaded.notes


def _pdfium_box(source: Path, page_number: int, needle: str) -> tuple[float, float, float, float]:
    """Where ``needle`` is on the original text page, as fractions (left, top, right, bottom)."""
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(str(source))[page_number - 1]
    width, height = page.get_size()
    textpage = page.get_textpage()
    text = textpage.get_text_range()
    start = text.index(needle)
    rects = [textpage.get_charbox(i) for i in range(start, start + len(needle)) if not text[i].isspace()]
    left, bottom = min(r[0] for r in rects), min(r[1] for r in rects)
    right, top = max(r[2] for r in rects), max(r[3] for r in rects)
    return left / width, 1 - top / height, right / width, 1 - bottom / height


def test_word_boxes_point_at_the_words_on_the_page(loaded) -> None:
    text = loaded.pages[1]
    start = text.index("Baran")
    boxes = [box for box in loaded.word_boxes[2] if box[0] <= start < box[1]]
    assert len(boxes) == 1
    _, end, *ocr_box = boxes[0]
    assert text[start:end].startswith("Baran")
    expected = _pdfium_box(SAMPLES / "packet_switching.pdf", 1, "Baran")
    assert all(abs(a - b) < 0.01 for a, b in zip(ocr_box, expected, strict=True)), (ocr_box, expected)


def test_passages_from_scanned_pages_carry_the_boxes_of_their_words(loaded) -> None:
    meta = {"source_key": "mixed.pdf", "sha256": "x"}
    passages = PageAwareSplitter().run(pages=loaded.pages, meta=meta)["documents"]
    attach_layout(passages, loaded)
    scanned = [p for p in passages if 2 in p.meta["pages"]]
    assert scanned
    for passage in scanned:
        (_, start, end) = next(piece for piece in passage.meta["page_offsets"] if piece[0] == 2)
        boxes = passage.meta[OCR_BOXES]
        assert all(b[0] == 2 and b[1] < end and b[2] > start for b in boxes), "page 1 has a text layer"
        # Every word of the passage's part of page 2 is boxed (the cleaner drops nothing here).
        assert len(boxes) >= 0.95 * len(loaded.pages[1][start:end].split())


def test_no_ocr_leaves_scanned_pages_out_and_says_so(mixed_pdf: Path) -> None:
    loaded = load_file(mixed_pdf, ocr=False)
    assert loaded.pages[0].startswith("The lighthouse keeper")
    assert loaded.pages[1:] == ["", ""]
    assert loaded.notes == ["pages 2-3 have no text layer; not read (OCR is off)"]


def test_fully_scanned_pdf_with_ocr_off_fails_with_one_line(tmp_path: Path) -> None:
    scanned = image_pdf([Image.new("RGB", (200, 280), "white")], tmp_path / "scan.pdf")
    with pytest.raises(LoadError, match=r"no text layer .* OCR is turned off") as caught:
        load_file(scanned, ocr=False)
    assert "\n" not in str(caught.value)


def test_missing_tesseract_fails_the_file_with_a_how_to(tmp_path: Path, monkeypatch) -> None:
    scanned = image_pdf([Image.new("RGB", (200, 280), "white")], tmp_path / "scan.pdf")
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract on it
    with pytest.raises(LoadError) as caught:
        load_file(scanned)
    message = str(caught.value)
    assert "Tesseract OCR is not installed" in message
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in message
    assert "\n" not in message


def test_image_file_is_a_one_page_document(tmp_path: Path) -> None:
    page = render_pages(SAMPLES / "packet_switching.pdf", [1])[0]
    top = page.crop((0, 0, page.width, page.height // 4))  # a small image keeps the test fast
    top.save(tmp_path / "clipping.png", dpi=(200, 200))
    calls: list[tuple[int, int]] = []
    loaded = load_file(tmp_path / "clipping.png", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 1)], "OCR progress is reported page by page"
    assert loaded.kind == "image"
    assert len(loaded.pages) == 1
    assert "Paul Baran" in loaded.pages[0]
    assert loaded.ocr_pages == [1] and loaded.word_boxes[1]


def test_image_that_holds_no_text_fails(tmp_path: Path) -> None:
    Image.new("RGB", (300, 200), "white").save(tmp_path / "blank.jpg")
    with pytest.raises(LoadError, match="no text found by OCR"):
        load_file(tmp_path / "blank.jpg")


def test_corrupt_image_fails_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(LoadError, match="not a readable image"):
        load_file(tmp_path / "broken.png")
