"""The streaming Word reader gives python-docx's text, block for block (python-docx is the reference).

``docqa.ingest.office`` reads .docx without python-docx because python-docx's cost grows far past the
file's size (see that module); these tests hold it to python-docx's output on documents that exercise
every rule it mirrors: heading styles (built-in, custom by outline level, by name), runs inside
hyperlinks, tabs, line and page breaks, horizontally and vertically merged cells, rows that start late,
nested tables, text boxes and tracked changes (which python-docx does not read), and an unknown style id.
"""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import pytest

docx = pytest.importorskip("docx")

from docx.oxml import parse_xml  # noqa: E402
from docx.oxml.ns import nsdecls, qn  # noqa: E402

from docqa.ingest.layout import assemble_blocks  # noqa: E402
from docqa.ingest.loaders import load_file  # noqa: E402
from docqa.ingest.office import blocks_of  # noqa: E402
from docqa.ingest.tables import render_row  # noqa: E402

_HEADING_STYLE = re.compile(r"^(heading \d|title|subtitle)$", re.IGNORECASE)


def reference_blocks(data: bytes) -> list[tuple[str, bool]]:
    """What DocQA read with python-docx before the streaming reader (the code it replaced, verbatim)."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))

    def is_heading(paragraph) -> bool:
        style = paragraph.style
        name = (style.name if style is not None else "") or ""
        if _HEADING_STYLE.match(name):
            return True
        ppr = paragraph._p.pPr
        return ppr is not None and ppr.find(qn("w:outlineLvl")) is not None

    def table_rows(table):
        header: list[str] = []
        for number, row in enumerate(table.rows):
            cells, names, seen = [], [], set()
            for column, cell in enumerate(row.cells, start=row.grid_cols_before):  # skipped grid columns
                if number == 0:
                    header.append(" ".join(cell.text.split()))
                if id(cell._tc) in seen:
                    continue
                seen.add(id(cell._tc))
                cells.append(" ".join(cell.text.split()))
                names.append(header[column] if column < len(header) else "")
            if any(cells):  # since issue 23, rows after the first carry their column headers
                yield " | ".join(cells) if number == 0 else render_row(names, cells)

    out = []
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            paragraph = Paragraph(child, document)
            out.append((paragraph.text, is_heading(paragraph)))
        elif child.tag == qn("w:tbl"):
            out.extend((row, False) for row in table_rows(Table(child, document)))
    return out


def _save(document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _rich_document() -> bytes:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.core_properties.title = "Keeper's handbook"
    document.add_heading("Keeper's handbook", 0)  # the Title style
    document.add_paragraph("Before the first night shift, read every section.")
    document.add_paragraph("")  # empty paragraphs make no block
    run_paragraph = document.add_paragraph("Lamp:")
    run_paragraph.add_run("\tlit at dusk")
    run_paragraph.add_run().add_break()  # a line break: "\n"
    run_paragraph.add_run("put out at dawn")
    run_paragraph.add_run().add_break(WD_BREAK.PAGE)  # a page break: no text
    run_paragraph.add_run("(see the log)")
    document.add_heading("Fog horn", 1)
    custom = document.styles.add_style("Keeper Section", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Normal"]
    document.add_paragraph("Signals", style="Keeper Section")._p.get_or_add_pPr().append(
        parse_xml(f'<w:outlineLvl {nsdecls("w")} w:val="1"/>')
    )
    document.add_paragraph("Not a heading, in a custom style.", style="Keeper Section")
    linked = document.add_paragraph("Tide tables: ")
    linked._p.append(
        parse_xml(
            f'<w:hyperlink {nsdecls("w", "r")} r:id="rId99"><w:r><w:t>harbour office</w:t></w:r>'
            "<w:r><w:tab/><w:t xml:space=\"preserve\"> page 4</w:t></w:r></w:hyperlink>"
        )
    )
    tracked = document.add_paragraph("Kept text.")
    tracked._p.append(
        parse_xml(f'<w:ins {nsdecls("w")} w:id="1" w:author="a"><w:r><w:t>inserted text</w:t></w:r></w:ins>')
    )
    tracked._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:noBreakHyphen/><w:t>after</w:t><w:cr/></w:r>'))
    unknown = document.add_paragraph("Paragraph with a style id no style has.")
    unknown._p.get_or_add_pPr().append(parse_xml(f'<w:pStyle {nsdecls("w")} w:val="NoSuchStyle"/>'))

    table = document.add_table(rows=4, cols=4)
    values = [
        ["Day", "Lamp on", "Lamp off", "Keeper"],
        ["Monday", "18:00", "06:00", "Ann"],
        ["Tuesday", "18:10", "06:05", "Ben"],
        ["Wednesday", "18:20", "06:10", "Cy"],
    ]
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(0, 1).merge(table.cell(0, 2))  # across: written once
    table.cell(1, 3).merge(table.cell(3, 3))  # down: repeated in each row
    table.cell(2, 0).add_paragraph("second paragraph in a cell")
    nested = table.cell(3, 0).add_table(rows=1, cols=2)  # python-docx's cell.text skips nested tables
    nested.cell(0, 0).text, nested.cell(0, 1).text = "nested", "table"
    late = document.add_table(rows=2, cols=3)
    late.cell(0, 0).text, late.cell(0, 1).text, late.cell(0, 2).text = "A", "B", "C"
    late.cell(1, 1).text, late.cell(1, 2).text = "b", "c"
    row = late.rows[1]._tr
    row.remove(row.tc_lst[0])  # the second row starts one column late
    row.insert(0, parse_xml(f'<w:trPr {nsdecls("w")}><w:gridBefore w:val="1"/></w:trPr>'))
    document.add_heading("Unicode", 2)
    document.add_paragraph("Straße, café, 東京, emoji 🚢, and non-breaking\u00a0space.")
    box = document.add_paragraph("Paragraph with a text box: ")
    box._p.append(
        parse_xml(
            f'<w:r {nsdecls("w", "wp", "a")}><w:pict><w:txbxContent><w:p><w:r><w:t>boxed text</w:t>'
            "</w:r></w:p></w:txbxContent></w:pict></w:r>"
        )
    )
    return _save(document)


def test_streaming_reader_matches_python_docx_block_for_block() -> None:
    data = _rich_document()
    expected = [(text, heading) for text, heading in reference_blocks(data) if text.strip()]
    assert list(blocks_of(data)) == expected
    assert assemble_blocks(blocks_of(data)) == assemble_blocks(reference_blocks(data))
    # and it did exercise the rules (a reference that dropped them would make this pass vacuously)
    texts = [text for text, _ in expected]
    assert "Lamp:\tlit at dusk\nput out at dawn(see the log)" in texts
    assert "Tide tables: harbour office\t page 4" in texts
    assert "Kept text.-after\n" in texts
    assert "Day | Lamp on Lamp off | Keeper" in texts  # merged across: one cell, both texts
    # merged down; a header merged across names each column under it
    assert (
        "Day: Tuesday second paragraph in a cell | Lamp on Lamp off: 18:10 | Lamp on Lamp off: 06:05 | "
        "Keeper: Ann Ben Cy"
    ) in texts
    assert "Day: Wednesday | Lamp on Lamp off: 18:20 | Lamp on Lamp off: 06:10 | Keeper: Ann Ben Cy" in texts
    assert "A | B | C" in texts and "B: b | C: c" in texts  # a skipped grid column (gridBefore) is skipped
    headings = [text for text, heading in expected if heading]
    assert headings == ["Keeper's handbook", "Fog horn", "Signals", "Unicode"]


def test_sample_documents_of_the_test_suite_match_python_docx(tmp_path: Path) -> None:
    from tests.ingest.test_docx_html import make_docx

    data = make_docx(tmp_path / "manual.docx").read_bytes()
    assert [b for b in blocks_of(data)] == [b for b in reference_blocks(data) if b[0].strip()]


def test_title_comes_from_core_properties_then_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "handbook.docx"
    path.write_bytes(_rich_document())
    assert load_file(path).title == "Keeper's handbook"
    document = docx.Document()
    document.add_paragraph("Intro.")
    document.add_heading("Harbour rules", 1)
    data = _save(document)
    untitled = tmp_path / "untitled.docx"
    untitled.write_bytes(data)
    assert load_file(untitled).title == "Harbour rules"


def test_a_document_whose_main_part_moved_is_still_found(tmp_path: Path) -> None:
    """The main part is found through the package's relationships, not by its usual name."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(_rich_document()))
    moved = tmp_path / "moved.docx"
    with zipfile.ZipFile(moved, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            body = source.read(info)
            name = info.filename.replace("word/document.xml", "word/main.xml").replace(
                "word/_rels/document.xml.rels", "word/_rels/main.xml.rels"
            )
            if info.filename in ("[Content_Types].xml", "_rels/.rels"):
                body = body.replace(b"/word/document.xml", b"/word/main.xml").replace(
                    b"word/document.xml", b"word/main.xml"
                )
            out.writestr(copy.copy(name), body)
    loaded = load_file(moved)
    assert "Fog horn" in loaded.pages[0]
    assert [h for _, h in loaded.sections][:2] == ["Keeper's handbook", "Fog horn"]
