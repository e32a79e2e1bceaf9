"""The document store: one index directory's passages, embeddings, FAISS index and BM25 index, and the
retrieval methods over them (BM25, embedding, hybrid).

Why the store owns the scoring (as Haystack's ``InMemoryDocumentStore.bm25_retrieval`` /
``embedding_retrieval`` do): hybrid fusion needs both indexes *and* the stored embeddings of BM25-only
candidates; a retriever that reached into two stores' internals for that (as ``HybridRetriever`` once did)
had two owners for one job. Retriever components (``docqa.pipelines.components.retrievers.local_retrievers``)
are thin: they are handed a store and call one method.

Why hybrid fusion is shaped this way (numbers from ``benchmarks/ingest_retrieve.py``, 955 SQuAD passages,
1,705 questions):
- Each side contributes its top ``candidates`` (100) passages, and *both* sides score the union: BM25
  scores every passage anyway, and the dense score of a BM25-only candidate is a dot product with its
  stored embedding. Fusing exact scores instead of imputing a floor for missing ones: R@1 0.852 vs 0.840.
- z-score fusion with equal weights beats reciprocal rank fusion on the same candidates (R@1 0.852 vs
  0.771 for RRF k=60; R@5 0.971 vs 0.951); see :mod:`docqa.pipelines.components.retrievers.fusion`.
- BM25 with stems, stop words removed, the title as a field and adjacent-stem bigrams is the strongest
  single signal (R@1 0.865 alone vs 0.812 for Haystack's BM25); with it, hybrid R@1 0.889, R@5 0.974.
- Boosting passages whose document also has other top hits did not help (R@1 +0.003 at best, R@5 flat):
  the title is already a BM25 field, which carries that evidence. Not used.

Writes go through :class:`~docqa.pipelines.document_stores.snapshots.DocumentIndex` (a SQLite catalog plus
immutable segments); this store follows them through a
:class:`~docqa.pipelines.document_stores.searcher.SegmentSearcher`: before each query it reads the catalog's
generation (one indexed row) and, when another process committed, maps only the new segments and applies
the new tombstones. Every query runs against one immutable search state, so it never sees a half-applied
ingest. Dense search is exact over small segments and IVF over large ones (see ``segments.py``); passages'
text comes from the catalog only for the hits returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from haystack import Document

from docqa.errors import InvalidInputError
from docqa.pipelines.components.retrievers.fusion import fuse_scores
from docqa.pipelines.document_stores.searcher import SearchState, SegmentSearcher
from docqa.pipelines.document_stores.segments import Analyzer, build_segment
from docqa.pipelines.document_stores.snapshots import DocumentIndex, Snapshot

FusionMethod = Literal["zscore", "rrf"]
DEFAULT_CANDIDATES = 100
DEFAULT_BM25_WEIGHT = 0.5
_SCORING = ("k1", "b")


def check_fusion(bm25_weight: float, fusion: str) -> None:
    """Refuse hybrid settings that cannot mean anything, naming the setting."""
    if not 0.0 <= bm25_weight <= 1.0:
        raise InvalidInputError(f"bm25_weight must be between 0 and 1, got {bm25_weight}")
    if fusion not in ("zscore", "rrf"):
        raise InvalidInputError(f"unknown fusion {fusion!r}; use 'zscore' or 'rrf'")


class LocalDocumentStore:
    """Passages, embeddings and BM25 postings of one DocQA index, with the retrieval methods.

    Open a directory (follows other processes' commits) or wrap an in-memory snapshot (``docqa eval``'s
    temporary index)::

        from docqa.pipelines.document_stores.local_store import LocalDocumentStore

        store = LocalDocumentStore("./docqa-index", embedding_model="sentence-transformers/all-MiniLM-L6-v2")
        store.bm25_retrieval("steam engine condenser", top_k=3)
        store.embedding_retrieval(query_embedding, top_k=3)          # cosine in ``score``
        store.hybrid_retrieval("steam engine condenser", query_embedding, top_k=3)
        same = LocalDocumentStore.from_dict(store.to_dict())

        LocalDocumentStore(snapshot).count_documents()  # an in-memory snapshot

    Scores: BM25 score (``bm25_retrieval``), cosine similarity (``embedding_retrieval``), fused z-score
    (``hybrid_retrieval``: about 0 is an average candidate, 3+ a clear winner; ``meta["dense_score"]`` and
    ``meta["bm25_score"]`` are added to the returned copies). Thread-safe: queries from several threads
    share one search state, and a catch-up happens once.

    :param source: the index directory (or its :class:`DocumentIndex`), or an in-memory :class:`Snapshot`
        (searched exactly as it is, never reloaded; its postings are built at once, so a caller can time
        building apart from querying).
    :param embedding_model: the model a directory's index must have been built with (checked on load);
        a snapshot's own model when left out.
    :param embedding_dim: only used while a directory's index is still empty.
    :param bm25_parameters: ``k1``, ``b`` and, for an in-memory snapshot, the analyzer (``language``,
        ``remove_stopwords``, ``title_field``, ``title_weight``, ``bigrams``); a directory's analyzer is the
        one its postings were built with.
    """

    def __init__(
        self,
        source: str | Path | DocumentIndex | Snapshot,
        *,
        embedding_model: str | None = None,
        embedding_dim: int | None = None,
        bm25_parameters: dict[str, Any] | None = None,
    ) -> None:
        self.bm25_parameters = dict(bm25_parameters or {})
        scoring = {k: v for k, v in self.bm25_parameters.items() if k in _SCORING}
        self.index: DocumentIndex | None = None
        self._fixed: Snapshot | None = None
        self._searcher: SegmentSearcher | None = None
        self._scoring = scoring
        if isinstance(source, Snapshot):
            self.embedding_model = embedding_model or str(source.meta.get("embedding_model", ""))
            self.embedding_dim = source.dim
            self._fixed = source
            analyzer = Analyzer.from_parameters(self.bm25_parameters)
            tokenizer = analyzer.tokenizer()
            counts = [analyzer.counts(tokenizer, d.content or "", d.meta) for d in source.passages]
            segment = build_segment(np.arange(len(source.passages)), source.embeddings, counts, ivf=False)
            self._searcher = SegmentSearcher(
                None, segments=[segment], analyzer=analyzer, dim=source.dim, **scoring
            )
            return
        if not embedding_model:
            raise InvalidInputError("LocalDocumentStore: embedding_model is required for an index directory")
        self.index = source if isinstance(source, DocumentIndex) else DocumentIndex(source)
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim

    # ----- the live index -----
    def _state(self) -> SearchState:
        """The search state of the live generation (catching up first if another process committed)."""
        if self._fixed is not None:
            return self._searcher.state
        assert self.index is not None  # a store has a snapshot or a directory
        if self._searcher is None:
            self.index.ensure_format()
            meta = self.index.meta()
            self.index.check_model(meta, self.embedding_model)
            self._searcher = SegmentSearcher(
                self.index.directory, analyzer=Analyzer.from_parameters(meta.get("analyzer")), **self._scoring
            )
        before = self._searcher.state.generation
        state = self._searcher.sync()
        if state.generation != before:
            self.index.check_model(self._searcher.read(_read_meta), self.embedding_model)
        return state

    def warm_up(self) -> None:
        """Open the live index (maps its segments; cheap afterwards)."""
        self._state()

    def refresh(self) -> None:
        """Catch up now if another process committed (queries do this themselves; this moves the cost
        before a timed section)."""
        self._state()

    @property
    def snapshot(self) -> Snapshot:
        """The whole live index as an in-memory snapshot (reads everything: for tests and small indexes)."""
        if self._fixed is not None:
            return self._fixed
        return self.index.load(self.embedding_model, self.embedding_dim or 0)

    def count_documents(self) -> int:
        """Live passages."""
        return self._state().live

    def get_document(self, passage_id: str) -> Document | None:
        """One passage by id, or None."""
        if self._fixed is not None:
            return next((d for d in reversed(self._fixed.passages) if d.id == passage_id), None)
        return self.index.passage(passage_id)

    def _documents(self, vids: Sequence[int]) -> dict[int, Document]:
        if self._fixed is not None:
            return {v: self._fixed.passages[v] for v in vids}
        return self._searcher.documents(vids)

    def _check_dim(self, state: SearchState, query_embedding: Sequence[float]) -> np.ndarray:
        query = np.asarray(query_embedding, dtype=np.float32).ravel()
        dim = state.dim if self._fixed is None else self._fixed.dim
        if state.rows and dim and len(query) != dim:
            raise InvalidInputError(f"query embedding has {len(query)} dimensions; the index has {dim}")
        return query

    def _hits(self, hits: Sequence[tuple[int, float]]) -> list[Document]:
        docs = self._documents([v for v, _ in hits])
        return [replace(docs[v], score=s) for v, s in hits if v in docs]

    # ----- retrieval -----
    def bm25_retrieval(self, query: str, top_k: int = 10) -> list[Document]:
        """The ``top_k`` passages with the highest BM25 score (passages sharing no term are left out)."""
        if top_k <= 0:
            return []
        state = self._state()
        hits, _ = self._searcher.bm25(state, query, top_k)
        return self._hits(hits)

    def embedding_retrieval(self, query_embedding: Sequence[float], top_k: int = 10) -> list[Document]:
        """The ``top_k`` passages nearest to ``query_embedding``, cosine in ``score`` (exact over small
        segments, IVF over large ones).

        :raises InvalidInputError: when the embedding's dimension differs from the index's.
        """
        if top_k <= 0:
            return []
        state = self._state()
        query = self._check_dim(state, query_embedding)
        return self._hits(self._searcher.dense(state, query, top_k) if state.rows else [])

    def hybrid_retrieval(
        self,
        query: str,
        query_embedding: Sequence[float],
        top_k: int = 10,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        bm25_weight: float = DEFAULT_BM25_WEIGHT,
        fusion: FusionMethod = "zscore",
        rrf_k: float = 60.0,
    ) -> list[Document]:
        """Dense and BM25 candidates (``candidates`` from each), both scored on their union, fused.

        :param bm25_weight: BM25's share of the fused score (dense gets the rest).
        :param fusion: ``"zscore"`` (standardised scores, the default) or ``"rrf"`` (reciprocal rank).
        """
        check_fusion(bm25_weight, fusion)
        if top_k <= 0:
            return []
        state = self._state()
        if not state.rows:
            return []
        query_vec = self._check_dim(state, query_embedding)
        searcher = self._searcher
        pool = max(int(candidates), top_k)
        dense_hits = searcher.dense(state, query_vec, pool)
        dense_score = dict(dense_hits)
        bm25_hits, bm25_of_dense = searcher.bm25(state, query, pool, also=dense_score)
        bm25_score = dict(bm25_of_dense)
        bm25_score.update(bm25_hits)
        rescued = [v for v, _ in bm25_hits if v not in dense_score]
        if rescued:  # dense scores of BM25-only candidates, from their stored embeddings
            vectors = searcher.vectors_of(state, rescued)
            dense_score.update({v: float(vec @ query_vec) for v, vec in vectors.items()})
        ids = list(dict.fromkeys([v for v, _ in dense_hits] + [v for v, _ in bm25_hits]))
        nan = float("nan")
        columns = [
            np.array([dense_score.get(i, nan) for i in ids], dtype=np.float64),
            np.array([bm25_score.get(i, nan) for i in ids], dtype=np.float64),
        ]
        fused = fuse_scores(columns, [1.0 - bm25_weight, bm25_weight], fusion, float(rrf_k))
        chosen = [ids[i] for i in np.argsort(-fused, kind="stable")[:top_k]]
        fused_of = dict(zip(ids, fused.tolist(), strict=True))
        docs = self._documents(chosen)
        out = []
        for vid in chosen:
            if vid not in docs:
                continue
            meta = dict(docs[vid].meta)
            meta["dense_score"] = dense_score.get(vid)
            meta["bm25_score"] = bm25_score.get(vid, 0.0)
            out.append(replace(docs[vid], score=float(fused_of[vid]), meta=meta))
        return out

    # ----- serialisation -----
    def to_dict(self) -> dict[str, Any]:
        """Settings to rebuild this store (the data stays in the index directory).

        :raises InvalidInputError: for a store over an in-memory snapshot, which has no directory.
        """
        if self.index is None:
            raise InvalidInputError(
                "a document store over an in-memory snapshot cannot be serialised: it has no index directory"
            )
        return {
            "type": f"{type(self).__module__}.{type(self).__name__}",
            "init_parameters": {
                "index_dir": str(self.index.directory),
                "embedding_model": self.embedding_model,
                "embedding_dim": self.embedding_dim,
                "bm25_parameters": dict(self.bm25_parameters),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalDocumentStore:
        """The store :meth:`to_dict` described. :raises InvalidInputError: naming a missing field."""
        params = data.get("init_parameters")
        if not isinstance(params, dict) or "index_dir" not in params or "embedding_model" not in params:
            raise InvalidInputError(
                "LocalDocumentStore.from_dict: needs 'init_parameters' with 'index_dir' and 'embedding_model'"
            )
        params = dict(params)
        return cls(params.pop("index_dir"), **params)


def _read_meta(con) -> dict[str, Any]:
    from docqa.pipelines.document_stores.catalog import read_meta

    return read_meta(con)
