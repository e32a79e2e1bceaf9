"""The page's preview of a PDF page: the answer boxed in yellow even across a line break, the occurrence
nearest the answer's offset, and the fallbacks to the passage and the whole page (scanned pages:
``test_preview_ocr.py``; tables: ``test_preview_tables.py``)."""

from __future__ import annotations

import pytest

from docqa.app.ui.preview import ANSWER, locate, normalise, render_marked_page
from tests.conftest import make_pdf


def test_preview_marks_the_answer_on_the_pdf_page_even_across_a_line_break(tmp_path):
    import pypdfium2 as pdfium

    pdf = make_pdf(
        tmp_path / "wrap.pdf",
        ["Filler words " * 5 + "the inventor was Professor Konstantin Wilhelmsson-Abernathy of Uppsala."],
    )
    text = pdfium.PdfDocument(str(pdf))[0].get_textpage().get_text_range()
    assert "Konstantin\r\nWilhelmsson" in text, "the PDF wraps the line inside the answer"
    marked_page = render_marked_page(pdf, 1, answer="Konstantin Wilhelmsson-Abernathy")
    assert marked_page.mark == ANSWER
    assert len(marked_page.answer_rects) == 2, "one box on each of the two lines"
    # Inside the answer's box the page turns yellow: compared with the unmarked page, blue drops and red
    # stays (yellow = red + green).
    from io import BytesIO

    from PIL import Image, ImageStat

    plain = render_marked_page(pdf, 1)
    assert plain.mark == "page"
    left, bottom, right, top = marked_page.answer_rects[0]
    k, height = marked_page.scale, 841.89  # pixels per point; A4 height in points
    box = (int(left * k), int((height - top) * k), int(right * k), int((height - bottom) * k))
    marked_mean = ImageStat.Stat(Image.open(BytesIO(marked_page.png)).convert("RGB").crop(box)).mean
    plain_mean = ImageStat.Stat(Image.open(BytesIO(plain.png)).convert("RGB").crop(box)).mean
    assert marked_mean[2] < plain_mean[2] - 60, (marked_mean, plain_mean)
    assert marked_mean[0] > plain_mean[0] - 40, (marked_mean, plain_mean)
    # The detail crop holds both lines of the answer and is much smaller than the page.
    x0, y0, x1, y1 = marked_page.detail_box
    assert all(
        x0 <= r[0] * k and r[2] * k <= x1 and y0 <= (height - r[3]) * k and (height - r[1]) * k <= y1
        for r in marked_page.answer_rects
    )
    detail = Image.open(BytesIO(marked_page.detail_png))
    assert detail.size == (x1 - x0, y1 - y0) and detail.height < Image.open(BytesIO(plain.png)).height / 2
    assert plain.detail_png is None


def test_preview_prefers_the_occurrence_nearest_the_answer_offset():
    page = "In 1965 a plan. Much later text follows here. In 1965 again."
    assert locate(page, "1965", expected_fraction=0.0) == (3, 7)
    assert locate(page, "1965", expected_fraction=1.0) == (49, 53)
    assert normalise("Fault-\r\ntolerant  ﬁne") == normalise("fault-tolerant fine")


def test_preview_falls_back_to_the_passage_then_the_page(tmp_path):
    text = "The ship arrived in the harbour on Tuesday morning after the storm."
    pdf = make_pdf(tmp_path / "doc.pdf", [text])
    passage = render_marked_page(pdf, 1, answer="Wednesday", passage=text[:42])
    assert passage.mark == "passage" and passage.passage_rects and not passage.answer_rects
    page = render_marked_page(pdf, 1, answer="Wednesday", passage="Nothing like this is on the page")
    assert page.mark == "page"
    with pytest.raises(ValueError, match="has 1 pages"):
        render_marked_page(pdf, 2)
