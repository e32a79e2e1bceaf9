"""The query side is real Haystack Pipelines: built once per DocQA, serialisable, and answering."""

from __future__ import annotations

import time
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
    assert timings["retrieval"] + timings["reading"] <= timings["total"]
    searched = qa.search(QUESTION, top_k=4)
    assert [p.id for p in result.passages] == [p.id for p in searched]
    rebuilt = Pipeline.loads(pipeline.dumps(), allowed_modules=["docqa.pipelines"])
    assert {name: type(c) for name, c in rebuilt.walk()} == {name: type(c) for name, c in pipeline.walk()}


def _slowed(run, seconds: float):
    """``run`` that first sleeps ``seconds``: a step whose duration the test knows."""

    def slow(**kwargs):
        time.sleep(seconds)
        return run(**kwargs)

    return slow


def test_retrieval_and_reading_are_each_timed_on_their_own_clock(
    sample_index: Path, test_reader_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step is slowed by a known amount: retrieval must see the embedder's and the retriever's delays
    and nothing else, reading the reader's, and only the total the answerability judge's."""
    qa = DocQA(sample_index, reader_model=str(test_reader_dir))
    pipeline = qa.query_pipelines.qa_pipeline(qa.reader())
    embedder, retriever = pipeline.get_component("embedder"), pipeline.get_component("retriever")
    reader, judge = pipeline.get_component("reader"), pipeline.get_component("judge")
    monkeypatch.setattr(embedder.embedder, "run", _slowed(embedder.embedder.run, 0.1))
    monkeypatch.setattr(retriever.retriever, "run", _slowed(retriever.retriever.run, 0.2))
    monkeypatch.setattr(reader.reader, "run", _slowed(reader.reader.run, 0.3))
    monkeypatch.setattr(judge, "run", _slowed(judge.run, 0.8))
    result = qa.ask_documents(QUESTION, top_k=4, max_answers=2, no_answer_threshold=100.0)
    assert not result.no_answer and result.answers[0].source.file.endswith("normans.txt")
    timings = result.timings_ms
    assert 300 <= timings["retrieval"] < 300 + 800, timings  # the judge's 800 ms are not retrieval
    assert timings["reading"] >= 300, timings
    # The judge's 800 ms are in the total only: neither part absorbed them, and each part was measured.
    assert timings["total"] >= timings["retrieval"] + timings["reading"] + 800, timings


def test_missing_reader_still_returns_the_passages(sample_index: Path, tmp_path: Path) -> None:
    qa = DocQA(sample_index, reader_model=str(tmp_path / "no-such-reader"), reader_fallback=False)
    result = qa.ask_documents(QUESTION, top_k=3)
    assert result.reader_error and "no-such-reader" in result.reader_error
    assert result.answers == [] and result.no_answer
    assert len(result.passages) == 3 and result.passages[0].file.endswith("normans.txt")
    assert set(result.timings_ms) == {"retrieval", "total"}


@pytest.fixture
def shipped_reranker(tiny_reranker_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """As if a trained reranker shipped in data/reranker (the tiny random one: its order is arbitrary
    but deterministic, so the tests compare with its own scores)."""
    from docqa.pipelines.components.rankers import reranker

    monkeypatch.setattr(reranker, "bundled_reranker_dir", lambda: tiny_reranker_dir)
    monkeypatch.setenv("DOCQA_CACHE_DIR", str(tiny_reranker_dir.parent / "cache"))
    monkeypatch.setenv("DOCQA_RERANK", "1")  # the product's default (conftest turns it off elsewhere)
    return tiny_reranker_dir


def _expected_by_reranker(qa: DocQA, question: str, top_k: int) -> list[str]:
    candidates = qa.query_pipelines.search(question, top_k=qa.reranker.candidates, rerank=False)
    scores = qa.reranker.score(question, [d.content for d in candidates])
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [candidates[i].id for i in order[:top_k]]


def test_shipped_reranker_reorders_search_and_the_switch_turns_it_off(
        sample_index: Path, shipped_reranker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    qa = DocQA(sample_index)
    assert qa.reranker is not None and qa.rerank_status()["enabled"]
    pipelines = qa.query_pipelines
    assert set(pipelines.retrieval_pipeline("hybrid", rerank=True).graph.nodes) == {
        "embedder", "retriever", "reranker"}
    reranked = [p.id for p in qa.search(QUESTION, top_k=4)]
    assert reranked == _expected_by_reranker(qa, QUESTION, 4)
    plain = [p.id for p in qa.search(QUESTION, top_k=4, rerank=False)]
    assert plain == [d.id for d in pipelines.search(QUESTION, top_k=4)]
    assert reranked != plain  # the (random) cross-encoder disagrees with retrieval here
    off = DocQA(sample_index, rerank=False)
    assert off.reranker is None and [p.id for p in off.search(QUESTION, top_k=4)] == plain
    assert "off" in off.rerank_status()["notice"]
    monkeypatch.setenv("DOCQA_RERANK", "0")
    assert DocQA(sample_index).reranker is None


def test_qa_pipeline_reads_the_reranked_passages(sample_index: Path, shipped_reranker: Path,
                                                 test_reader_dir: Path) -> None:
    qa = DocQA(sample_index, reader_model=str(test_reader_dir))
    pipeline = qa.query_pipelines.qa_pipeline(qa.reader())
    assert set(pipeline.graph.nodes) == {"embedder", "retriever", "reranker", "reader", "judge"}
    result = qa.ask_documents(QUESTION, top_k=3, no_answer_threshold=100.0)
    assert [p.id for p in result.passages] == _expected_by_reranker(qa, QUESTION, 3)
    assert result.passages[0].meta["retrieval_rank"] >= 1
    timings = result.timings_ms
    assert timings["rerank"] > 0
    assert timings["retrieval"] > 0 and timings["reading"] > 0
    assert timings["retrieval"] + timings["rerank"] + timings["reading"] <= timings["total"]
    plain = qa.ask_documents(QUESTION, top_k=3, no_answer_threshold=100.0, rerank=False)
    assert "rerank" not in plain.timings_ms
    assert [p.id for p in plain.passages] == [p.id for p in qa.search(QUESTION, top_k=3, rerank=False)]


def test_without_a_shipped_reranker_search_keeps_retrieval_order_and_says_why(
        sample_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from docqa.pipelines.components.rankers import reranker

    monkeypatch.setattr(reranker, "bundled_reranker_dir", lambda: tmp_path / "no-reranker")
    monkeypatch.setenv("DOCQA_RERANK", "1")
    qa = DocQA(sample_index)
    assert qa.reranker is None
    status = qa.rerank_status()
    assert not status["enabled"] and "data/reranker" in status["notice"]
    assert set(qa.query_pipelines.retrieval_pipeline("hybrid", rerank=True).graph.nodes) == {
        "embedder", "retriever"}
