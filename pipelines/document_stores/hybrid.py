"""Hybrid retrieval, written once above the engines: dense and BM25 candidates, both scored on their union,
fused into one ranking.

Each engine (the local segment store, Milvus) supplies four primitives — :class:`HybridEngine` — and
:func:`hybrid_retrieval` does the rest: the candidate union, filling in each side's score for the other
side's candidates, the fusion and the score metadata (``meta["dense_score"]``, ``meta["bm25_score"]``).
Like the anchors (Haystack's document stores, LanceDB, txtai), fusion sits above the engines, so the two
stores cannot drift apart.

Why hybrid fusion is shaped this way (numbers from ``benchmarks/ingest_retrieve.py``, 955 SQuAD passages,
1,705 questions):
- Each side contributes its top ``candidates`` (100) passages, and *both* sides score the union: the dense
  score of a BM25-only candidate is a dot product with its stored embedding, the BM25 score of a dense-only
  candidate comes from the same postings. Fusing exact scores instead of imputing a floor for missing
  ones: R@1 0.852 vs 0.840.
- z-score fusion with equal weights beats reciprocal rank fusion on the same candidates (R@1 0.852 vs
  0.771 for RRF k=60; R@5 0.971 vs 0.951): standardising each side's scores over the candidate set keeps
  how *much* better the top hit is, which rank-only fusion (Haystack's ``DocumentJoiner``) throws away.
  Weighted RRF is kept as a mode because it needs no scores and is robust when one side's scores are
  degenerate.
- Boosting passages whose document also has other top hits did not help (R@1 +0.003 at best, R@5 flat):
  the title is already a BM25 field, which carries that evidence. Not used.
On Milvus Lite the same fusion gave R@1 0.888 against Milvus's own ``hybrid_search`` rankers' 0.782 (RRF)
and 0.760 (Weighted) (``benchmarks/milvus_hybrid.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Literal, Protocol, TypeVar

import numpy as np
from haystack import Document

from docqa.errors import InvalidInputError

FusionMethod = Literal["zscore", "rrf"]
DEFAULT_CANDIDATES = 100
DEFAULT_BM25_WEIGHT = 0.5

Key = TypeVar("Key", bound=Hashable)


class HybridEngine(Protocol[Key]):
    """What an engine gives hybrid retrieval. ``Key`` is the engine's row key (the local store's row id,
    Milvus's passage id); scores are higher-is-better (cosine for dense, BM25 for keywords)."""

    def dense_top(self, query_embedding: np.ndarray, k: int) -> list[tuple[Key, float]]:
        """The ``k`` nearest rows by cosine, best first."""
        ...

    def bm25_top(
        self, query: str, k: int, also: Collection[Key]
    ) -> tuple[list[tuple[Key, float]], Mapping[Key, float]]:
        """The ``k`` best rows by BM25 (rows sharing no term left out), and the BM25 score of each row in
        ``also`` (the dense candidates) that has one."""
        ...

    def dense_scores(self, query_embedding: np.ndarray, keys: Sequence[Key]) -> Mapping[Key, float]:
        """Cosine of ``query_embedding`` with the stored vectors of ``keys`` (the BM25-only candidates)."""
        ...

    def documents(self, keys: Sequence[Key]) -> Mapping[Key, Document]:
        """The stored passages of ``keys`` (rows deleted meanwhile may be missing)."""
        ...


def check_fusion(bm25_weight: float, fusion: str) -> None:
    """Refuse hybrid settings that cannot mean anything, naming the setting."""
    if not 0.0 <= bm25_weight <= 1.0:
        raise InvalidInputError(f"bm25_weight must be between 0 and 1, got {bm25_weight}")
    if fusion not in ("zscore", "rrf"):
        raise InvalidInputError(f"unknown fusion {fusion!r}; use 'zscore' or 'rrf'")


def _zscores(scores: np.ndarray) -> np.ndarray:
    std = float(scores.std())
    if std < 1e-12:  # all equal (or a single candidate): no evidence either way
        return np.zeros_like(scores)
    return (scores - float(scores.mean())) / std


def fuse_scores(
    columns: Sequence[np.ndarray],
    weights: Sequence[float],
    method: FusionMethod = "zscore",
    rrf_k: float = 60.0,
) -> np.ndarray:
    """Fused score per candidate from one score column per side (NaN: that side did not score it).

    zscore: standardise each column over its scored candidates, unscored ones get the column's minimum,
    weighted sum. rrf: rank each column (1 = highest score), ``weight / (rrf_k + rank)``, unscored add 0.
    """
    if len(columns) != len(weights):
        raise ValueError(f"fuse_scores: {len(columns)} score columns but {len(weights)} weights")
    n = len(columns[0]) if columns else 0
    fused = np.zeros(n, dtype=np.float64)
    for col, weight in zip(columns, weights, strict=True):
        col = np.asarray(col, dtype=np.float64)
        scored = ~np.isnan(col)
        if weight == 0 or not scored.any():
            continue
        contribution = np.zeros(n, dtype=np.float64)
        if method == "rrf":
            idx = np.flatnonzero(scored)
            order = idx[np.argsort(-col[idx], kind="stable")]
            contribution[order] = 1.0 / (rrf_k + np.arange(1, len(order) + 1))
        else:
            z = _zscores(col[scored])
            contribution[:] = float(z.min())
            contribution[scored] = z
        fused += weight * contribution
    return fused


def hybrid_retrieval(
    engine: HybridEngine[Key],
    query: str,
    query_embedding: np.ndarray,
    top_k: int,
    *,
    candidates: int = DEFAULT_CANDIDATES,
    bm25_weight: float = DEFAULT_BM25_WEIGHT,
    fusion: FusionMethod = "zscore",
    rrf_k: float = 60.0,
) -> list[Document]:
    """Dense and BM25 candidates (``candidates`` from each, at least ``top_k``), both scored on their union,
    fused; copies of the ``top_k`` best passages with the fused score in ``score`` and each side's score in
    ``meta["dense_score"]`` / ``meta["bm25_score"]`` (0.0 where BM25 shares no term with the question).

    :param query_embedding: the question's embedding as the engine expects it (checked by the caller).
    :param bm25_weight: BM25's share of the fused score (dense gets the rest).
    :param fusion: ``"zscore"`` (standardised scores, the default) or ``"rrf"`` (reciprocal rank).
    :raises InvalidInputError: a weight outside [0, 1] or an unknown fusion.
    """
    check_fusion(bm25_weight, fusion)
    if top_k <= 0:
        return []
    pool = max(int(candidates), int(top_k))
    dense_hits = engine.dense_top(query_embedding, pool)
    dense_score = dict(dense_hits)
    bm25_hits, bm25_of_dense = engine.bm25_top(query, pool, dense_score.keys())
    bm25_score = dict(bm25_of_dense)
    bm25_score.update(bm25_hits)
    rescued = [key for key, _ in bm25_hits if key not in dense_score]
    if rescued:
        dense_score.update(engine.dense_scores(query_embedding, rescued))
    keys = list(dict.fromkeys([key for key, _ in dense_hits] + [key for key, _ in bm25_hits]))
    if not keys:
        return []
    nan = float("nan")
    columns = [
        np.array([dense_score.get(key, nan) for key in keys], dtype=np.float64),
        np.array([bm25_score.get(key, nan) for key in keys], dtype=np.float64),
    ]
    fused = fuse_scores(columns, [1.0 - bm25_weight, bm25_weight], fusion, float(rrf_k))
    order = np.argsort(-fused, kind="stable")
    out = []
    for i, doc in distinct_passages(engine, [keys[i] for i in order], top_k):
        key = keys[order[i]]
        meta = {**doc.meta, "dense_score": dense_score.get(key), "bm25_score": bm25_score.get(key, 0.0)}
        out.append(replace(doc, score=float(fused[order[i]]), meta=meta))
    return out


def distinct_passages(
    engine: HybridEngine[Key], ranked: Sequence[Key], top_k: int
) -> list[tuple[int, Document]]:
    """The first ``top_k`` of ``ranked`` (best first) as ``(position in ranked, Document)``, skipping a
    passage whose text equals a better one's *of the same file*.

    Why: a file that repeats itself is cut into identical passages (a 128 KB keyword-stuffed file gave 114
    of one text), and they tie in every score, so they filled the results: the search page listed the same
    text five times and the reader read it five times. The same text in two files stays twice: each file
    is a source. Documents are fetched a few more than needed at a time, so the usual case (no repeats)
    costs one fetch of ``top_k``, as before.
    """
    out: list[tuple[int, Document]] = []
    seen: set[tuple[str, str]] = set()
    start = 0
    while len(out) < top_k and start < len(ranked):
        wanted = top_k - len(out) + (8 if start else 0)  # after a repeat, fetch a few spare ones
        chunk = list(ranked[start:start + wanted])
        docs = engine.documents(chunk)
        for offset, key in enumerate(chunk):
            doc = docs.get(key)
            if doc is None:
                continue
            identity = (str(doc.meta.get("source_key") or doc.meta.get("file") or doc.id), doc.content or "")
            if identity in seen:
                continue
            seen.add(identity)
            out.append((start + offset, doc))
            if len(out) == top_k:
                break
        start += len(chunk)
    return out
