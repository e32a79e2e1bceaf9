"""PDFs laid out the way real documents are, built with fpdf2 for the layout tests.

Each builder draws text at explicit positions, so the content stream order is under the test's control:
the two-column page draws its columns line by line across the page (interleaved), which is what plain
extraction reads wrongly.
"""

from __future__ import annotations

from pathlib import Path

A4_WIDTH = 210  # mm


def _pdf():
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=10)
    return pdf


def running(pdf, number: int, header: str, footer: str) -> None:
    """A header at the top and "footer — Page N" at the bottom of the current page."""
    pdf.set_font("Helvetica", size=8)
    pdf.text(20, 12, header)
    pdf.text(20, 287, f"{footer} - Page {number}")
    pdf.set_font("Helvetica", size=10)


def prose_pages(path: Path, pages: list[list[str]], header: str = "", footer: str = "") -> Path:
    """One line of text per entry, 6 mm apart, from y=30; optional running header/footer on each page."""
    pdf = _pdf()
    for number, lines in enumerate(pages, start=1):
        pdf.add_page()
        if header:
            running(pdf, number, header, footer)
        for row, line in enumerate(lines):
            pdf.text(20, 30 + 6 * row, line)
    pdf.output(str(path))
    return path


def two_columns(path: Path, title: str, left: list[str], right: list[str], after: list[str]) -> Path:
    """A full-width title, two columns drawn line by line across the page, then full-width lines."""
    pdf = _pdf()
    pdf.add_page()
    pdf.text(20, 25, title)
    y = 35
    for row in range(max(len(left), len(right))):
        if row < len(left):
            pdf.text(20, y, left[row])
        if row < len(right):
            pdf.text(110, y, right[row])
        y += 5
    y += 5
    for line in after:
        pdf.text(20, y, line)
        y += 5
    pdf.output(str(path))
    return path


def table_pages(
    path: Path,
    tables: list[tuple[str, list[list[str]]]],
    *,
    ruled: bool = True,
    rows_per_page: int = 0,
    intro: str = "",
) -> Path:
    """Each ``(caption, rows)`` as a caption line then a table (first row = header). With
    ``rows_per_page``, a table runs onto the next page after that many rows, its header repeated."""
    from fpdf.enums import TableBordersLayout

    pdf = _pdf()
    pdf.add_page()
    if intro:
        pdf.multi_cell(0, 6, intro)
        pdf.ln(4)
    for caption, rows in tables:
        pdf.set_font("Helvetica", style="B", size=11)
        pdf.cell(0, 8, caption, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        chunks = [rows[1:]]
        if rows_per_page:
            chunks = [rows[1 + i : 1 + i + rows_per_page] for i in range(0, len(rows) - 1, rows_per_page)]
        for part, chunk in enumerate(chunks):
            if part:
                pdf.add_page()
            layout = TableBordersLayout.ALL if ruled else TableBordersLayout.NONE
            with pdf.table(borders_layout=layout, text_align="LEFT", first_row_as_headings=False) as table:
                for row in [rows[0], *chunk]:
                    cells = table.row()
                    for cell in row:
                        cells.cell(cell)
        pdf.ln(8)
    pdf.output(str(path))
    return path
