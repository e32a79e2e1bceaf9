"""The Python API a host application embeds: open, ingest, search, ask, list, delete, follow other writers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docqa.pipelines.api import DocQA, DocumentNotFoundError
from tests.conftest import SAMPLES


def test_search_returns_passages_with_page_offsets_into_the_page_text(sample_index: Path) -> None:
    from docqa.ingest.loaders import load_file

    qa = DocQA(sample_index)
    passages = qa.search("Who is credited with packet switching in the United Kingdom?", top_k=3)
    top = passages[0]
    assert top.file.endswith("packet_switching.pdf")
    pages = load_file(SAMPLES / "packet_switching.pdf").pages
    pieces = [pages[page - 1][start:end] for page, start, end in top.page_offsets]
    assert top.content == "\n\n".join(pieces)
    assert top.page == top.page_offsets[0][0]


def test_search_modes_and_bad_arguments(sample_index: Path) -> None:
    qa = DocQA(sample_index)
    for mode in ("hybrid", "dense", "bm25"):
        hits = qa.search("Watt steam engine separate condenser", top_k=2, mode=mode)
        assert hits and hits[0].file.endswith("steam_engine.md"), mode
    with pytest.raises(ValueError, match="unknown search mode"):
        qa.search("x", mode="magic")
    with pytest.raises(ValueError, match="top_k"):
        qa.search("x", top_k=0)


def test_stats_and_documents(sample_index: Path) -> None:
    qa = DocQA(sample_index)
    stats = qa.stats()
    assert stats["documents"] == 3 and stats["pages"] == 8 and stats["passages"] > 50
    assert stats["last_ingest"]
    assert [d.file_name for d in qa.documents()] == ["normans.txt", "packet_switching.pdf", "steam_engine.md"]


@pytest.mark.slow  # embeds two samples into a new index, twice
def test_open_searcher_sees_commits_made_by_another_writer(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SAMPLES / "normans.txt", folder)
    reader_side, writer_side = DocQA(tmp_path / "index"), DocQA(tmp_path / "index")
    writer_side.ingest([folder])
    assert not any(p.file.endswith("steam_engine.md") for p in reader_side.search("steam engine condenser"))
    shutil.copy(SAMPLES / "steam_engine.md", folder)
    writer_side.ingest([folder])
    assert reader_side.search("steam engine condenser", top_k=1)[0].file.endswith("steam_engine.md")
    writer_side.delete(str(folder / "steam_engine.md"))
    assert not any(p.file.endswith("steam_engine.md") for p in reader_side.search("steam engine condenser"))


def test_delete_of_an_unknown_document_names_it(sample_index: Path) -> None:
    with pytest.raises(DocumentNotFoundError, match="'missing.pdf'"):
        DocQA(sample_index).delete("missing.pdf")


def test_ask_ranks_answers_with_sources(sample_index: Path, test_reader_dir: Path) -> None:
    qa = DocQA(sample_index, reader_model=str(test_reader_dir))
    result = qa.ask(
        "Who did the Normans conquer England under?", top_k=5, max_answers=3, no_answer_threshold=100.0
    )
    assert not result.no_answer
    assert 1 <= len(result.answers) <= 3
    assert result.answers[0].score >= result.answers[-1].score
    top = result.answers[0]
    source = top.source
    assert source.passage[source.passage_start : source.passage_end] == top.text
    assert source.file.endswith("normans.txt")
    assert set(result.timings_ms) >= {"retrieval", "reading", "total"}
    assert result.to_dict()["answers"][0]["sources"][0]["document_id"] == source.document_id


def test_ask_rejects_an_empty_question(sample_index: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        DocQA(sample_index).ask("   ")
