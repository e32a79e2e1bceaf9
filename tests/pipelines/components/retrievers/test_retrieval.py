"""The document store's retrieval methods and the retriever components on a tiny corpus, and the
evaluation helpers `docqa eval` builds on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from docqa.errors import InvalidInputError
from docqa.ingest.records import SourceFile
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
from docqa.pipelines.components.retrievers.search_mode import SearchMode
from docqa.pipelines.components.retrievers.store_retrievers import (
    DocQABM25Retriever,
    DocQAEmbeddingRetriever,
    DocQAHybridRetriever,
    retriever_for,
)
from docqa.pipelines.document_stores.local.index import InMemoryIndex, LocalIndex
from docqa.pipelines.document_stores.local.store import LocalDocumentStore
from docqa.pipelines.evaluation.retrieval_eval import evaluate_retrieval, load_squad_passages
from tests.bm25_reference import BM25Index

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
MODEL = "packaged-minilm"


def corpus_snapshot() -> InMemoryIndex:
    """The five passages, embedded by the real packaged embedder, as one in-memory snapshot."""
    docs = [Document(id=k, content=c, meta={"title": t}) for k, (t, c) in TEXTS.items()]
    embedded = PassageEmbedder().run(documents=docs)["documents"]
    vectors = np.asarray([d.embedding for d in embedded], dtype=np.float32)
    source = SourceFile(key="corpus", file_name="corpus", title="corpus", kind="test", sha256="", size=0,
                        mtime_ns=0, page_lengths=[], passage_ids=list(TEXTS), ingested_at="")
    return InMemoryIndex.empty(MODEL, vectors.shape[1]).replace_files(set(), [(source, docs, vectors)])


@pytest.fixture(scope="module")
def snapshot() -> InMemoryIndex:
    return corpus_snapshot()


@pytest.fixture(scope="module")
def store(snapshot: InMemoryIndex) -> LocalDocumentStore:
    return LocalDocumentStore(snapshot)


@pytest.fixture(scope="module")
def embed():
    embedder = QueryEmbedder()
    return lambda text: embedder.run(text=text)["embedding"]


@pytest.fixture(scope="module")
def disk_store(tmp_path_factory, snapshot: InMemoryIndex) -> LocalDocumentStore:
    """The same passages committed to an index directory, opened as a store (what DocQA does)."""
    directory = tmp_path_factory.mktemp("retrieval") / "index"
    with LocalIndex(directory).writer() as writer:
        writer.commit(snapshot)
    return LocalDocumentStore(directory, embedding_model=MODEL)


def ask(store: LocalDocumentStore, embed, question: str, mode: str = "hybrid", **kw) -> list[Document]:
    if mode == "hybrid":
        retriever = DocQAHybridRetriever(document_store=store, **kw)
        return retriever.run(query=question, query_embedding=embed(question), top_k=3)["documents"]
    retriever = retriever_for(mode, store)
    if mode == "dense":
        return retriever.run(query_embedding=embed(question), top_k=3)["documents"]
    return retriever.run(query=question, top_k=3)["documents"]


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
def test_each_mode_finds_the_right_passage(store, embed, question: str, gold: str, mode: str) -> None:
    out = ask(store, embed, question, mode=mode)
    assert out[0].id == gold
    assert all(d.score is not None for d in out)
    assert [d.score for d in out] == sorted((d.score for d in out), reverse=True)


def test_hybrid_scores_are_meaningful(store, embed) -> None:
    out = ask(store, embed, "Who founded the duchy of Normandy?")
    top = out[0]
    assert top.meta["title"] == "Normans"
    assert -1.0 <= top.meta["dense_score"] <= 1.0
    assert top.meta["bm25_score"] > 0
    assert top.score > out[1].score
    dense = ask(store, embed, "Who founded the duchy of Normandy?", mode="dense")
    assert dense[0].score == pytest.approx(top.meta["dense_score"], abs=1e-4)  # cosine either way


def test_hybrid_rescues_a_passage_dense_alone_misses(store, embed) -> None:
    # Only the digits "1636" tie this question to its passage: BM25 finds it, the dense side must
    # still score it (from the stored embedding) for fusion to rank it.
    out = ask(store, embed, "1636", candidates=1)
    assert out[0].id == "harvard"
    assert out[0].meta["dense_score"] is not None


def test_bad_settings_are_refused_naming_the_setting(store) -> None:
    with pytest.raises(InvalidInputError, match="unknown search mode 'sparse'"):
        retriever_for("sparse", store)
    with pytest.raises(InvalidInputError, match="bm25_weight"):
        DocQAHybridRetriever(document_store=store, bm25_weight=2.0)
    with pytest.raises(InvalidInputError, match="fusion"):
        DocQAHybridRetriever(document_store=store, fusion="max")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="document_store"):
        DocQABM25Retriever(document_store=object())  # type: ignore[arg-type]


def test_search_mode_from_str_lists_the_choices() -> None:
    assert SearchMode.from_str("bm25") is SearchMode.BM25
    assert SearchMode.from_str(SearchMode.DENSE) is SearchMode.DENSE
    assert SearchMode.HYBRID == "hybrid"
    with pytest.raises(InvalidInputError) as err:
        SearchMode.from_str("magic")
    assert str(err.value) == "unknown search mode 'magic'; choose one of: hybrid, dense, bm25"
    assert isinstance(err.value, ValueError)


def reference_ranking(snapshot: InMemoryIndex, store: LocalDocumentStore, question: str, query_embedding,
                      mode: str) -> list[tuple[str, float]]:
    """What each mode must return, computed the long way: exact cosine over every passage; BM25 over
    every passage (today's in-memory ``BM25Index``, independent of the store's segment postings); z-scores
    of both over the union of candidates (all five here), averaged."""
    cosine = snapshot.embeddings.astype(np.float64) @ np.asarray(query_embedding, dtype=np.float64)
    ids = [d.id for d in snapshot.passages]
    row_ids, bm25_all = BM25Index(snapshot.passages).score_all(question)
    bm25 = np.array([bm25_all[row_ids.index(i)] for i in ids], dtype=np.float64)
    if mode == "dense":
        scores = cosine
    elif mode == "bm25":
        scores = bm25
    else:
        z = [(c - c.mean()) / c.std() for c in (cosine, bm25)]
        scores = 0.5 * z[0] + 0.5 * z[1]
    order = np.argsort(-scores, kind="stable")
    return [(ids[i], float(scores[i])) for i in order if mode != "bm25" or scores[i] > 0]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
@pytest.mark.parametrize(
    "question", ["Who founded the duchy of Normandy?", "steam engine work", "oldest university 1636"]
)
def test_store_retrieval_methods_rank_like_the_reference(snapshot, store, embed, mode, question) -> None:
    embedding = embed(question)
    if mode == "hybrid":
        got = store.hybrid_retrieval(question, embedding, top_k=5)
    elif mode == "dense":
        got = store.embedding_retrieval(embedding, top_k=5)
    else:
        got = store.bm25_retrieval(question, top_k=5)
    expected = reference_ranking(snapshot, store, question, embedding, mode)
    assert [d.id for d in got] == [i for i, _ in expected]
    assert [d.score for d in got] == pytest.approx([s for _, s in expected], abs=1e-4)


def test_store_counts_and_refuses_a_wrong_embedding(store) -> None:
    assert store.count_documents() == 5
    with pytest.raises(InvalidInputError, match="384"):
        store.embedding_retrieval([0.1, 0.2], top_k=1)
    assert store.embedding_retrieval([0.0] * 384, top_k=0) == []
    with pytest.raises(InvalidInputError, match="in-memory index cannot be serialised"):
        store.to_dict()


@pytest.mark.parametrize("cls", [DocQABM25Retriever, DocQAEmbeddingRetriever, DocQAHybridRetriever])
def test_retriever_round_trips_through_to_dict_and_still_retrieves(disk_store, embed, cls) -> None:
    kwargs = {"candidates": 3, "bm25_weight": 0.4} if cls is DocQAHybridRetriever else {}
    retriever = cls(document_store=disk_store, top_k=2, **kwargs)
    data = retriever.to_dict()
    assert data["init_parameters"]["document_store"]["init_parameters"]["index_dir"] == str(
        disk_store.index.directory
    )
    again = cls.from_dict(data)
    assert again.to_dict() == data
    assert again.document_store is not disk_store
    question = "Who founded the duchy of Normandy?"
    inputs = {"query": question, "query_embedding": embed(question)}
    wanted = {k: v for k, v in inputs.items() if k in again.__haystack_input__._sockets_dict}
    out = again.run(**wanted)["documents"]
    assert [d.id for d in out] == [d.id for d in retriever.run(**wanted)["documents"]]
    assert 1 <= len(out) <= 2 and out[0].id == "normans"  # top_k survived; BM25 leaves out non-matches


def test_directory_store_follows_commits_by_another_writer(tmp_path: Path, snapshot: InMemoryIndex) -> None:
    directory = tmp_path / "index"
    store = LocalDocumentStore(directory, embedding_model=MODEL)
    assert store.count_documents() == 0 and store.bm25_retrieval("steam", top_k=3) == []
    with LocalIndex(directory).writer() as writer:
        writer.commit(snapshot)
    assert [d.id for d in store.bm25_retrieval("steam engine", top_k=1)] == ["steam"]
    smaller = snapshot.replace_files({"corpus"}, [])
    with LocalIndex(directory).writer() as writer:
        writer.commit(smaller)
    assert store.count_documents() == 0


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
