"""LEGACY (format 1), kept only so ``benchmarks/scale.py`` can measure the old design in the same run.

The document store: one index directory's passages, embeddings, FAISS index and BM25 index, and the
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

Writes go through :class:`~docqa.pipelines.document_stores.snapshots.DocumentIndex` (the ingestor commits
whole
snapshots); this store follows them: before each query it reads the ``CURRENT`` pointer (one small file)
and, when another process committed, builds FAISS + BM25 for the new snapshot. Every query runs against
one immutable snapshot, so it never sees a half-applied ingest.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from haystack import Document
from haystack_integrations.document_stores.faiss import FAISSDocumentStore

from docqa.errors import InvalidInputError
from docqa.pipelines.document_stores.hybrid import fuse_scores
from legacy.snapshots import DocumentIndex, Snapshot
from tests.bm25_reference import BM25Index  # the retired store's BM25, kept as the tests' reference

# One query at a time against a flat index: OpenMP start-up costs more than it saves (measured ~13 ms per
# query on 955 vectors with threads vs well under 1 ms without). Threads only pay off for batched queries.
faiss.omp_set_num_threads(1)

FusionMethod = Literal["zscore", "rrf"]
DEFAULT_CANDIDATES = 100
DEFAULT_BM25_WEIGHT = 0.5


def faiss_cosine(doc: Document) -> float | None:
    """Cosine similarity from a FAISS "Flat" (L2) hit, whose score is ``1 / (1 + squared L2 distance)``.

    For unit vectors, squared L2 = 2 - 2 cos, so cos = 1 - d/2. Other index types report the raw value.
    """
    if doc.score is None or doc.score <= 0:
        return None
    distance = 1.0 / doc.score - 1.0
    return 1.0 - distance / 2.0


def check_fusion(bm25_weight: float, fusion: str) -> None:
    """Refuse hybrid settings that cannot mean anything, naming the setting."""
    if not 0.0 <= bm25_weight <= 1.0:
        raise InvalidInputError(f"bm25_weight must be between 0 and 1, got {bm25_weight}")
    if fusion not in ("zscore", "rrf"):
        raise InvalidInputError(f"unknown fusion {fusion!r}; use 'zscore' or 'rrf'")


class _SnapshotIndexes:
    """FAISS + BM25 over one immutable snapshot. Built once per snapshot, then only read."""

    def __init__(self, snapshot: Snapshot, bm25_parameters: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self.name = snapshot.name
        self.faiss: FAISSDocumentStore | None = None
        if snapshot.passages:
            self.faiss = FAISSDocumentStore(embedding_dim=snapshot.dim)
            self.faiss.write_documents(
                [
                    Document(id=doc.id, content=doc.content, meta=doc.meta, embedding=vector.tolist())
                    for doc, vector in zip(snapshot.passages, snapshot.embeddings, strict=True)
                ]
            )
        self.bm25 = BM25Index(snapshot.passages, **bm25_parameters)
        # A repeated id keeps its last row, as the FAISS store and the BM25 index do.
        self.rows = {doc.id: i for i, doc in enumerate(snapshot.passages)}

    def dense(self, query_embedding: Sequence[float], k: int) -> list[Document]:
        if self.faiss is None:
            return []
        if len(query_embedding) != self.snapshot.dim:
            raise InvalidInputError(
                f"query embedding has {len(query_embedding)} dimensions; the index has {self.snapshot.dim}"
            )
        docs = self.faiss.search(query_embedding=list(query_embedding), top_k=k)
        flat = self.faiss.index_string == "Flat"
        return [replace(d, score=faiss_cosine(d) if flat else d.score) for d in docs]


class LocalDocumentStore:
    """Passages, embeddings, FAISS and BM25 indexes of one DocQA index, with the retrieval methods.

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
    share one set of indexes, and a reload happens once.

    :param source: the index directory (or its :class:`DocumentIndex`), or an in-memory :class:`Snapshot`
        (searched as it is, never reloaded; its indexes are built at once, so a caller can time building
        apart from querying).
    :param embedding_model: the model a directory's index must have been built with (checked on load);
        a snapshot's own model when left out.
    :param embedding_dim: only used while a directory's index is still empty.
    :param bm25_parameters: keyword arguments of :class:`BM25Index` (``k1``, ``b``, ``title_weight``, ...).
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
        self._current: _SnapshotIndexes | None = None
        self._lock = threading.Lock()
        self._fixed: _SnapshotIndexes | None = None
        self.index: DocumentIndex | None = None
        if isinstance(source, Snapshot):
            self.embedding_model = embedding_model or str(source.meta.get("embedding_model", ""))
            self.embedding_dim = source.dim
            self._fixed = _SnapshotIndexes(source, self.bm25_parameters)
            return
        if not embedding_model:
            raise InvalidInputError("LocalDocumentStore: embedding_model is required for an index directory")
        self.index = source if isinstance(source, DocumentIndex) else DocumentIndex(source)
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim

    # ----- the live snapshot -----
    def _indexes(self) -> _SnapshotIndexes:
        """The indexes of the live snapshot, rebuilt only when ``CURRENT`` moved on."""
        if self._fixed is not None:
            return self._fixed
        assert self.index is not None  # a store has a snapshot or a directory
        name = self.index.current_name()
        with self._lock:
            if self._current is None or self._current.name != name:
                snapshot = self.index.load(self.embedding_model, self.embedding_dim or 0)
                self._current = _SnapshotIndexes(snapshot, self.bm25_parameters)
            return self._current

    def warm_up(self) -> None:
        """Load the live snapshot and build its indexes, if nothing is loaded yet (cheap afterwards)."""
        if self._fixed is None and self._current is None:
            self._indexes()

    def refresh(self) -> None:
        """Reload now if another process committed (queries do this themselves; this moves the cost
        before a timed section)."""
        self._indexes()

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot queries run against now (reloaded first if another process committed)."""
        return self._indexes().snapshot

    def count_documents(self) -> int:
        """Passages in the live snapshot."""
        return len(self._indexes().snapshot.passages)

    # ----- retrieval -----
    def bm25_retrieval(self, query: str, top_k: int = 10) -> list[Document]:
        """The ``top_k`` passages with the highest BM25 score (passages sharing no term are left out)."""
        if top_k <= 0:
            return []
        return self._indexes().bm25.retrieve(query, top_k)

    def embedding_retrieval(self, query_embedding: Sequence[float], top_k: int = 10) -> list[Document]:
        """The ``top_k`` passages nearest to ``query_embedding`` (exact search), cosine in ``score``.

        :raises InvalidInputError: when the embedding's dimension differs from the index's.
        """
        if top_k <= 0:
            return []
        return self._indexes().dense(query_embedding, top_k)

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
        indexes = self._indexes()
        pool = max(int(candidates), top_k)
        dense_docs = indexes.dense(query_embedding, pool)
        dense_score: dict[str, float] = {d.id: float(d.score) for d in dense_docs if d.score is not None}
        bm25_hits, bm25_of_dense = indexes.bm25.search(query, pool, also=dense_score)
        bm25_score = dict(bm25_of_dense)
        bm25_score.update(bm25_hits)

        # Candidates: the union. Documents come from the dense hits or the BM25 index.
        docs: dict[str, Document] = {d.id: d for d in dense_docs}
        rescued: list[str] = []
        rows: list[int] = []
        for doc_id, _ in bm25_hits:
            if doc_id in docs:
                continue
            doc = indexes.bm25.get_document(doc_id)
            if doc is None:
                continue
            docs[doc_id] = doc
            row = indexes.rows.get(doc_id)
            if row is not None and indexes.snapshot.dim == len(query_embedding):
                rescued.append(doc_id)
                rows.append(row)
        if rescued:  # dense scores of BM25-only candidates, from their stored embeddings
            vectors = indexes.snapshot.embeddings[rows]
            sims = vectors @ np.asarray(query_embedding, dtype=np.float32)
            dense_score.update(zip(rescued, sims.tolist(), strict=True))

        ids = list(docs)
        nan = float("nan")
        columns = [
            np.array([dense_score.get(i, nan) for i in ids], dtype=np.float64),
            np.array([bm25_score.get(i, nan) for i in ids], dtype=np.float64),
        ]
        fused = fuse_scores(columns, [1.0 - bm25_weight, bm25_weight], fusion, float(rrf_k))
        best = np.argsort(-fused, kind="stable")[:top_k]
        out = []
        for i in best:
            doc_id = ids[i]
            meta = dict(docs[doc_id].meta)
            meta["dense_score"] = dense_score.get(doc_id)
            meta["bm25_score"] = bm25_score.get(doc_id, 0.0)
            out.append(replace(docs[doc_id], score=float(fused[i]), meta=meta))
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
