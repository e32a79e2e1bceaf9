"""Retriever components over a search store (:class:`~docqa.pipelines.document_stores.protocols.SearchStore`:
the local ``LocalDocumentStore`` or ``MilvusDocumentStore``).

Thin on purpose, like Haystack's ``InMemoryBM25Retriever(document_store=...)``: the store owns the passages,
both indexes and the scoring; a retriever holds its store and its settings (``top_k``, hybrid fusion
parameters), so a Pipeline can be drawn, serialised and rebuilt. :func:`retriever_for` picks the class
for a :class:`~docqa.pipelines.components.retrievers.search_mode.SearchMode`.
"""

from __future__ import annotations

from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from docqa.errors import InvalidInputError
from docqa.pipelines.components.retrievers.search_mode import SearchMode
from docqa.pipelines.document_stores.hybrid import (
    DEFAULT_BM25_WEIGHT,
    DEFAULT_CANDIDATES,
    FusionMethod,
    check_fusion,
)
from docqa.pipelines.document_stores.protocols import SearchStore


def _check_top_k(top_k: int) -> int:
    if top_k < 1:
        raise InvalidInputError(f"top_k must be at least 1, got {top_k}")
    return int(top_k)


class _StoreRetriever:
    """What every retriever here shares: its store, ``top_k``, warm-up and (de)serialisation."""

    document_store: SearchStore
    top_k: int

    def _init_store(self, document_store: SearchStore, top_k: int) -> None:
        if not isinstance(document_store, SearchStore):
            raise InvalidInputError(
                f"{type(self).__name__}: document_store must be a search store (LocalDocumentStore, "
                f"MilvusDocumentStore), got {type(document_store).__name__}"
            )
        self.document_store = document_store
        self.top_k = _check_top_k(top_k)

    def warm_up(self) -> None:
        """Build the store's indexes for the live index before the first query (no-op afterwards)."""
        self.document_store.warm_up()

    def _k(self, top_k: int | None) -> int:
        return self.top_k if top_k is None else int(top_k)

    def _settings(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """Settings plus the store's own ``to_dict`` (the passages stay in the index directory)."""
        return default_to_dict(
            self, document_store=self.document_store.to_dict(), top_k=self.top_k, **self._settings()
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        params = data.get("init_parameters", {})
        if "document_store" not in params:
            raise InvalidInputError(f"{cls.__name__}.from_dict: 'init_parameters.document_store' is missing")
        data = {**data, "init_parameters": dict(params)}
        from docqa.pipelines.document_stores.factory import store_from_dict  # local or Milvus, by its "type"

        data["init_parameters"]["document_store"] = store_from_dict(params["document_store"])
        return default_from_dict(cls, data)


@component
class DocQABM25Retriever(_StoreRetriever):
    """Passages for a question by BM25 keyword score (no embedding model needed).

    Usage::

        from docqa.pipelines.components.retrievers.store_retrievers import DocQABM25Retriever
        from docqa.pipelines.document_stores.local.store import LocalDocumentStore

        store = LocalDocumentStore("./docqa-index", embedding_model="sentence-transformers/all-MiniLM-L6-v2")
        retriever = DocQABM25Retriever(document_store=store, top_k=3)
        retriever.run(query="steam engine condenser")["documents"]  # BM25 score in ``score``
        same = DocQABM25Retriever.from_dict(retriever.to_dict())
    """

    def __init__(self, document_store: SearchStore, top_k: int = 10) -> None:
        self._init_store(document_store, top_k)

    @component.output_types(documents=list[Document])
    def run(
        self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> dict[str, list[Document]]:
        """The ``top_k`` passages with the highest BM25 score for ``query`` (among those passing
        ``filters``, Haystack's filter syntax over file metadata)."""
        return {"documents": self.document_store.bm25_retrieval(query, self._k(top_k), filters=filters)}


@component
class DocQAEmbeddingRetriever(_StoreRetriever):
    """Passages nearest to a query embedding (from ``QueryEmbedder``), cosine similarity in ``score``.

    Usage::

        from haystack import Pipeline
        from docqa.pipelines.components.embedders.sentence_embedders import QueryEmbedder
        from docqa.pipelines.components.retrievers.store_retrievers import DocQAEmbeddingRetriever

        pipe = Pipeline()
        pipe.add_component("embedder", QueryEmbedder())
        pipe.add_component("retriever", DocQAEmbeddingRetriever(document_store=store, top_k=3))
        pipe.connect("embedder.embedding", "retriever.query_embedding")
        pipe.run({"embedder": {"text": "Who improved the steam engine?"}})["retriever"]["documents"]
    """

    def __init__(self, document_store: SearchStore, top_k: int = 10) -> None:
        self._init_store(document_store, top_k)

    @component.output_types(documents=list[Document])
    def run(
        self, query_embedding: list[float], top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> dict[str, list[Document]]:
        """The ``top_k`` passages whose embeddings are nearest to ``query_embedding`` (among those passing
        ``filters``)."""
        store = self.document_store
        return {"documents": store.embedding_retrieval(query_embedding, self._k(top_k), filters=filters)}


@component
class DocQAHybridRetriever(_StoreRetriever):
    """Dense and BM25 candidates fused by standardised scores: DocQA's default and most accurate mode.

    ``score`` is the fused z-score (about 0 is an average candidate, 3+ a clear winner);
    ``meta["dense_score"]`` (cosine) and ``meta["bm25_score"]`` say what each side thought. See
    :meth:`LocalDocumentStore.hybrid_retrieval` for why fusion works this way.

    Usage::

        from docqa.pipelines.components.retrievers.store_retrievers import DocQAHybridRetriever

        retriever = DocQAHybridRetriever(document_store=store, top_k=5)
        embedding = QueryEmbedder().run(text="Who improved the steam engine?")["embedding"]
        retriever.run(query="Who improved the steam engine?", query_embedding=embedding)["documents"]
        same = DocQAHybridRetriever.from_dict(retriever.to_dict())

    :param candidates: passages each side contributes before fusion.
    :param bm25_weight: BM25's share of the fused score (dense gets the rest).
    :param fusion: ``"zscore"`` (default) or ``"rrf"`` (reciprocal rank fusion with ``rrf_k``).
    """

    def __init__(
        self,
        document_store: SearchStore,
        top_k: int = 10,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        bm25_weight: float = DEFAULT_BM25_WEIGHT,
        fusion: FusionMethod = "zscore",
        rrf_k: float = 60.0,
    ) -> None:
        self._init_store(document_store, top_k)
        check_fusion(bm25_weight, fusion)
        self.candidates = int(candidates)
        self.bm25_weight = float(bm25_weight)
        self.fusion: FusionMethod = fusion
        self.rrf_k = float(rrf_k)

    def _settings(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "bm25_weight": self.bm25_weight,
            "fusion": self.fusion,
            "rrf_k": self.rrf_k,
        }

    @component.output_types(documents=list[Document])
    def run(
        self,
        query: str,
        query_embedding: list[float],
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, list[Document]]:
        """The ``top_k`` best passages for ``query`` by fused dense + BM25 score (among those passing
        ``filters``: both sides' candidates are drawn from them)."""
        documents = self.document_store.hybrid_retrieval(
            query,
            query_embedding,
            self._k(top_k),
            candidates=self.candidates,
            bm25_weight=self.bm25_weight,
            fusion=self.fusion,
            rrf_k=self.rrf_k,
            filters=filters,
        )
        return {"documents": documents}


RETRIEVERS: dict[SearchMode, type[_StoreRetriever]] = {
    SearchMode.HYBRID: DocQAHybridRetriever,
    SearchMode.DENSE: DocQAEmbeddingRetriever,
    SearchMode.BM25: DocQABM25Retriever,
}


def retriever_for(
    mode: str | SearchMode, document_store: SearchStore, top_k: int = 10
) -> DocQABM25Retriever | DocQAEmbeddingRetriever | DocQAHybridRetriever:
    """A new retriever for ``mode`` over ``document_store``.

    :raises InvalidInputError: for an unknown mode, listing the choices.
    """
    return RETRIEVERS[SearchMode.from_str(mode)](document_store=document_store, top_k=top_k)  # type: ignore[return-value,call-arg]
