"""The page preview boxes a table-cell answer in its cell (issue 23): the reader answers from a row
rendered with its headers ("Model: X300 | Price: EUR 3,299"), and the cell text is found on the page."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from docqa.app.ui.preview import ANSWER, render_marked_page
from docqa.ingest.loaders import load_file
from tests.ingest.layout_pdfs import table_pages


def test_preview_marks_the_answer_cell_of_a_table_row(tmp_path: Path) -> None:
    rows = [["Model", "Price", "Weight"]] + [[f"X{i}00", f"EUR {i},299", f"{i}.1 kg"] for i in range(1, 6)]
    path = table_pages(tmp_path / "prices.pdf", [("Price list", rows)])
    passage = next(p for p in load_file(path).pages[0].split("\n\n") if p.startswith("Model: X300"))
    assert "Price: EUR 3,299" in passage  # what the reader reads, and answers "EUR 3,299" from
    marked = render_marked_page(path, 1, answer="EUR 3,299", passage=passage)
    assert marked.mark == ANSWER and marked.answer_rects

    textpage = pdfium.PdfDocument(str(path))[0].get_textpage()
    text = textpage.get_text_range()

    def rect(needle: str) -> tuple[float, ...]:
        start = text.index(needle)
        textpage.count_rects(start, len(needle))
        return textpage.get_rect(0)

    row, price_column, weight_column = rect("X300"), rect("Price"), rect("Weight")
    for left, bottom, right, top in marked.answer_rects:
        assert price_column[0] - 1 <= left and right <= weight_column[0]  # in the Price column
        assert row[1] - 2 <= (bottom + top) / 2 <= row[3] + 2  # on the X300 row
