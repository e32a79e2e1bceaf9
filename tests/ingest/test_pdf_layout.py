"""Text PDFs as people make them: running headers/footers, hyphenation, two columns, tables (issue 23).

Every PDF is built here with fpdf2 (tests/ingest/layout_pdfs.py); the assertions are what a user reads in
the passages DocQA stores.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from docqa.ingest.cleaning import clean_text
from docqa.ingest.layout import RUNNING_LINES, TABLE, attach_layout
from docqa.ingest.loaders import load_file
from docqa.ingest.splitting import PageAwareSplitter
from tests.conftest import SAMPLES
from tests.ingest import layout_pdfs

PLACES = ["harbour", "railway", "museum", "bridge"]
PRICES = [["Model", "Price", "Weight"]] + [[f"X{i}00", f"EUR {i},299", f"{i}.1 kg"] for i in range(1, 9)]


def passages(loaded) -> list:
    meta = {"source_key": "k", "sha256": "s"}
    docs = PageAwareSplitter().run(pages=loaded.pages, meta=meta, breaks=loaded.breaks)["documents"]
    attach_layout(docs, loaded)
    return docs


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    pages = [
        [
            f"The {place} was described in the chapter on informa-",
            f"tion systems, and the {place} staff use e-mail daily.",
            "They also wrote e-",
            f"mail to the council about the {place}.",
        ]
        for place in PLACES
    ]
    return layout_pdfs.prose_pages(
        tmp_path / "report.pdf", pages, header="ACME Corp Confidential", footer="ACME Corp"
    )


def test_running_header_footer_and_page_numbers_reach_no_passage(report_pdf: Path) -> None:
    loaded = load_file(report_pdf)
    docs = passages(loaded)
    assert docs and not any("ACME" in doc.content or "Page " in doc.content for doc in docs)
    assert loaded.running[3] == ["ACME Corp Confidential", "ACME Corp - Page 3"]
    assert docs[0].meta[RUNNING_LINES] == ["ACME Corp Confidential", "ACME Corp - Page 1"]  # kept in meta
    assert "the museum staff use e-mail daily" in loaded.pages[2]  # the body is all there


def test_a_line_repeated_on_every_page_is_kept_when_it_is_all_the_page_holds(tmp_path: Path) -> None:
    path = layout_pdfs.prose_pages(
        tmp_path / "one.pdf", [[f"Page {i} of the lighthouse manual."] for i in range(4)]
    )
    assert load_file(path).pages[2] == "Page 2 of the lighthouse manual."


def test_a_repeated_title_set_larger_than_the_body_is_content_not_a_header(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    for number, place in enumerate(PLACES, start=1):
        pdf.add_page()
        layout_pdfs.running(pdf, number, "ACME Corp Confidential", "ACME Corp")
        pdf.set_font("Helvetica", style="B", size=16)
        pdf.text(20, 25, f"Part {number}")
        pdf.set_font("Helvetica", size=10)
        pdf.text(20, 40, f"The {place} opens at nine in the morning.")
        pdf.text(20, 46, f"Visitors to the {place} pay at the gate.")
    pdf.output(str(tmp_path / "parts.pdf"))
    loaded = load_file(tmp_path / "parts.pdf")
    assert loaded.pages[1].startswith("Part 2") and "The railway opens at nine" in loaded.pages[1]
    assert "ACME" not in loaded.pages[1]


def test_line_end_hyphens_join_unless_the_document_spells_the_word_with_one(report_pdf: Path) -> None:
    page = load_file(report_pdf).pages[0]
    assert "chapter on information systems" in page  # a typesetting hyphen goes
    assert "They also wrote e-mail to the council" in page  # "e-mail" elsewhere: the hyphen stays
    assert "email" not in page and "informa-" not in page


def test_two_columns_drawn_across_the_page_are_read_column_by_column(tmp_path: Path) -> None:
    left = [
        "The left column talks about the",
        "harbour and its old lighthouse,",
        "which was built in 1820 by",
        "the town council of Westport.",
    ]
    right = [
        "The right column describes the",
        "railway station, opened in 1901",
        "after a long debate among",
        "the merchants of the valley.",
    ]
    path = layout_pdfs.two_columns(
        tmp_path / "cols.pdf", "Two towns", left, right, ["A closing paragraph runs across the whole page."]
    )
    text = load_file(path).pages[0]
    assert text.startswith("Two towns\n\n")
    left_text, right_text = " ".join(left), " ".join(right)
    assert left_text in text and right_text in text  # neither column is interleaved with the other
    assert text.index(left_text) < text.index(right_text) < text.index("A closing paragraph")


def test_sample_pdf_reads_exactly_as_plain_extraction_did() -> None:
    """No sentence of a one-column PDF changes: the text is what pypdf's extraction cleaned to before."""
    from pypdf import PdfReader

    path = SAMPLES / "packet_switching.pdf"
    before = [clean_text(page.extract_text()) for page in PdfReader(io.BytesIO(path.read_bytes())).pages]
    loaded = load_file(path)
    assert loaded.pages == before
    assert loaded.table_count == 0 and not loaded.running


@pytest.mark.parametrize("ruled", [True, False], ids=["ruled", "unruled"])
def test_table_rows_carry_their_column_headers_and_the_caption(tmp_path: Path, ruled: bool) -> None:
    path = layout_pdfs.table_pages(
        tmp_path / "prices.pdf", [("Price list 2024", PRICES)], ruled=ruled, intro="Our products are below."
    )
    loaded = load_file(path)
    assert loaded.table_count == 1
    text = loaded.pages[0]
    assert "Model: X300 | Price: EUR 3,299 | Weight: 3.1 kg" in text
    assert "X300 EUR 3,299" not in text
    row = next(doc for doc in passages(loaded) if "Model: X300" in doc.content)
    assert row.meta[TABLE] == "Price list 2024"
    assert row.content == "Model: X300 | Price: EUR 3,299 | Weight: 3.1 kg"  # one row, one passage


def test_a_table_across_a_page_break_is_one_table_with_its_header_on_both_pages(tmp_path: Path) -> None:
    path = layout_pdfs.table_pages(tmp_path / "long.pdf", [("Price list 2024", PRICES)], rows_per_page=4)
    loaded = load_file(path)
    assert loaded.table_count == 1
    assert "Model: X700 | Price: EUR 7,299 | Weight: 7.1 kg" in loaded.pages[1]
    assert "Model: Model" not in loaded.pages[1] and "Price: Price" not in loaded.pages[1]  # repeated header
    assert [span[3] for span in loaded.tables] == ["Price list 2024", "Price list 2024"]


def test_a_page_of_scattered_text_is_read_without_layout_and_says_so(tmp_path: Path) -> None:
    """Layout work is bounded: a page of more separate text runs than MAX_SEGMENTS is not laid out."""
    from fpdf import FPDF

    from docqa.ingest.pdflines import MAX_SEGMENTS

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=4)
    for i in range(MAX_SEGMENTS + 100):
        pdf.text(5 + (i % 60) * 3.3, 5 + (i // 60) * 3.4, "x")
    pdf.output(str(tmp_path / "dust.pdf"))
    loaded = load_file(tmp_path / "dust.pdf")
    assert loaded.pages[0].count("x") > MAX_SEGMENTS
    assert any("read without layout" in note for note in loaded.notes)


def test_a_page_of_many_runs_and_characters_is_read_without_layout(tmp_path: Path) -> None:
    """Reading runs costs runs x characters in PDFium: past MAX_SCAN a page is read as plain text."""
    from fpdf import FPDF

    from docqa.ingest.pdflines import MAX_SCAN, MAX_SEGMENTS

    runs = MAX_SEGMENTS // 2
    words = MAX_SCAN // runs // runs // 5 + 2  # "lamp " x words per run: runs x characters > MAX_SCAN
    pdf = FPDF(format=(850, 200))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=2)
    for i in range(runs):
        pdf.text(5 + (i % 10) * 80, 5 + (i // 10) * 3, "lamp " * words)
    pdf.output(str(tmp_path / "dense.pdf"))
    loaded = load_file(tmp_path / "dense.pdf")
    assert loaded.pages[0].count("lamp") == runs * words
    assert any("read without layout" in note for note in loaded.notes)


@pytest.mark.parametrize("kind", ["bullets", "numbers", "contents"])
def test_lists_and_tables_of_contents_are_not_tables(tmp_path: Path, kind: str) -> None:
    """False tables once found in real manuals (/usr/share/doc): a marker column, leader dots."""
    items = [f"The {place} chapter explains opening hours" for place in PLACES]
    lines = {
        "bullets": [("-", item) for item in items],
        "numbers": [(f"{n}.", item) for n, item in enumerate(items, start=1)],
        "contents": [(f"{place.title()} " + ". " * 30, str(n * 7)) for n, place in enumerate(PLACES, 1)],
    }[kind]
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    for row, (first, second) in enumerate(lines):
        pdf.text(20, 30 + 6 * row, first)
        pdf.text(28 if kind != "contents" else 150, 30 + 6 * row, second)
    pdf.output(str(tmp_path / "list.pdf"))
    loaded = load_file(tmp_path / "list.pdf")
    assert loaded.table_count == 0
    assert ": " not in loaded.pages[0]  # no "header: cell" rendering


def test_pages_past_the_memory_budget_are_read_again_with_the_same_result(
    report_pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only so many text runs are held across pages; later pages are read again, laid out the same."""
    import docqa.ingest.pdflayout as pdflayout

    whole = load_file(report_pdf)
    reads = []
    read_page = pdflayout.read_page
    monkeypatch.setattr(pdflayout, "read_page", lambda page, **kw: reads.append(1) or read_page(page, **kw))
    monkeypatch.setattr(pdflayout, "MAX_KEPT_SEGMENTS", 3)  # fewer runs than one page holds
    again = load_file(report_pdf)
    assert len(reads) == 2 * len(whole.pages)  # every page read twice
    assert again.pages == whole.pages and again.running == whole.running
    assert "ACME" not in again.pages[3]
