"""The local document store: one index directory's passages, their segments (dense vectors and BM25
postings), and the retrieval methods over them (BM25, embedding, hybrid).

Why the store owns the scoring (as Haystack's ``InMemoryDocumentStore.bm25_retrieval`` /
``embedding_retrieval`` do): hybrid fusion needs both indexes *and* the stored embeddings of BM25-only
candidates; a retriever that reached into two stores' internals for that (as ``HybridRetriever`` once did)
had two owners for one job. Retriever components
(``docqa.pipelines.components.retrievers.store_retrievers``) are thin: they are handed a store and call one
method.

Hybrid fusion is written once, above both engines, in :mod:`~docqa.pipelines.document_stores.hybrid`
(why it is shaped as it is, with the measurements); this store supplies its four primitives.

Writes go through :class:`~docqa.pipelines.document_stores.local.index.LocalIndex` (a SQLite catalog plus
immutable segments); this store follows them through a
:class:`~docqa.pipelines.document_stores.local.searcher.SegmentSearcher`: before each query it reads the
catalog's generation (one indexed row) and, when another process committed, maps only the new segments and
applies
the new tombstones. Every query runs against one immutable search state, so it never sees a half-applied
ingest. Dense search is exact over small segments and IVF over large ones (see ``segments.py``); passages'
text comes from the catalog only for the hits returned.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from docqa.errors import InvalidInputError
from docqa.pipelines.document_stores.filters import Kind, check_filters, field_kinds
from docqa.pipelines.document_stores.hybrid import (
    DEFAULT_BM25_WEIGHT,
    DEFAULT_CANDIDATES,
    FusionMethod,
    check_fusion,
    hybrid_retrieval,
)
from docqa.pipelines.document_stores.local import catalog
from docqa.pipelines.document_stores.local.filtering import MetaTable, RowFilter, row_masks, unit_codes
from docqa.pipelines.document_stores.local.index import InMemoryIndex, LocalIndex
from docqa.pipelines.document_stores.local.searcher import SearchState, SegmentSearcher
from docqa.pipelines.document_stores.local.segments import Analyzer, build_segment

_SCORING = ("k1", "b")


class LocalDocumentStore:
    """Passages, embeddings and BM25 postings of one DocQA index, with the retrieval methods.

    Open a directory (follows other processes' commits) or wrap an in-memory index (``docqa eval``'s
    temporary index)::

        from docqa.pipelines.document_stores.local.store import LocalDocumentStore

        store = LocalDocumentStore("./docqa-index", embedding_model="sentence-transformers/all-MiniLM-L6-v2")
        store.bm25_retrieval("steam engine condenser", top_k=3)
        store.embedding_retrieval(query_embedding, top_k=3)          # cosine in ``score``
        store.hybrid_retrieval("steam engine condenser", query_embedding, top_k=3)
        same = LocalDocumentStore.from_dict(store.to_dict())

        LocalDocumentStore(in_memory).count_documents()  # an in-memory index

    Scores: BM25 score (``bm25_retrieval``), cosine similarity (``embedding_retrieval``), fused z-score
    (``hybrid_retrieval``: about 0 is an average candidate, 3+ a clear winner; ``meta["dense_score"]`` and
    ``meta["bm25_score"]`` are added to the returned copies). Thread-safe: queries from several threads
    share one search state, and a catch-up happens once.

    :param source: the index directory (or its :class:`LocalIndex`), or an in-memory :class:`InMemoryIndex`
        (searched exactly as it is, never reloaded; its postings are built at once, so a caller can time
        building apart from querying).
    :param embedding_model: the model a directory's index must have been built with (checked on load);
        an in-memory index's own model when left out.
    :param embedding_dim: only used while a directory's index is still empty.
    :param bm25_parameters: ``k1``, ``b`` and, for an in-memory index, the analyzer (``language``,
        ``remove_stopwords``, ``title_field``, ``title_weight``, ``bigrams``); a directory's analyzer is the
        one its postings were built with.
    """

    def __init__(
        self,
        source: str | Path | LocalIndex | InMemoryIndex,
        *,
        embedding_model: str | None = None,
        embedding_dim: int | None = None,
        bm25_parameters: dict[str, Any] | None = None,
    ) -> None:
        self.bm25_parameters = dict(bm25_parameters or {})
        scoring = {k: v for k, v in self.bm25_parameters.items() if k in _SCORING}
        self.index: LocalIndex | None = None
        self._fixed: InMemoryIndex | None = None
        self._searcher: SegmentSearcher | None = None
        self._scoring = scoring
        if isinstance(source, InMemoryIndex):
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
        self.index = source if isinstance(source, LocalIndex) else LocalIndex(source)
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim

    # ----- the live index -----
    def _state(self) -> SearchState:
        """The search state of the live generation (catching up first if another process committed)."""
        if self._fixed is not None:
            return self._searcher.state
        assert self.index is not None  # a store has an in-memory index or a directory
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
    def bm25_retrieval(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[Document]:
        """The ``top_k`` passages with the highest BM25 score (passages sharing no term are left out).

        :param filters: Haystack filter syntax over file metadata (``document_stores.filters``): the top
            ``top_k`` among the passages that pass. :raises FilterError: naming a bad field or value.
        """
        state = self._state()
        rows = self.row_filter(filters, state)
        if top_k <= 0 or (rows is not None and not rows.files):
            return []
        hits, _ = self._searcher.bm25(state, query, top_k, allow=rows and rows.allowed)
        return self._hits(hits)

    def embedding_retrieval(
        self, query_embedding: Sequence[float], top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[Document]:
        """The ``top_k`` passages nearest to ``query_embedding``, cosine in ``score`` (exact over small
        segments, IVF over large ones); with ``filters``, the nearest among the passages that pass.

        :raises InvalidInputError: when the embedding's dimension differs from the index's, or a filter is
            wrong (``FilterError``, naming the field).
        """
        state = self._state()
        rows = self.row_filter(filters, state)
        if top_k <= 0 or (rows is not None and not rows.files):
            return []
        query = self._check_dim(state, query_embedding)
        allow = rows and rows.allowed
        return self._hits(self._searcher.dense(state, query, top_k, allow=allow) if state.rows else [])

    # ----- filters -----
    def filter_fields(self) -> dict[str, Kind]:
        """Every field a filter may name here, with its kind (built-in fields and the files' tags)."""
        return dict(self._filter_table(self._state())[1])

    def row_filter(
        self, filters: Mapping[str, Any] | None, state: SearchState | None = None
    ) -> RowFilter | None:
        """The rows of each segment ``filters`` lets through (None: no filter).

        :raises FilterError: an unknown field or a value of the wrong kind, naming the field.
        """
        if not filters:
            return None
        state = state or self._state()
        table, kinds, codes = self._filter_table(state)
        checked = check_filters(filters, kinds)
        if checked is None:
            return None
        passes = table.select(checked)
        return RowFilter(row_masks(passes, codes), int(passes.sum()), table.size)

    def _filter_table(
        self, state: SearchState
    ) -> tuple[MetaTable, dict[str, Kind] | None, dict[str, np.ndarray]]:
        """The metadata columns of this generation's files and each segment's row → file codes, built
        once per generation (see ``local/filtering.py``)."""
        cached = state.extra.get("filter_table")
        if cached is not None:
            return cached
        if self._fixed is not None:  # an in-memory index: every passage is its own unit
            metas = [d.meta or {} for d in self._fixed.passages]
            vids = np.arange(len(metas), dtype=np.int64)
            table, kinds = MetaTable(metas), None
            codes = vids
        else:

            def read(con):
                files = catalog.read_files(con)
                rows = con.execute("SELECT vid, file_key FROM passages ORDER BY vid").fetchall()
                return files, rows

            files, rows = self._searcher.read(read)
            keys = list(files)
            kinds = field_kinds(files.values())
            table = MetaTable([files[k].metadata() for k in keys], kinds)
            position = {k: i for i, k in enumerate(keys)}
            vids = np.array([r[0] for r in rows], dtype=np.int64)
            codes = np.array([position.get(r[1], -1) for r in rows], dtype=np.int64)
        per_segment = {seg.name: unit_codes(seg.data.vids, vids, codes) for seg in state.segments}
        cached = (table, kinds, per_segment)
        state.extra["filter_table"] = cached
        return cached

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
        filters: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        """Dense and BM25 candidates (``candidates`` from each), both scored on their union, fused by
        :func:`~docqa.pipelines.document_stores.hybrid.hybrid_retrieval` (see there for why).

        :param bm25_weight: BM25's share of the fused score (dense gets the rest).
        :param fusion: ``"zscore"`` (standardised scores, the default) or ``"rrf"`` (reciprocal rank).
        :param filters: both sides' candidates come only from the passages that pass.
        """
        check_fusion(bm25_weight, fusion)
        state = self._state()
        rows = self.row_filter(filters, state)
        if top_k <= 0 or not state.rows or (rows is not None and not rows.files):
            return []
        engine = _SegmentEngine(self, state, rows and rows.allowed)
        return hybrid_retrieval(
            engine, query, self._check_dim(state, query_embedding), top_k,
            candidates=candidates, bm25_weight=bm25_weight, fusion=fusion, rrf_k=rrf_k,
        )  # fmt: skip

    # ----- serialisation -----
    def to_dict(self) -> dict[str, Any]:
        """Settings to rebuild this store (the data stays in the index directory).

        :raises InvalidInputError: for a store over an in-memory index, which has no directory.
        """
        if self.index is None:
            raise InvalidInputError(
                "a document store over an in-memory index cannot be serialised: it has no index directory"
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


class _SegmentEngine:
    """:class:`~docqa.pipelines.document_stores.hybrid.HybridEngine` over one search state of the local
    store (keys: catalog row ids). One state per query, so both sides see the same generation."""

    def __init__(
        self, store: LocalDocumentStore, state: SearchState, allow: Mapping[str, np.ndarray] | None = None
    ) -> None:
        self.searcher, self.state, self.store, self.allow = store._searcher, state, store, allow

    def dense_top(self, query_embedding: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self.searcher.dense(self.state, query_embedding, k, allow=self.allow)

    def bm25_top(
        self, query: str, k: int, also: Collection[int]
    ) -> tuple[list[tuple[int, float]], Mapping[int, float]]:
        hits, extra = self.searcher.bm25(self.state, query, k, also=also, allow=self.allow)
        return hits, dict(extra)

    def dense_scores(self, query_embedding: np.ndarray, keys: Sequence[int]) -> dict[int, float]:
        vectors = self.searcher.vectors_of(self.state, keys)
        return {key: float(vector @ query_embedding) for key, vector in vectors.items()}

    def documents(self, keys: Sequence[int]) -> dict[int, Document]:
        return self.store._documents(keys)


def _read_meta(con) -> dict[str, Any]:
    from docqa.pipelines.document_stores.local.catalog import read_meta

    return read_meta(con)
