"""Open the store ``DOCQA_STORE`` (or ``--store``) names: the write side, the search side and the catalog
of one index, as :mod:`~docqa.pipelines.document_stores.protocols` describes them.

- unset or ``local``: today's store in the index directory (``LocalIndex`` + ``LocalDocumentStore``);
- ``milvus-lite:///path/docqa.db`` / ``milvus://host:19530``: Milvus (:mod:`.milvus_store`,
  :mod:`.milvus_index`); the index directory keeps the manifest, the FAQ and the feedback.

Everything above the stores (``docqa.pipelines.api``, retrievers, evaluation, ``docqa migrate``) goes through
:func:`open_store`, so choosing a store is this module's job alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from docqa import config
from docqa.errors import InvalidInputError
from docqa.ingest.records import SourceFile
from docqa.pipelines.document_stores.local.index import InMemoryIndex, LocalIndex
from docqa.pipelines.document_stores.local.store import LocalDocumentStore
from docqa.pipelines.document_stores.protocols import IndexStore, SearchStore, StoreCatalog

LOCAL = "local"


def is_local(spec: str | None) -> bool:
    return spec is None or spec.strip() in ("", LOCAL)


class LocalCatalog:
    """:class:`StoreCatalog` over the local index: listing, counts and single passages come from the
    catalog database alone (no passage or vector is loaded); exporting reads the whole index."""

    def __init__(self, index: LocalIndex, store: LocalDocumentStore) -> None:
        self.index = index
        self.store = store

    def location(self) -> str:
        return str(self.index.directory)

    def files(self) -> Mapping[str, SourceFile]:
        return self.index.files()

    def index_meta(self) -> dict[str, Any]:
        if not self.index.exists():
            return {}
        meta, stats = self.index.meta(), self.index.stats()
        if not meta and not stats["documents"]:
            return {}
        return {"embedding_model": meta.get("embedding_model"), "dim": meta.get("dim"),
                "passages": stats["passages"]}

    def passage(self, passage_id: str) -> Document | None:
        return self.index.passage(passage_id)

    def export_files(self) -> Iterator[tuple[SourceFile, list[Document], np.ndarray]]:
        snapshot: InMemoryIndex | None = self.index.load_any()
        if snapshot is None:
            return
        rows = {doc.id: i for i, doc in enumerate(snapshot.passages)}
        for source in snapshot.files.values():
            picked = [rows[i] for i in source.passage_ids if i in rows]
            yield source, [snapshot.passages[i] for i in picked], snapshot.embeddings[picked]


@dataclass
class StoreBundle:
    """One configured store: ``index`` writes, ``search`` retrieves, ``catalog`` lists and exports.

    ``local_index`` is the index directory as a local ``LocalIndex``: the FAQ and the feedback stay
    there for every store kind.
    """

    spec: str
    index: IndexStore
    search: SearchStore
    catalog: StoreCatalog
    local_index: LocalIndex

    @property
    def is_milvus(self) -> bool:
        return not is_local(self.spec)


def open_store(spec: str | None, index_dir: Path | str, embedding_model: str) -> StoreBundle:
    """The store ``spec`` names (see the module docstring); nothing is connected until first use,
    except that a Milvus address is parsed (a bad one fails here, naming it).

    :raises ConfigError: an address DocQA cannot read.
    """
    local_index = LocalIndex(index_dir)
    if is_local(spec):
        search = LocalDocumentStore(local_index, embedding_model=embedding_model)
        return StoreBundle(LOCAL, local_index, search, LocalCatalog(local_index, search), local_index)
    from docqa.pipelines.document_stores.milvus.index import MilvusIndex
    from docqa.pipelines.document_stores.milvus.store import MilvusDocumentStore

    assert spec is not None
    store = MilvusDocumentStore(
        spec,
        embedding_model=embedding_model,
        token=config.env(config.MILVUS_TOKEN),
        consistency=config.env(config.MILVUS_CONSISTENCY, "Strong") or "Strong",
    )
    index = MilvusIndex(index_dir, store)
    index.settle()  # a `docqa reindex` killed while it switched collections: finished before anyone searches
    return StoreBundle(spec.strip(), index, store, index, local_index)


def store_from_dict(data: dict[str, Any]) -> SearchStore:
    """The search store a retriever's ``to_dict`` described, by its ``type``.

    :raises InvalidInputError: an unknown type.
    """
    kind = str(data.get("type", ""))
    if kind.endswith(".LocalDocumentStore"):
        return LocalDocumentStore.from_dict(data)
    if kind.endswith(".MilvusDocumentStore"):
        from docqa.pipelines.document_stores.milvus.store import MilvusDocumentStore

        return MilvusDocumentStore.from_dict(data)
    raise InvalidInputError(
        f"unknown document store type {kind!r} (LocalDocumentStore or MilvusDocumentStore)"
    )


def index_from_dict(data: dict[str, Any]) -> IndexStore:
    """The write side a ``PassageWriter.to_dict`` described (``LocalIndex`` or ``MilvusIndex``)."""
    if str(data.get("type", "")).endswith(".MilvusIndex"):
        from docqa.pipelines.document_stores.milvus.index import MilvusIndex

        return MilvusIndex.from_dict(data)
    return LocalIndex.from_dict(data)


def eval_store(spec: str | None, snapshot: InMemoryIndex, embedding_model: str) -> SearchStore:
    """A search store holding ``snapshot`` (``docqa eval``'s temporary index).

    Local: searched in memory. Milvus: written into the collection ``docqa_eval`` (dropped and rebuilt
    on every run; ``?collection=`` picks another) of the given address.
    """
    if is_local(spec):
        return LocalDocumentStore(snapshot)
    from docqa.pipelines.document_stores.milvus.client import parse_milvus_address
    from docqa.pipelines.document_stores.milvus.store import MilvusDocumentStore

    assert spec is not None
    address = parse_milvus_address(spec)
    if "collection=" not in spec:
        address = parse_milvus_address(spec + ("&" if "?" in spec else "?") + "collection=docqa_eval")
    store = MilvusDocumentStore(
        address,
        embedding_model=embedding_model,
        token=config.env(config.MILVUS_TOKEN),
        consistency="Strong",
    )
    store.drop()
    store.ensure_collection(snapshot.dim)
    store.upsert(snapshot.passages, snapshot.embeddings)
    store.flush()
    return store
