"""Hybrid fusion, written once above the engines (``document_stores/hybrid.py``): the fusion arithmetic on
crafted scores, and :func:`hybrid_retrieval` over a toy engine — the union of candidates, each side's score
filled in for the other side's candidates, the score metadata."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pytest
from haystack import Document

from docqa.errors import InvalidInputError
from docqa.pipelines.document_stores.hybrid import fuse_scores, hybrid_retrieval

NAN = float("nan")


def order(fused: np.ndarray, ids: Sequence[str]) -> list[str]:
    return [ids[i] for i in np.argsort(-fused, kind="stable")]


def test_rrf_order_on_crafted_example() -> None:
    ids = ["a", "b", "c", "d"]
    dense = np.array([0.9, 0.8, 0.7, NAN])
    bm25 = np.array([11.0, NAN, 12.0, 3.0])
    fused = fuse_scores([dense, bm25], [0.5, 0.5], "rrf", 60.0)
    # a: 1/61 + 1/62, c: 1/63 + 1/61, b: 1/62, d: 1/63 (each halved by the equal weights)
    assert order(fused, ids) == ["a", "c", "b", "d"]
    assert fused[0] == pytest.approx(0.5 / 61 + 0.5 / 62)


def test_weights_decide_which_side_wins() -> None:
    ids = ["a", "c"]
    dense, bm25 = np.array([0.9, 0.7]), np.array([11.0, 12.0])
    assert order(fuse_scores([dense, bm25], [0.1, 0.9], "rrf"), ids)[0] == "c"
    assert order(fuse_scores([dense, bm25], [0.9, 0.1], "rrf"), ids)[0] == "a"


def test_zscore_uses_margins_not_just_ranks() -> None:
    # Dense barely prefers "b" over "a"; BM25 prefers "a" by a mile. Ranks alone tie a and b.
    ids = ["a", "b", "x"]
    dense = np.array([0.79, 0.80, 0.20])
    bm25 = np.array([30.0, 5.0, 4.0])
    assert order(fuse_scores([dense, bm25], [0.5, 0.5], "zscore"), ids)[0] == "a"


def test_zscore_unscored_candidate_gets_the_columns_floor() -> None:
    ids = ["a", "b", "c", "d"]
    dense = np.array([0.9, 0.8, 0.7, NAN])
    bm25 = np.array([11.0, NAN, 12.0, 3.0])
    assert order(fuse_scores([dense, bm25], [0.5, 0.5]), ids)[-1] == "d"


def test_mismatched_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        fuse_scores([np.array([1.0]), np.array([2.0])], [1.0])


class ToyEngine:
    """Two sides over five passages: dense prefers p1, BM25 prefers p4; p5 is dense-invisible."""

    DENSE = {"p1": 0.9, "p2": 0.8, "p3": 0.5, "p4": 0.4, "p5": 0.1}
    BM25 = {"p4": 20.0, "p5": 9.0, "p2": 3.0}

    def __init__(self) -> None:
        self.asked_dense_for: list[str] = []

    def dense_top(self, query_embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        ranked = sorted(self.DENSE.items(), key=lambda kv: -kv[1])
        return [kv for kv in ranked if kv[0] != "p5"][:k]

    def bm25_top(self, query: str, k: int, also: Collection[str]):
        ranked = sorted(self.BM25.items(), key=lambda kv: -kv[1])[:k]
        return ranked, {key: self.BM25[key] for key in also if key in self.BM25}

    def dense_scores(self, query_embedding: np.ndarray, keys: Sequence[str]) -> dict[str, float]:
        self.asked_dense_for.extend(keys)
        return {key: self.DENSE[key] for key in keys}

    def documents(self, keys: Sequence[str]) -> dict[str, Document]:
        return {key: Document(id=key, content=f"passage {key}", meta={"file": f"{key}.txt"}) for key in keys}


def test_hybrid_scores_the_union_on_both_sides_and_reports_each_score() -> None:
    engine = ToyEngine()
    out = hybrid_retrieval(engine, "q", np.zeros(3), top_k=5, candidates=3)
    by_id = {d.id: d for d in out}
    # candidates (pool = max(candidates, top_k) = 5): dense p1-p4 ∪ BM25 p4, p5, p2; only BM25 saw p5, so
    # its dense score is fetched from its stored vector, and nothing else is.
    assert set(by_id) == {"p1", "p2", "p3", "p4", "p5"}
    assert engine.asked_dense_for == ["p5"]
    assert by_id["p5"].meta["dense_score"] == pytest.approx(0.1)
    assert by_id["p2"].meta["bm25_score"] == pytest.approx(3.0)  # a dense candidate's BM25, from `also`
    assert by_id["p1"].meta["bm25_score"] == 0.0  # shares no term
    assert by_id["p1"].meta["file"] == "p1.txt"
    assert [d.score for d in out] == sorted((d.score for d in out), reverse=True)


def test_bm25_weight_moves_the_winner_and_bad_settings_name_the_setting() -> None:
    assert hybrid_retrieval(ToyEngine(), "q", np.zeros(3), top_k=1, bm25_weight=0.0)[0].id == "p1"
    assert hybrid_retrieval(ToyEngine(), "q", np.zeros(3), top_k=1, bm25_weight=1.0)[0].id == "p4"
    with pytest.raises(InvalidInputError, match="bm25_weight"):
        hybrid_retrieval(ToyEngine(), "q", np.zeros(3), top_k=1, bm25_weight=1.5)
    with pytest.raises(InvalidInputError, match="fusion"):
        hybrid_retrieval(ToyEngine(), "q", np.zeros(3), top_k=1, fusion="max")  # type: ignore[arg-type]
    assert hybrid_retrieval(ToyEngine(), "q", np.zeros(3), top_k=0) == []
