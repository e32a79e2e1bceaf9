"""Fusion of ranked lists: reciprocal-rank order and score-aware (z-score) order on crafted inputs."""

from __future__ import annotations

import pytest
from haystack import Document

from docqa.pipelines.components.retrievers.fusion import ScoreFusion


def ranked(*pairs: tuple[str, float]) -> list[Document]:
    return [Document(id=i, content=i, score=s) for i, s in pairs]


DENSE = ranked(("a", 0.9), ("b", 0.8), ("c", 0.7))
SPARSE = ranked(("c", 12.0), ("a", 11.0), ("d", 3.0))


def order(docs: list[Document]) -> list[str]:
    return [d.id for d in docs]


def test_rrf_order_on_crafted_example() -> None:
    out = ScoreFusion(method="rrf", rrf_k=60).run(documents=[DENSE, SPARSE])["documents"]
    # a: 1/61 + 1/62, c: 1/63 + 1/61, b: 1/62, d: 1/63 (each halved by the equal weights)
    assert order(out) == ["a", "c", "b", "d"]
    assert out[0].score == pytest.approx(0.5 / 61 + 0.5 / 62)


def test_weights_decide_which_list_wins() -> None:
    fusion = ScoreFusion(method="rrf")
    out = fusion.run(documents=[DENSE, SPARSE], weights=[0.1, 0.9])["documents"]
    assert order(out)[0] == "c"


def test_zscore_uses_margins_not_just_ranks() -> None:
    # Dense barely prefers "b" over "a"; BM25 prefers "a" by a mile. Ranks alone tie a and b.
    dense = ranked(("b", 0.80), ("a", 0.79), ("x", 0.20))
    sparse = ranked(("a", 30.0), ("b", 5.0), ("x", 4.0))
    assert order(ScoreFusion(method="zscore").run(documents=[dense, sparse])["documents"])[0] == "a"


def test_zscore_missing_document_gets_the_lists_floor() -> None:
    out = ScoreFusion().run(documents=[DENSE, SPARSE], top_k=4)["documents"]
    assert set(order(out)) == {"a", "b", "c", "d"}
    assert out == sorted(out, key=lambda d: -d.score)
    # "d" is missing from the dense list and last in BM25: it must come last.
    assert order(out)[-1] == "d"


def test_outputs_are_copies_and_top_k_is_respected() -> None:
    out = ScoreFusion(top_k=2).run(documents=[DENSE, SPARSE])["documents"]
    assert len(out) == 2
    assert DENSE[0].score == 0.9  # input untouched


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        ScoreFusion().run(documents=[DENSE, SPARSE], weights=[1.0])
    with pytest.raises(ValueError, match="unknown method"):
        ScoreFusion(method="max")  # type: ignore[arg-type]
