"""One order from two opinions: the cross-encoder's logit and retrieval's own score, per question.

Why fuse instead of replacing retrieval's order: the two make different mistakes. Retrieval scores a
passage from the question's vector and its words (BM25), never both texts together; a small cross-encoder
reads both but, trained on two CPU cores for an hour, still ranks some passages by topic alone. On the dev
articles (Harvard_University, Force; the test articles are held out) the reranker alone and hybrid
retrieval alone each put the gold passage first for fewer questions than their sum: see
``data/reranker/TRAINING.md`` for the measured weights and figures.

How: each signal is z-scored over the question's top-N candidates (so the fusion is the same for the local
store's z-score fusion, Milvus's scores or any retriever's scale), then

    fused = z(rerank logit) + weight × z(retrieval score)

``weight`` is chosen on the dev articles (:func:`best_weight`) and ships in the model's ``reranker.json``
(``retrieval_weight``); 0 is the cross-encoder's order alone. No Haystack or torch import: the training
script uses this module on machines without them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Weights tried on dev: 0 (reranker alone) to 3 (retrieval dominates).
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0)


def zscore(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` centred and scaled to unit deviation (all zeros when they are all equal)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return array
    spread = float(array.std())
    if spread < 1e-9:
        return np.zeros_like(array)
    return (array - array.mean()) / spread


def fused_scores(rerank: Sequence[float] | np.ndarray, retrieval: Sequence[float | None] | np.ndarray | None,
                 weight: float) -> np.ndarray:
    """The fused score of each candidate; the logits alone when ``weight`` is 0 or a retrieval score is
    missing (a retriever that gives none cannot be weighed)."""
    logits = np.asarray(rerank, dtype=np.float64)
    if weight == 0.0 or retrieval is None or len(retrieval) != len(logits) or any(
            s is None for s in retrieval):
        return logits
    return zscore(logits) + weight * zscore(np.asarray(retrieval, dtype=np.float64))


# Confidence gaps tried on dev (scripts/fit_reranker_fusion.py): skip the cross-encoder from this gap up.
GAP_GRID: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


def confidence_gap(retrieval: Sequence[float | None] | np.ndarray | None) -> float:
    """How far retrieval's best candidate stands above its second, in standard deviations of the
    candidates' scores (0 when there are fewer than two or a score is missing: nothing to lean on).

    Why: where retrieval is sure, the cross-encoder rarely changes the top passage for the better. On the
    dev articles (314 questions, N = 10) skipping it whenever this gap is ≥ 1.25 skipped it for 71% of
    them, and the gold passage came first slightly more often than when every question was reranked
    (R@1 0.908 vs 0.904, MRR 0.936 vs 0.934; every gap from 0.5 to 2.0 gave the same): the reranker earns
    its cost on the unsure questions only. 1.25 sits inside that plateau (``scripts/fit_reranker_fusion.py``
    prints it).
    """
    if retrieval is None or len(retrieval) < 2 or any(s is None for s in retrieval):
        return 0.0
    z = np.sort(zscore(np.asarray(retrieval, dtype=np.float64)))[::-1]
    return float(z[0] - z[1])


def best_weight(metric: Callable[[float], float], grid: Sequence[float] = WEIGHT_GRID) -> tuple[float, float]:
    """The weight of ``grid`` with the highest ``metric(weight)`` (the smallest on ties) and that value."""
    best, value = grid[0], -np.inf
    for weight in grid:
        score = metric(weight)
        if score > value + 1e-12:
            best, value = weight, score
    return float(best), float(value)
