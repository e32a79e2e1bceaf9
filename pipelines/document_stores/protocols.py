"""The store interface: what retrievers, the query pipelines, the API, evaluation and the front ends may
call on a document store, written as :class:`typing.Protocol` s.

Why protocols and not a base class: two implementations live side by side — the local store
(:class:`~docqa.pipelines.document_stores.local.index.LocalIndex` for writing and listing,
:class:`~docqa.pipelines.document_stores.local.store.LocalDocumentStore` for searching) and Milvus
(:mod:`docqa.pipelines.document_stores.milvus.store`) — and the local one is being rewritten for scale
independently. Code above the stores depends on these method names only, so either side can change its
internals, and a new engine only has to provide these methods (the contract tests in
``tests/pipelines/document_stores/test_store_contract.py`` run over every implementation).

Three sides:

- :class:`SearchStore` — the read side the retrievers and :class:`~docqa.pipelines.query.QueryPipelines` call.
- :class:`IndexStore` — the write side: ingest's ``WritableIndex`` (``transaction()`` handing out an
  ``IndexTransaction``) plus deleting, the writer lock and a change token; ``directory`` is the local
  folder that also keeps the FAQ, the feedback and the lock (for a Milvus store too).
- :class:`StoreCatalog` — listing what is indexed (the manifest), reading single passages back and
  exporting files with their embeddings (``docqa migrate``).

:class:`~docqa.pipelines.document_stores.factory.StoreBundle` holds one of each for one configured store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from haystack import Document

from docqa.ingest.ingestor import IndexTransaction
from docqa.ingest.records import SourceFile


@runtime_checkable
class SearchStore(Protocol):
    """What a retriever calls. Scores: BM25 score, cosine similarity, fused hybrid score (higher is better);
    hybrid results carry ``meta["dense_score"]`` and ``meta["bm25_score"]``. ``filters`` (Haystack syntax
    over file metadata, ``document_stores.filters``) restrict every mode *before* ranking: the result is
    the true top ``top_k`` among the passages that pass."""

    def bm25_retrieval(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[Document]: ...

    def embedding_retrieval(
        self, query_embedding: Sequence[float], top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[Document]: ...

    def hybrid_retrieval(
        self,
        query: str,
        query_embedding: Sequence[float],
        top_k: int = 10,
        *,
        candidates: int = ...,
        bm25_weight: float = ...,
        fusion: Any = ...,
        rrf_k: float = ...,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Document]: ...

    def count_documents(self) -> int: ...

    def refresh(self) -> None: ...

    def warm_up(self) -> None: ...

    def to_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class IndexStore(Protocol):
    """The write side (ingest's ``WritableIndex`` and more). ``directory`` is local: FAQ, feedback, lock."""

    directory: Path

    def transaction(
        self, embedding_model: str | None = None, dim: int | None = None, timeout: float = 5.0
    ) -> AbstractContextManager[IndexTransaction]: ...

    def delete_files(self, keys: Iterable[str], lock_timeout: float = 5.0) -> list[SourceFile]: ...

    def exists(self) -> bool:
        """True once anything was committed."""
        ...

    def is_locked(self) -> bool:
        """True while another process holds the writer lock (an ingest is running)."""
        ...

    def current_name(self) -> str | None:
        """A token that changes with every commit (cache key for listings), None while empty."""
        ...


@runtime_checkable
class StoreCatalog(Protocol):
    """Listing and reading back what a store holds, whatever embedding model built it."""

    def location(self) -> str:
        """Where the passages live, for messages: a directory or a Milvus URI + collection."""
        ...

    def files(self) -> Mapping[str, SourceFile]:
        """The manifest: file key → what is indexed for it (empty when nothing is)."""
        ...

    def index_meta(self) -> dict[str, Any]:
        """``embedding_model``, ``dim`` and ``passages`` of what is stored (empty dict when nothing is)."""
        ...

    def passage(self, passage_id: str) -> Document | None:
        """One stored passage (without embedding), or None."""
        ...

    def export_files(self) -> Iterator[tuple[SourceFile, list[Document], np.ndarray]]:
        """Every file with its passages and their embedding rows, for copying to another store."""
        ...
