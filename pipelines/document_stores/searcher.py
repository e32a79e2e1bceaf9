"""Passage search over one index snapshot: FAISS (dense) + BM25, fused by the hybrid retriever.

A :class:`SnapshotSearcher` is built from an immutable :class:`~pipelines.document_stores.snapshots.Snapshot`, so searches
never see a half-applied ingest. :class:`IndexSearcher` keeps one for a live index directory and swaps in
a fresh one when another process commits (cheap check of the CURRENT pointer before each query).
"""

from __future__ import annotations

import threading

import faiss
from haystack import Document
from haystack_integrations.document_stores.faiss import FAISSDocumentStore

from pipelines.answers import Passage
from pipelines.components.embedders.sentence_embedders import QueryEmbedder
from pipelines.components.retrievers.hybrid import HybridRetriever
from pipelines.document_stores.bm25 import BM25Retriever
from pipelines.document_stores.snapshots import DocumentIndex, Snapshot

SEARCH_MODES = ("hybrid", "dense", "bm25")

# One query at a time against a flat index: OpenMP start-up costs more than it saves (measured ~13 ms per
# query on 955 vectors with threads vs well under 1 ms without). Threads only pay off for batched queries.
faiss.omp_set_num_threads(1)


class SnapshotSearcher:
    """Retrieval over one snapshot. Building it copies the embeddings into FAISS and indexes BM25."""

    def __init__(self, snapshot: Snapshot, query_embedder: QueryEmbedder) -> None:
        self.snapshot = snapshot
        self.query_embedder = query_embedder
        self.faiss_store = FAISSDocumentStore(embedding_dim=snapshot.dim)
        if snapshot.passages:
            self.faiss_store.write_documents(
                [
                    Document(id=doc.id, content=doc.content, meta=doc.meta, embedding=vector.tolist())
                    for doc, vector in zip(snapshot.passages, snapshot.embeddings, strict=True)
                ]
            )
        self.bm25 = BM25Retriever(snapshot.passages)
        self._retrievers: dict[str, HybridRetriever] = {}

    def retriever(self, mode: str) -> HybridRetriever:
        """One retriever per mode, all sharing this snapshot's FAISS store and BM25 index."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode '{mode}' (choose from {', '.join(SEARCH_MODES)})")
        if mode not in self._retrievers:
            self._retrievers[mode] = HybridRetriever(faiss_store=self.faiss_store, bm25=self.bm25, mode=mode)
        return self._retrievers[mode]

    def search(self, query: str, top_k: int = 5, mode: str = "hybrid") -> list[Document]:
        retriever = self.retriever(mode)
        if not self.snapshot.passages or not query.strip():
            return []
        embedding = self.query_embedder.run(text=query)["embedding"] if mode != "bm25" else []
        return retriever.run(query=query, query_embedding=embedding, top_k=top_k)["documents"]


class IndexSearcher:
    """A searcher that follows a live index directory, reloading after another process commits."""

    def __init__(
        self, index: DocumentIndex, embedding_model: str, query_embedder: QueryEmbedder, dim: int
    ) -> None:
        self.index = index
        self.embedding_model = embedding_model
        self.query_embedder = query_embedder
        self.dim = dim
        self._lock = threading.Lock()
        self._searcher: SnapshotSearcher | None = None

    def current(self) -> SnapshotSearcher:
        """The searcher for the live snapshot, rebuilt only when CURRENT moved on."""
        name = self.index.current_name()
        with self._lock:
            if self._searcher is None or self._searcher.snapshot.name != name:
                snapshot = self.index.load(self.embedding_model, self.dim)
                self._searcher = SnapshotSearcher(snapshot, self.query_embedder)
            return self._searcher

    def search(self, query: str, top_k: int = 5, mode: str = "hybrid") -> list[Passage]:
        return [Passage.from_document(d) for d in self.current().search(query, top_k=top_k, mode=mode)]
