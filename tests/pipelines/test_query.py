"""The query side is real Haystack Pipelines: built once per DocQA, serialisable, and answering."""

from __future__ import annotations

from pathlib import Path

import pytest
from haystack import Pipeline

from docqa.pipelines.api import DocQA
from docqa.pipelines.components.retrievers.search_mode import SearchMode

QUESTION = "Who did the Normans conquer England under?"


def test_retrieval_pipelines_are_built_once_and_bm25_needs_no_embedder(sample_index: Path) -> None:
    pipelines = DocQA(sample_index).query_pipelines
    hybrid = pipelines.retrieval_pipeline("hybrid")
    assert isinstance(hybrid, Pipeline)
    assert hybrid is pipelines.retrieval_pipeline(SearchMode.HYBRID)
    assert set(hybrid.graph.nodes) == {"embedder", "retriever"}
    assert set(pipelines.retrieval_pipeline("bm25").graph.nodes) == {"retriever"}
    with pytest.raises(ValueError, match="choose one of: hybrid, dense, bm25"):
        pipelines.retrieval_pipeline("sparse")


def test_retrieval_pipeline_survives_dumps_and_loads(sample_index: Path) -> None:
    pipelines = DocQA(sample_index).query_pipelines
    question = "Watt steam engine separate condenser"
    original = pipelines.search(question, top_k=3)
    ours = [
        "docqa.pipelines.components.embedders.sentence_embedders",
        "docqa.pipelines.components.retrievers.store_retrievers",
    ]
    rebuilt = Pipeline.loads(pipelines.retrieval_pipeline("hybrid").dumps(), allowed_modules=ours)
    out = rebuilt.run({"embedder": {"text": question}, "retriever": {"query": question, "top_k": 3}})
    assert [d.id for d in out["retriever"]["documents"]] == [d.id for d in original]
    assert original[0].meta["file"].endswith("steam_engine.md")


def test_qa_pipeline_answers_with_passages_and_timings(sample_index: Path, test_reader_dir: Path) -> None:
    qa = DocQA(sample_index, reader_model=str(test_reader_dir))
    pipeline = qa.query_pipelines.qa_pipeline(qa.reader())
    assert isinstance(pipeline, Pipeline)
    assert set(pipeline.graph.nodes) == {"embedder", "retriever", "reader", "judge"}
    result = qa.ask_documents(QUESTION, top_k=4, max_answers=2, no_answer_threshold=100.0)
    assert qa.query_pipelines.qa_pipeline(qa.reader()) is pipeline  # built once
    assert not result.no_answer and 1 <= len(result.answers) <= 2
    assert len(result.passages) == 4
    assert result.answers[0].source.file.endswith("normans.txt")
    assert result.answers[0].source.document_id in {p.id for p in result.passages}
    timings = result.timings_ms
    assert set(timings) == {"retrieval", "reading", "total", "passages_read"}
    assert timings["retrieval"] > 0 and timings["reading"] > 0
    assert timings["total"] == pytest.approx(timings["retrieval"] + timings["reading"])
    searched = qa.search(QUESTION, top_k=4)
    assert [p.id for p in result.passages] == [p.id for p in searched]


def test_missing_reader_still_returns_the_passages(sample_index: Path, tmp_path: Path) -> None:
    qa = DocQA(sample_index, reader_model=str(tmp_path / "no-such-reader"), reader_fallback=False)
    result = qa.ask_documents(QUESTION, top_k=3)
    assert result.reader_error and "no-such-reader" in result.reader_error
    assert result.answers == [] and result.no_answer
    assert len(result.passages) == 3 and result.passages[0].file.endswith("normans.txt")
    assert set(result.timings_ms) == {"retrieval", "total"}
