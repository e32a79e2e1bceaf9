"""Hybrid retrieval on tiny corpora, and the evaluation helpers `docqa eval` builds on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from haystack import Document
from haystack_integrations.document_stores.faiss import FAISSDocumentStore

from pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
from pipelines.components.retrievers.hybrid import HybridRetriever
from pipelines.document_stores.bm25 import BM25Retriever
from pipelines.evaluation.retrieval_eval import evaluate_retrieval, load_squad_passages

TEXTS = {
    "normans": ("Normans", "The Normans were the people who gave their name to Normandy, a region in France. "
                "Rollo founded the duchy in 911."),
    "steam": ("Steam_engine", "A steam engine is a heat engine that performs mechanical work using steam."),
    "harvard": ("Harvard_University", "Harvard was established in 1636 and is the oldest institution of "
                "higher learning in the United States."),
    "force": ("Force", "In physics, a force is any interaction that, when unopposed, will change the motion "
              "of an object."),
    "eu": ("European_Union_law", "European Union law is a system of rules operating within the member "
           "states of the European Union."),
}


@pytest.fixture(scope="module")
def index() -> tuple[FAISSDocumentStore, BM25Retriever, QueryEmbedder]:
    docs = [Document(id=k, content=c, meta={"title": t}) for k, (t, c) in TEXTS.items()]
    embedded = PassageEmbedder().run(documents=docs)["documents"]
    store = FAISSDocumentStore(embedding_dim=384)
    store.write_documents(embedded)
    # BM25 gets the passages without embeddings, as an index rebuilt from stored text would.
    return store, BM25Retriever(docs), QueryEmbedder()


def ask(index, question: str, **kw) -> list[Document]:
    store, bm25, qe = index
    retriever = HybridRetriever(store, bm25, **kw)
    return retriever.run(query=question, query_embedding=qe.run(text=question)["embedding"], top_k=3)[
        "documents"
    ]


@pytest.mark.parametrize(
    ("question", "gold"),
    [
        ("Who founded the duchy of Normandy?", "normans"),
        ("When was the oldest university in America established?", "harvard"),
        ("What changes the motion of an object?", "force"),
        ("What kind of engine does mechanical work with steam?", "steam"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_each_mode_finds_the_right_passage(index, question: str, gold: str, mode: str) -> None:
    out = ask(index, question, mode=mode)
    assert out[0].id == gold
    assert all(d.score is not None for d in out)
    assert [d.score for d in out] == sorted((d.score for d in out), reverse=True)


def test_hybrid_scores_are_meaningful(index) -> None:
    out = ask(index, "Who founded the duchy of Normandy?")
    top = out[0]
    assert top.meta["title"] == "Normans"
    assert -1.0 <= top.meta["dense_score"] <= 1.0
    assert top.meta["bm25_score"] > 0
    assert top.score > out[1].score
    dense = ask(index, "Who founded the duchy of Normandy?", mode="dense")
    assert dense[0].score == pytest.approx(top.meta["dense_score"], abs=1e-4)  # cosine either way


def test_hybrid_rescues_a_passage_dense_alone_misses(index) -> None:
    # Only the digits "1636" tie this question to its passage: BM25 finds it, the dense side must
    # still score it (from the stored embedding) for fusion to rank it.
    out = ask(index, "1636", candidates=1)
    assert out[0].id == "harvard"
    assert out[0].meta["dense_score"] is not None


def test_bad_mode_is_refused(index) -> None:
    store, bm25, _ = index
    with pytest.raises(ValueError, match="mode"):
        HybridRetriever(store, bm25, mode="sparse")  # type: ignore[arg-type]


def write_squad(path: Path) -> Path:
    data = {"version": "v2.0", "data": [
        {"title": "A", "paragraphs": [
            {"context": "alpha text", "qas": [
                {"id": "q1", "question": "about alpha?", "is_impossible": False, "answers": []},
                {"id": "q2", "question": "impossible?", "is_impossible": True, "answers": []}]},
            {"context": "beta text", "qas": [
                {"id": "q3", "question": "about beta?", "is_impossible": False, "answers": []}]}]},
        {"title": "B", "paragraphs": [{"context": "gamma text", "qas": []}]},
    ]}
    path.write_text(json.dumps(data))
    return path


def test_load_squad_passages_one_per_paragraph_with_stable_ids(tmp_path: Path) -> None:
    path = write_squad(tmp_path / "s.json")
    passages, questions = load_squad_passages(path)
    again, _ = load_squad_passages(path)
    assert [p.content for p in passages] == ["alpha text", "beta text", "gamma text"]
    assert [p.meta["title"] for p in passages] == ["A", "A", "B"]
    assert [p.id for p in passages] == [p.id for p in again]
    assert len({p.id for p in passages}) == 3
    assert questions == [("q1", "about alpha?", passages[0].id), ("q3", "about beta?", passages[1].id)]


def test_load_squad_passages_names_the_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}')
    with pytest.raises(ValueError, match=r"bad\.json.*context"):
        load_squad_passages(bad)
    bad.write_text("not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_squad_passages(bad)


def test_evaluate_retrieval_counts_recall_and_mrr() -> None:
    questions = [("1", "q1", "a"), ("2", "q2", "b"), ("3", "q3", "z")]
    rankings = {"q1": ["a", "x"], "q2": ["x", "y", "b"], "q3": ["x"]}
    r = evaluate_retrieval(lambda q: rankings[q], questions, ks=(1, 3))
    assert r["recall@1"] == pytest.approx(1 / 3)
    assert r["recall@3"] == pytest.approx(2 / 3)
    assert r["mrr"] == pytest.approx((1 + 1 / 3) / 3)
    assert r["p50_ms"] >= 0 and r["p95_ms"] >= r["p50_ms"]
    assert set(r) == {"recall@1", "recall@3", "mrr", "p50_ms", "p95_ms"}
