"""Word and HTML files load as readable text whose passages cite the section heading they fall under."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.ingest.layout import SECTION, attach_layout, section_at
from docqa.ingest.loaders import SUPPORTED_SUFFIXES, LoadError, UnsupportedFile, load_file
from docqa.ingest.splitting import PageAwareSplitter


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Lighthouse manual"
    document.add_paragraph("Read this before your first night shift.")
    document.add_heading("Lamp", 1)
    document.add_paragraph("The keeper lights the lamp at dusk and puts it out at dawn.")
    table = document.add_table(rows=3, cols=3)
    rows = [["Day", "Lamp on", "Lamp off"], ["Monday", "18:00", "06:00"], ["Tuesday", "18:10", "06:05"]]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Fog horn", 2)
    document.add_paragraph("The fog horn sounds every thirty seconds when visibility is poor.")
    document.save(str(path))
    return path


HTML = """<!doctype html><html><head><title>Harbour guide</title>
<script>var tracking = "SCRIPT_JUNK";</script><style>body { color: red }</style></head>
<body><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us MENU_JUNK</a></li></ul></nav>
<main><article><h1>Harbour guide</h1>
<p>The harbour opens at six in the morning and closes at ten at night, every day of the year.</p>
<h2>Ferries</h2><p>Ferries to the island leave every two hours from pier three, starting at seven.</p>
<table><tr><th>Ferry</th><th>Departure</th></tr><tr><td>Island Star</td><td>07:00</td></tr></table>
<h2>Parking</h2><p>Parking near the harbour costs four euros per hour; Quay Street is cheaper.</p>
</article></main><aside>Related stories SIDEBAR_JUNK</aside>
<footer><p>Copyright 2026 Port Example FOOTER_JUNK. All rights reserved.</p></footer></body></html>"""


def _passages(loaded) -> list:
    meta = {"source_key": str(loaded.path), "sha256": "x"}
    passages = PageAwareSplitter(max_words=20, overlap_words=0).run(pages=loaded.pages, meta=meta)[
        "documents"
    ]
    attach_layout(passages, loaded)
    return passages


def test_docx_headings_paragraphs_and_table_rows(tmp_path: Path) -> None:
    loaded = load_file(make_docx(tmp_path / "manual.docx"))
    assert loaded.kind == "docx"
    assert loaded.title == "Lighthouse manual"
    assert loaded.table_count == 1  # counted in the ingest report
    assert loaded.pages == [
        "Read this before your first night shift.\n\n"
        "Lamp\n\n"
        "The keeper lights the lamp at dusk and puts it out at dawn.\n\n"
        "Day | Lamp on | Lamp off\n\nDay: Monday | Lamp on: 18:00 | Lamp off: 06:00\n\n"
        "Day: Tuesday | Lamp on: 18:10 | Lamp off: 06:05\n\n"
        "Fog horn\n\n"
        "The fog horn sounds every thirty seconds when visibility is poor."
    ]
    assert [heading for _, heading in loaded.sections] == ["Lamp", "Fog horn"]


def test_docx_table_rows_are_passages_of_their_own(tmp_path: Path) -> None:
    loaded = load_file(make_docx(tmp_path / "manual.docx"))
    docs = PageAwareSplitter().run(pages=loaded.pages, meta={}, breaks=loaded.breaks)["documents"]
    contents = [doc.content for doc in docs]
    assert "Day: Monday | Lamp on: 18:00 | Lamp off: 06:00" in contents
    assert "Day: Tuesday | Lamp on: 18:10 | Lamp off: 06:05" in contents
    assert contents[-1].startswith("Fog horn")  # the text after the table starts its own passage


def test_docx_passages_cite_their_section(tmp_path: Path) -> None:
    loaded = load_file(make_docx(tmp_path / "manual.docx"))
    sections = {p.meta.get(SECTION) for p in _passages(loaded) if "fog horn sounds" in p.content}
    assert sections == {"Fog horn"}
    preamble = next(p for p in _passages(loaded) if p.content.startswith("Read this before"))
    assert preamble.meta[SECTION] == "Lamp", "cited by the first heading it holds"
    assert section_at(preamble.meta, 0) is None, "an answer before the first heading has no section"
    tuesday = [p for p in _passages(loaded) if "Day: Tuesday | Lamp on: 18:10" in p.content]
    assert tuesday and all(p.meta[SECTION] in {"Lamp", "Fog horn"} for p in tuesday)
    assert any(p.meta[SECTION] == "Lamp" for p in tuesday)


def test_html_boilerplate_is_removed_and_sections_kept(tmp_path: Path) -> None:
    page = tmp_path / "guide.html"
    page.write_text(HTML, encoding="utf-8")
    loaded = load_file(page)
    assert loaded.kind == "html"
    assert loaded.title == "Harbour guide"
    text = loaded.pages[0]
    for junk in ("SCRIPT_JUNK", "MENU_JUNK", "SIDEBAR_JUNK", "FOOTER_JUNK", "color: red"):
        assert junk not in text
    assert "Ferries to the island leave every two hours from pier three" in text
    assert "Island Star | 07:00" in text
    assert [heading for _, heading in loaded.sections] == ["Harbour guide", "Ferries", "Parking"]
    cited = {
        section_at(p.meta, p.content.index("four euros"))
        for p in _passages(loaded)
        if "four euros" in p.content
    }
    assert cited == {"Parking"}
    spanning = [p for p in _passages(loaded) if p.meta[SECTION] == "Ferries" and "four euros" in p.content]
    assert spanning, "the passage that starts under 'Ferries' runs into 'Parking' and cites each part right"
    assert section_at(spanning[0].meta, 0) == "Ferries"


def test_htm_suffix_and_non_utf8_page(tmp_path: Path) -> None:
    page = tmp_path / "old.htm"
    body = "<p>Le café de la gare ouvre à sept heures du matin, tous les jours de la semaine.</p>" * 3
    page.write_bytes(
        f'<html><head><meta charset="windows-1252"></head><body>{body}</body></html>'.encode("cp1252")
    )
    assert "Le café de la gare ouvre à sept heures" in load_file(page).pages[0]


def test_html_without_text_fails_with_one_line(tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    page.write_text("<html><head><script>var a = 1;</script></head><body></body></html>", encoding="utf-8")
    with pytest.raises(LoadError, match="no readable text in the HTML page"):
        load_file(page)


@pytest.mark.parametrize("content", [b"this is not a zip", b"PK\x03\x04 truncated zip"])
def test_corrupt_docx_fails_with_one_line(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.docx"
    bad.write_bytes(content)
    with pytest.raises(LoadError, match="corrupt Word file") as caught:
        load_file(bad)
    assert "\n" not in str(caught.value)


def test_zip_that_is_not_a_word_document(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "notes.docx", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(LoadError, match="corrupt Word file"):
        load_file(tmp_path / "notes.docx")


def test_supported_types_are_one_list_and_the_skip_reason_names_them(tmp_path: Path) -> None:
    assert {".pdf", ".txt", ".md", ".docx", ".html", ".htm", ".png", ".jpg", ".jpeg", ".tif", ".tiff"} <= (
        SUPPORTED_SUFFIXES
    )
    (tmp_path / "slides.pptx").write_bytes(b"PK")
    with pytest.raises(UnsupportedFile) as caught:
        load_file(tmp_path / "slides.pptx")
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in str(caught.value)
