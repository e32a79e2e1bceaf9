"""The Milvus document store: passages, their embeddings and a native BM25 field in one Milvus collection,
with the same retrieval methods as the local store (see :mod:`docqa.pipelines.document_stores.protocols`).

Collection schema (one row per passage, primary key = the passage id, so re-writing a passage is an upsert
and can never duplicate it)::

    id VARCHAR pk | source_key VARCHAR | content VARCHAR | meta JSON
    bm25_text VARCHAR (title + content as the local BM25's tokens: stems, no stop words, bigrams)
    sparse SPARSE_FLOAT_VECTOR  ← filled by Milvus's BM25 Function from bm25_text (never sent by us)
    embedding FLOAT_VECTOR(dim), COSINE

The embedding model and dimension are in a collection property (``docqa.meta``), so any host searching
the collection can refuse a query embedded by another model, as the local store does.

Why our own store and not ``milvus-haystack``'s ``MilvusDocumentStore``: DocQA's write side is a per-file
transaction with a manifest that converges after a crash
(:mod:`~docqa.pipelines.document_stores.milvus.index`),
and hybrid retrieval needs both scores of every candidate (see :meth:`MilvusDocumentStore.hybrid_retrieval`);
milvus-haystack 0.1.0 writes Haystack ``Document`` s with no notion of files or of a crash-safe manifest.

Why hybrid fusion is ours by default: measured on SQuAD dev + distractors (``benchmarks/milvus_hybrid.py``,
500 questions): z-score fusion over both candidate lists, with exact scores for the union, R@1 0.888 on
Milvus Lite (local store 0.890); Milvus's ``hybrid_search`` rankers 0.782 (RRF) and 0.760 (Weighted).
``?hybrid=milvus`` / ``?hybrid=milvus-weighted`` in the store address selects them (one round trip
instead of four).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from haystack import Document

from docqa.errors import InvalidInputError
from docqa.pipelines.document_stores.errors import EmbeddingModelMismatchError, model_mismatch
from docqa.pipelines.document_stores.filters import check_filters
from docqa.pipelines.document_stores.hybrid import (
    DEFAULT_BM25_WEIGHT,
    DEFAULT_CANDIDATES,
    check_fusion,
    hybrid_retrieval,
)
from docqa.pipelines.document_stores.milvus.bm25_text import ANALYZER, bm25_passage_terms, bm25_terms
from docqa.pipelines.document_stores.milvus.client import (
    MilvusAddress,
    MilvusStoreError,
    client_for,
    in_list,
    milvus_errors,
    parse_milvus_address,
)
from docqa.pipelines.document_stores.milvus.expressions import milvus_filter
from docqa.pipelines.document_stores.milvus.schema import (
    index_params,
    is_torn_index,
    passage_schema,
    vector_index_params,
)

FORMAT = 1
WRITE_BATCH = 1000  # rows per upsert: ~3 MB with 384-d vectors + text, well under the 64 MB gRPC limit
READ_BATCH = 512  # ids per query (`id in [...]`): bounded filter size, under the 16,384-row query window
MAX_TEXT = 65535  # VARCHAR max_length (bytes)
OUTPUT = ["content", "meta"]
META_PROPERTY = "docqa.meta"  # collection property: {"docqa_format", "embedding_model", "dim"}


class MilvusDocumentStore:
    """Search side (and the passage rows) of DocQA on Milvus.

    Usage::

        store = MilvusDocumentStore("milvus-lite:///tmp/docqa.db", embedding_model="...")
        store.bm25_retrieval("steam engine condenser", top_k=3)
        store.embedding_retrieval(query_embedding, top_k=3)          # cosine in ``score``
        store.hybrid_retrieval("steam engine condenser", query_embedding, top_k=3)

    :param address: a store address (see :mod:`~docqa.pipelines.document_stores.milvus.client`).
    :param embedding_model: the model queries are embedded with; a collection built with another is refused.
    :param token: ``user:password`` or API key (``DOCQA_MILVUS_TOKEN``); never serialised by :meth:`to_dict`.
    :param consistency: Milvus consistency level for the collection (``Strong``: a search sees every
        committed write; ``Bounded`` is cheaper on a busy cluster and may lag by seconds).
    """

    def __init__(
        self,
        address: str | MilvusAddress,
        *,
        embedding_model: str,
        token: str | None = None,
        consistency: str = "Strong",
    ) -> None:
        self.address = address if isinstance(address, MilvusAddress) else parse_milvus_address(address)
        self.embedding_model = embedding_model
        self.collection = self.address.collection
        self.consistency = consistency
        self._token = token
        self._checked: dict[str, Any] | None = None
        self._lock = threading.Lock()
        # ?hybrid=milvus (RRF) or ?hybrid=milvus-weighted: Milvus's hybrid_search fuses instead of us.
        self.native_hybrid = self.address.hybrid

    # ----- connection and collection -----
    @property
    def client(self) -> Any:
        return client_for(self.address, self._token)

    def location(self) -> str:
        return f"{self.address.shown} (collection {self.collection})"

    def sibling(self, collection: str, embedding_model: str) -> MilvusDocumentStore:
        """A store on another collection of the same Milvus, same credentials (``docqa reindex`` fills the
        new model's collection beside the live one: :mod:`.rebuild`)."""
        return MilvusDocumentStore(replace(self.address, collection=collection),
                                   embedding_model=embedding_model, token=self._token,
                                   consistency=self.consistency)

    def forget_meta(self) -> None:
        """Check the collection's model again at next use (its name now points at another collection)."""
        with self._lock:
            self._checked = None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with milvus_errors(self.address):
            return getattr(self.client, method)(*args, **kwargs)

    def has_collection(self) -> bool:
        return bool(self._call("has_collection", self.collection))

    def collection_meta(self) -> dict[str, Any] | None:
        """The DocQA description of the collection (model, dim), None when there is no collection."""
        if not self.has_collection():
            return None
        described = self._call("describe_collection", self.collection)
        try:
            meta = json.loads((described.get("properties") or {}).get(META_PROPERTY) or "{}")
        except ValueError:
            meta = {}
        if meta.get("docqa_format") != FORMAT:
            raise MilvusStoreError(
                f"The collection {self.collection!r} at {self.address.shown} was not made by this DocQA "
                "(no docqa.meta property); choose another one with ?collection=NAME."
            )
        return meta

    def _checked_meta(self) -> dict[str, Any] | None:
        """The collection's meta after checking its model against ours (cached once found)."""
        if self._checked is not None:
            return self._checked
        meta = self.collection_meta()
        if meta is None:
            return None
        if meta.get("embedding_model") != self.embedding_model:
            raise model_mismatch(f"The Milvus collection {self.location()}", meta.get("embedding_model"),
                                 self.embedding_model)
        self._load()
        self._checked = meta
        return meta

    def _load(self) -> None:
        """Load the collection, rebuilding a torn Milvus Lite vector index once.

        Why: Milvus Lite writes each segment's index sidecar (``indexes/*.flat.idx``) in place, with no
        temporary file or fsync, so a process killed while it writes one (seen in CI: an ingest killed
        after its rows were flushed) leaves a truncated file, and every later load fails with "cannot
        reshape array of size 0 into shape (n, dim)". The sidecar is derived from the rows, which Milvus
        Lite wrote before it: dropping the index (which deletes the sidecars) and creating it again
        rebuilds it from the rows, so nothing stored is lost. A Milvus server builds its indexes itself;
        its errors are passed on unchanged.
        """
        try:
            self._call("load_collection", self.collection)
        except MilvusStoreError as err:
            if not (self.address.lite and is_torn_index(str(err))):
                raise
            with milvus_errors(self.address):
                self.client.release_collection(self.collection)
                self.client.drop_index(self.collection, "embedding")
                self.client.create_index(self.collection, vector_index_params(self.client, lite=True))
            self._call("load_collection", self.collection)

    def ensure_collection(self, dim: int) -> None:
        """Create the collection for our model and ``dim`` if it does not exist; check it if it does."""
        with self._lock:
            if self._checked_meta() is not None:
                if int(self._checked["dim"]) != dim:  # type: ignore[index]
                    raise EmbeddingModelMismatchError(
                        f"The Milvus collection {self.location()} holds {self._checked['dim']}-d embeddings; "  # type: ignore[index]
                        f"the model gives {dim}-d."
                    )
                return
            self._create(dim)
            self._checked = None
            self._checked_meta()

    def _create(self, dim: int) -> None:
        with milvus_errors(self.address):
            self.client.create_collection(
                self.collection,
                schema=passage_schema(self.client, dim, MAX_TEXT, ANALYZER),
                index_params=index_params(self.client, lite=self.address.lite),
                consistency_level=self.consistency,
                # Milvus Lite keeps collection properties but not the schema description.
                properties={
                    META_PROPERTY: json.dumps(
                        {"docqa_format": FORMAT, "embedding_model": self.embedding_model, "dim": dim}
                    )
                },
            )

    def drop(self) -> None:
        """Drop the whole collection (``docqa eval``'s temporary collection; tests)."""
        with self._lock:
            if self.has_collection():
                physical = str(self._call("describe_collection", self.collection)["collection_name"])
                if physical != self.collection:  # `docqa reindex` made the name an alias (milvus/rebuild.py)
                    self._call("drop_alias", self.collection)
                self._call("drop_collection", physical)
            self._checked = None

    # ----- writing rows (the transaction in milvus_index decides what and when) -----
    def upsert(self, docs: Sequence[Document], vectors: np.ndarray) -> None:
        rows = []
        for doc, vector in zip(docs, np.asarray(vectors, dtype=np.float32), strict=True):
            meta = dict(doc.meta)
            content = doc.content or ""
            title = str(meta.get("title") or "")
            bm25_text = bm25_passage_terms(f"{title}\n{content}" if title else content)
            if len(bm25_text.encode()) > MAX_TEXT:
                raise InvalidInputError(f"{meta.get('file', doc.id)}: a passage is longer than Milvus allows")
            rows.append(
                {
                    "id": doc.id,
                    "source_key": str(meta.get("source_key", "")),
                    "content": content,
                    "bm25_text": bm25_text,
                    "meta": meta,
                    "embedding": vector.tolist(),
                }
            )
        for start in range(0, len(rows), WRITE_BATCH):
            self._call("upsert", self.collection, rows[start : start + WRITE_BATCH])

    def delete_file_rows(self, key: str, keep: Sequence[str] = ()) -> None:
        """Delete the rows of file ``key`` except the ids in ``keep``."""
        self.delete_files_rows([key], keep)

    def delete_files_rows(self, keys: Sequence[str], keep: Sequence[str] = ()) -> None:
        """Delete the rows of the files ``keys`` except the ids in ``keep``, in one call per 512 keys
        (a delete by filter costs a scan: one per commit, not one per file)."""
        if not keys or not self.has_collection():
            return
        for start in range(0, len(keys), READ_BATCH):
            chunk = list(keys[start : start + READ_BATCH])
            expr = f"source_key in {in_list(chunk)}"
            if keep:
                expr += f" and id not in {in_list(keep)}"
            self._call("delete", self.collection, filter=expr)

    def delete_ids(self, ids: Sequence[str]) -> None:
        """Delete the rows ``ids`` (those that exist), one call per 512 ids."""
        if not ids or not self.has_collection():
            return
        for start in range(0, len(ids), READ_BATCH):
            chunk = list(ids[start : start + READ_BATCH])
            self._call("delete", self.collection, filter=f"id in {in_list(chunk)}")

    def flush(self) -> None:
        """Make every write so far durable (sealed segments) before the manifest says it happened."""
        if self.has_collection():
            self._call("flush", self.collection)

    def row_sources(self) -> dict[str, str]:
        """Every stored passage id → its file key (for consistency checks; reads the whole collection)."""
        if not self.has_collection():
            return {}
        out: dict[str, str] = {}
        with milvus_errors(self.address):
            iterator = self.client.query_iterator(
                self.collection, batch_size=1000, filter="", output_fields=["source_key"]
            )
            while True:
                batch = iterator.next()
                if not batch:
                    iterator.close()
                    break
                out.update({row["id"]: row["source_key"] for row in batch})
        return out

    # ----- reading rows -----
    def fetch(self, ids: Sequence[str], with_embeddings: bool = False) -> dict[str, dict[str, Any]]:
        """Rows by id (``content``, ``meta``, optionally ``embedding``); missing ids are left out."""
        out: dict[str, dict[str, Any]] = {}
        if not ids or self._checked_meta_any() is None:
            return out
        fields = [*OUTPUT, "embedding"] if with_embeddings else OUTPUT
        for start in range(0, len(ids), READ_BATCH):
            chunk = list(ids[start : start + READ_BATCH])
            rows = self._call(
                "query", self.collection, filter=f"id in {in_list(chunk)}", output_fields=fields
            )
            out.update({row["id"]: row for row in rows})
        return out

    def _checked_meta_any(self) -> dict[str, Any] | None:
        """The collection meta without the model check (listing and export work whatever model built it)."""
        meta = self.collection_meta()
        if meta is not None:
            self._load()
        return meta

    def passage(self, passage_id: str) -> Document | None:
        row = self.fetch([passage_id]).get(passage_id)
        return (
            None if row is None else Document(id=passage_id, content=row["content"], meta=dict(row["meta"]))
        )

    def export_rows(self, passage_ids: Sequence[str]) -> tuple[list[Document], np.ndarray]:
        """The passages ``passage_ids`` (in that order) with their embeddings; missing ones are skipped."""
        rows = self.fetch(passage_ids, with_embeddings=True)
        docs = [
            Document(id=i, content=rows[i]["content"], meta=dict(rows[i]["meta"]))
            for i in passage_ids
            if i in rows
        ]
        vectors = np.asarray([rows[d.id]["embedding"] for d in docs], dtype=np.float32)
        return docs, vectors

    # ----- the search side (SearchStore) -----
    def warm_up(self) -> None:
        """Connect and load the collection into memory (Milvus searches loaded collections only)."""
        self._checked_meta()

    def refresh(self) -> None:
        """Nothing to reload: Milvus serves every committed write (at the collection's consistency level)."""

    def count_documents(self) -> int:
        if self._checked_meta() is None:
            return 0
        rows = self._call("query", self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def _hits(self, hits: Any, score: Any = float) -> list[Document]:
        return [
            Document(
                id=h["id"],
                content=h["entity"]["content"],
                meta=dict(h["entity"]["meta"]),
                score=score(h["distance"]),
            )
            for h in hits
        ]

    def expression(self, filters: Mapping[str, Any] | None) -> str | bool:
        """The Milvus expression of Haystack-syntax ``filters`` (True: none; False: nothing can match).

        Checked against the built-in fields only: a host that only searches has no manifest listing the
        tags (``DocQA`` checks tags too, from the manifest). :raises FilterError: naming the field.
        """
        return milvus_filter(check_filters(filters))

    def bm25_retrieval(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[Document]:
        """The ``top_k`` passages by Milvus's BM25 score (passages sharing no term are left out); with
        ``filters`` (Haystack syntax) the top ``top_k`` among the passages that pass (Milvus filters before
        it ranks)."""
        return self._bm25(query, top_k, self.expression(filters))

    def _bm25(self, query: str, top_k: int, expr: str | bool) -> list[Document]:
        terms = bm25_terms(query)
        if top_k <= 0 or not terms or expr is False or self._checked_meta() is None:
            return []
        found = self._call(
            "search",
            self.collection,
            data=[terms],
            anns_field="sparse",
            limit=top_k,
            output_fields=OUTPUT,
            search_params={"metric_type": "BM25"},
            **_filter_arg(expr),
        )
        # Milvus Lite reports BM25 as a negative distance, a server as a positive score: use its size.
        return self._hits(found[0], score=lambda d: abs(float(d)))

    def _dense(
        self, query_embedding: Sequence[float], k: int, fields: list[str], expr: str | bool = True
    ) -> list[dict[str, Any]]:
        meta = self._checked_meta()
        if meta is None or expr is False:
            return []
        if len(query_embedding) != int(meta["dim"]):
            raise InvalidInputError(
                f"query embedding has {len(query_embedding)} dimensions; the index has {meta['dim']}"
            )
        found = self._call(
            "search",
            self.collection,
            data=[list(map(float, query_embedding))],
            anns_field="embedding",
            limit=k,
            output_fields=fields,
            search_params={"metric_type": "COSINE"},
            **_filter_arg(expr),
        )
        return list(found[0])

    def embedding_retrieval(
        self, query_embedding: Sequence[float], top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[Document]:
        """The ``top_k`` passages nearest to ``query_embedding``, cosine in ``score``; with ``filters``,
        the nearest among the passages that pass."""
        expr = self.expression(filters)
        if top_k <= 0:
            return []
        return self._hits(self._dense(query_embedding, top_k, OUTPUT, expr))

    def hybrid_retrieval(
        self,
        query: str,
        query_embedding: Sequence[float],
        top_k: int = 10,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        bm25_weight: float = DEFAULT_BM25_WEIGHT,
        fusion: str = "zscore",
        rrf_k: float = 60.0,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        """Dense and BM25 candidates (``candidates`` from each), both scored on their union, fused by
        :func:`~docqa.pipelines.document_stores.hybrid.hybrid_retrieval` exactly as on the local store
        (z-score by default): dense scores of BM25-only candidates come from their stored embeddings, BM25
        scores of dense-only candidates from a BM25 search restricted to their ids (:class:`_MilvusEngine`).
        With ``?hybrid=milvus`` in the address Milvus fuses instead (``hybrid_search`` + RRF ranker).
        ``filters`` apply to both sides' candidates.
        """
        check_fusion(bm25_weight, fusion)
        expr = self.expression(filters)
        if top_k <= 0 or expr is False or self._checked_meta() is None:
            return []
        if self.native_hybrid:
            pool = max(int(candidates), top_k)
            return self._native_hybrid(query, query_embedding, top_k, pool, rrf_k, expr)
        return hybrid_retrieval(
            _MilvusEngine(self, expr), query, np.asarray(query_embedding, dtype=np.float32), top_k,
            candidates=candidates, bm25_weight=bm25_weight, fusion=fusion, rrf_k=rrf_k,
        )  # fmt: skip

    def _native_hybrid(
        self,
        query: str,
        query_embedding: Sequence[float],
        top_k: int,
        pool: int,
        rrf_k: float,
        expr: str | bool,
    ) -> list[Document]:
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        dense = AnnSearchRequest(
            data=[list(map(float, query_embedding))],
            anns_field="embedding",
            param={"metric_type": "COSINE"},
            limit=pool,
            **({"expr": expr} if isinstance(expr, str) else {}),
        )
        requests = [dense]
        if bm25_terms(query):
            requests.append(
                AnnSearchRequest(
                    data=[bm25_terms(query)],
                    anns_field="sparse",
                    param={"metric_type": "BM25"},
                    limit=pool,
                    **({"expr": expr} if isinstance(expr, str) else {}),
                )
            )
        found = self._call(
            "hybrid_search",
            self.collection,
            requests,
            ranker=WeightedRanker(0.5, 0.5)
            if self.native_hybrid == "milvus-weighted"
            else RRFRanker(int(rrf_k)),
            limit=top_k,
            output_fields=OUTPUT,
        )
        return self._hits(found[0])

    # ----- serialisation (retrievers round-trip their store) -----
    def to_dict(self) -> dict[str, Any]:
        """Settings to rebuild this store; the token is left out (it comes from DOCQA_MILVUS_TOKEN)."""
        return {
            "type": f"{type(self).__module__}.{type(self).__name__}",
            "init_parameters": {
                "address": self.address.spec,
                "embedding_model": self.embedding_model,
                "consistency": self.consistency,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MilvusDocumentStore:
        params = data.get("init_parameters")
        if not isinstance(params, dict) or "address" not in params or "embedding_model" not in params:
            raise InvalidInputError(
                "MilvusDocumentStore.from_dict: needs 'init_parameters' with 'address' and 'embedding_model'"
            )
        from docqa import config

        params = dict(params)
        return cls(params.pop("address"), token=config.env(config.MILVUS_TOKEN), **params)


def _filter_arg(expr: str | bool) -> dict[str, str]:
    return {"filter": expr} if isinstance(expr, str) else {}


class _MilvusEngine:
    """:class:`~docqa.pipelines.document_stores.hybrid.HybridEngine` over a Milvus collection (keys: passage
    ids). One per query: the passages the two searches return are kept, so only ids the fusion picks that
    neither search returned would be fetched (none: every candidate came from one of them)."""

    def __init__(self, store: MilvusDocumentStore, expr: str | bool = True) -> None:
        self.store = store
        self.expr = expr  # the filter: both searches rank only rows that pass it
        self.seen: dict[str, Document] = {}

    def _keep(self, docs: list[Document]) -> list[tuple[str, float]]:
        for doc in docs:
            self.seen.setdefault(doc.id, doc)
        return [(doc.id, float(doc.score)) for doc in docs]

    def dense_top(self, query_embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        return self._keep(self.store._hits(self.store._dense(query_embedding, k, OUTPUT, self.expr)))

    def bm25_top(
        self, query: str, k: int, also: Collection[str]
    ) -> tuple[list[tuple[str, float]], dict[str, float]]:
        hits = self._keep(self.store._bm25(query, k, self.expr))
        have = {key for key, _ in hits}
        missing = [key for key in also if key not in have]
        extra: dict[str, float] = {}
        if missing and bm25_terms(query):
            found = self.store._call(
                "search",
                self.store.collection,
                data=[bm25_terms(query)],
                anns_field="sparse",
                limit=len(missing),
                filter=f"id in {in_list(missing)}",
                output_fields=[],
                search_params={"metric_type": "BM25"},
            )
            extra = {h["id"]: abs(float(h["distance"])) for h in found[0]}
        return hits, extra

    def dense_scores(self, query_embedding: np.ndarray, keys: Sequence[str]) -> dict[str, float]:
        rows = self.store.fetch(list(keys), with_embeddings=True)
        q = np.asarray(query_embedding, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        scores = {}
        for key in keys:
            if key in rows:
                v = np.asarray(rows[key]["embedding"], dtype=np.float32)
                scores[key] = float(v @ q / (np.linalg.norm(v) or 1.0))
        return scores

    def documents(self, keys: Sequence[str]) -> dict[str, Document]:
        return {key: self.seen[key] for key in keys if key in self.seen}
