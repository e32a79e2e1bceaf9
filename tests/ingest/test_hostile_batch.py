"""A batch with hostile files in it: each fails on its own line, the good file is indexed, the index still
answers; an upload is parsed once; the service answers 400 naming the limit.

The probe's finding: a malformed .docx aborted the whole `docqa ingest` batch with an 85-line traceback
(the good file beside it was not indexed) and was a 500 from the service.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from docqa.ingest import parsed, uploads
from tests.conftest import make_pdf
from tests.ingest import hostile

HARBOUR = (
    b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist. "
    b"Its lighthouse keeper, Marta Olsen, lit the lamp every night for thirty years.\n"
)
SMALL_LIMITS = {
    "DOCQA_MAX_UNZIPPED_MB": "2",
    "DOCQA_MAX_HTML_MB": "0.1",
    "DOCQA_MAX_PAGES": "3",
    "DOCQA_MAX_PAGE_MPX": "4",
}


def _hostile_folder(folder: Path) -> dict[str, str]:
    """One file per hostile class, and what its ``failed`` reason must name."""
    folder.mkdir()
    hostile.noisy_docx(folder / "noisy.docx", 2.5)
    hostile.filler_docx(folder / "filler.docx", 1.5)
    hostile.deep_docx(folder / "deep.docx")
    hostile.entity_docx(folder / "entities.docx")
    hostile.lying_docx(folder / "lying.docx", 5)
    hostile.html(folder / "big.html", 0.2)
    hostile.tiff(folder / "fax.tiff", frames=4, side=50)
    hostile.png(folder / "photo.png", 3000, 2000)
    make_pdf(folder / "long.pdf", [f"Page {i}." for i in range(4)])
    return {
        "noisy.docx": "DOCQA_MAX_UNZIPPED_MB",
        "filler.docx": "DOCQA_MAX_ZIP_RATIO",
        "deep.docx": "nested more than 256 levels deep",
        "entities.docx": "DTD",
        "lying.docx": "corrupt Word file",
        "big.html": "DOCQA_MAX_HTML_MB",
        "fax.tiff": "DOCQA_MAX_PAGES",
        "photo.png": "DOCQA_MAX_PAGE_MPX",
        "long.pdf": "DOCQA_MAX_PAGES",
    }


def test_hostile_files_fail_one_by_one_and_the_good_file_is_indexed_and_answers(
    tmp_path: Path, monkeypatch, test_reader_dir
) -> None:
    from docqa.pipelines.api import DocQA

    for name, value in SMALL_LIMITS.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "inbox"
    expected = _hostile_folder(folder)
    (folder / "harbour.txt").write_bytes(HARBOUR)
    # UTF-16 with an odd trailing byte: decoding used to raise UnicodeDecodeError out of the batch
    (folder / "odd.txt").write_bytes(b"\xff\xfe" + "Ferries leave at nine.".encode("utf-16-le") + b"x")

    qa = DocQA(tmp_path / "index", reader_model=str(test_reader_dir))
    report = qa.ingest([folder])
    by_name = {Path(r.path).name: r for r in report.results}
    assert by_name["harbour.txt"].status == "added"
    assert by_name["odd.txt"].status == "added", by_name["odd.txt"]
    for name, token in expected.items():
        result = by_name[name]
        assert result.status == "failed", (name, result)
        assert token in result.reason and "\n" not in result.reason, (name, result.reason)
    answer = qa.ask("Who was the lighthouse keeper of Brightwater?")
    assert "Marta Olsen" in answer.answers[0].text
    assert [d.file_name for d in qa.documents()] == ["harbour.txt", "odd.txt"]


def test_any_parser_exception_is_the_files_own_failed_line(tmp_path: Path, monkeypatch, caplog) -> None:
    """Not only the errors a loader anticipates: RecursionError from a parser, a bug in the splitter."""
    from docqa.ingest import office
    from docqa.ingest.ingestor import Ingestor
    from docqa.pipelines.api import DocQA

    def recursing(*_args, **_kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(office, "load_docx", recursing)
    real_init = Ingestor.__init__

    folder = tmp_path / "inbox"
    folder.mkdir()
    hostile.docx(folder / "report.docx", hostile.TEXT_PARAGRAPH)
    (folder / "harbour.txt").write_bytes(HARBOUR)
    (folder / "splits-badly.md").write_text("# Notes\n\nThe splitter fails on this one.\n")

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        split = self.splitter.run

        def run(pages, meta):
            if meta["file_name"] == "splits-badly.md":
                raise KeyError("page_offsets")
            return split(pages=pages, meta=meta)

        self.splitter.run = run

    monkeypatch.setattr(Ingestor, "__init__", init)
    caplog.set_level(logging.DEBUG, logger="docqa.ingest")
    report = DocQA(tmp_path / "index").ingest([folder])
    by_name = {Path(r.path).name: r for r in report.results}
    assert by_name["harbour.txt"].status == "added"
    assert by_name["report.docx"].status == "failed"
    expected = "cannot read this Word file: it is nested too deeply (RecursionError)"
    assert by_name["report.docx"].reason == expected
    assert by_name["splits-badly.md"].status == "failed"
    assert "KeyError" in by_name["splits-badly.md"].reason
    logged = [r for r in caplog.records if r.exc_info and "splits-badly.md" in r.getMessage()]
    assert logged, "the traceback is logged at debug level"


def test_an_upload_is_parsed_once_for_the_check_and_the_ingest(tmp_path: Path, monkeypatch) -> None:
    import docx

    from docqa.ingest import loaders
    from docqa.pipelines.api import DocQA

    calls: list[str] = []
    real = loaders._load

    def counting(path, *args, **kwargs):
        calls.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loaders, "_load", counting)
    document = docx.Document()
    document.add_paragraph("The fog horn sounds every thirty seconds.")
    docx_path = tmp_path / "manual.docx"
    document.save(str(docx_path))
    index = tmp_path / "index"
    with uploads.upload_lock(index):
        files = [("harbour.txt", HARBOUR), ("manual.docx", docx_path.read_bytes())]
        staged = uploads.stage_uploads(index, files)
        assert uploads.unreadable(staged) == []
        assert parsed.kept() == 2
        report = DocQA(index).ingest([s.path for s in staged])
        results = uploads.settle_uploads(staged, report)
    assert [r.status for r in results] == ["added", "added"]
    assert sorted(calls) == ["harbour.txt", "manual.docx"], "each file parsed once, not twice"
    assert parsed.kept() == 0


def test_a_kept_parse_is_used_only_for_the_same_bytes(tmp_path: Path) -> None:
    from docqa.ingest.loaded import LoadedFile

    loaded = LoadedFile(path=tmp_path / "a.txt", kind="text", title="a", pages=["a"])
    parsed.keep(tmp_path / "a.txt", "sha-1", loaded, ocr=True)
    assert parsed.take(tmp_path / "a.txt", "sha-2", ocr=True) is None, "other bytes: parse again"
    assert parsed.take(tmp_path / "a.txt", "sha-1", ocr=False) is None, "OCR asked differently"
    assert parsed.take(tmp_path / "a.txt", "sha-1", ocr=True) is loaded
    assert parsed.take(tmp_path / "a.txt", "sha-1", ocr=True) is None, "taken once"
    for i in range(parsed.MAX_KEPT + 10):
        parsed.keep(tmp_path / f"{i}.txt", "sha", loaded, ocr=True)
    assert parsed.kept() == parsed.MAX_KEPT, "never grows past its cap"
    parsed.forget(tmp_path / f"{i}.txt" for i in range(parsed.MAX_KEPT + 10))
    assert parsed.kept() == 0


@pytest.mark.parametrize(
    ("name", "build", "token"),
    [
        ("noisy.docx", lambda p: hostile.noisy_docx(p, 2.5), "DOCQA_MAX_UNZIPPED_MB"),
        ("deep.docx", hostile.deep_docx, "nested more than 256 levels deep"),
        ("entities.docx", hostile.entity_docx, "DTD"),
        ("lying.docx", lambda p: hostile.lying_docx(p, 5), "corrupt Word file"),
        ("photo.png", lambda p: hostile.png(p, 3000, 2000), "DOCQA_MAX_PAGE_MPX"),
    ],
)
def test_the_service_answers_400_naming_the_limit_and_changes_nothing(
    tmp_path: Path, monkeypatch, name, build, token
) -> None:
    from docqa.app.server.app import create_app
    from docqa.pipelines.api import DocQA
    from tests.app.service_client import service_client

    for variable, value in SMALL_LIMITS.items():
        monkeypatch.setenv(variable, value)
    index = tmp_path / "index"
    client = service_client(
        create_app(DocQA(index, reader_model=str(tmp_path / "no-reader")), api_key="", warm_up=False)
    )
    data = build(tmp_path / name).read_bytes()
    files = [
        ("files", (name, data, "application/octet-stream")),
        ("files", ("harbour.txt", HARBOUR, "text/plain")),
    ]
    response = client.post("/documents", files=files)
    assert response.status_code == 400, response.text
    assert token in response.json()["detail"], response.json()
    assert not (index / "uploads").exists() or not any((index / "uploads").iterdir())
    assert client.get("/documents").json()["documents"] == []
    assert parsed.kept() == 0
