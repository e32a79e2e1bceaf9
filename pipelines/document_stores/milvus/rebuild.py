"""Moving a Milvus collection to another embedding model with one switch (``docqa reindex`` on Milvus).

Why a second collection: a Milvus vector field has a fixed dimension, and upserting new vectors into the
live collection would leave it half on each model for as long as the embedding takes. So the passages go,
with their new vectors, into a new collection ``<name>_v<generation>`` while the old one keeps serving;
then the name every host addresses (``docqa``, ``docqa__hr``) is pointed at the new collection with a
Milvus *alias*: one ``alter_alias`` call when the name already is an alias (every reindex after the first);
the first time, the original collection must be dropped before its name can become an alias, a window of
one call that recovery closes. ``_v`` never clashes with a DocQA collection: their names escape ``_`` as
``__`` and ``-`` as ``_d`` (:func:`docqa.pipelines.collections.milvus_collection_spec`).

The journal (``<manifest>.reindex.json``, written atomically) makes a killed run converge:

- ``switching: false`` while the new collection is filled: the old collection, the manifest and the model
  were never touched, so the next writer (or the next host that opens the collection) *rolls back*: the new
  collection is dropped. Running ``docqa reindex`` again starts over.
- ``switching: true`` once every row is in the new collection and flushed: the next writer or opener *rolls
  forward*: the name points at the new collection, the manifest takes the new model and dimension, the old
  collection is dropped.

Passage ids, text, metadata and the manifest's file records are copied as they are; only vectors change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from haystack import Document

from docqa.atomic import atomic_write_json
from docqa.ingest.records import utc_now
from docqa.pipelines.document_stores.errors import IndexCorruptError
from docqa.pipelines.document_stores.milvus.client import milvus_errors

if TYPE_CHECKING:
    from docqa.pipelines.document_stores.milvus.index import MilvusIndex
    from docqa.pipelines.document_stores.milvus.store import MilvusDocumentStore


def journal_path(index: MilvusIndex) -> Path:
    return index.manifest_path.with_suffix(".reindex.json")


def _journal(index: MilvusIndex) -> dict[str, Any] | None:
    try:
        return json.loads(journal_path(index).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise IndexCorruptError(f"The reindex journal {journal_path(index)} cannot be read ({err}).") from err


def physical_name(store: MilvusDocumentStore) -> str | None:
    """The collection ``store``'s name resolves to (itself, or the target of the alias), None if none."""
    with milvus_errors(store.address):
        if not store.client.has_collection(store.collection):
            return None
        return str(store.client.describe_collection(store.collection)["collection_name"])


def recover(index: MilvusIndex) -> None:
    """Finish or undo a reindex that was killed (see the module docstring). Call under the writer lock."""
    journal = _journal(index)
    if journal is None:
        return
    if journal.get("switching"):
        _roll_forward(index, journal)
    else:
        _drop_unless_live(index.store, str(journal["to"]))
        journal_path(index).unlink(missing_ok=True)


def _drop_unless_live(store: MilvusDocumentStore, name: str) -> None:
    """Drop the physical collection ``name`` unless the store's name resolves to it (never drop live data)."""
    if name == physical_name(store):
        return
    with milvus_errors(store.address):
        if store.client.has_collection(name):
            store.client.drop_collection(name)


def _roll_forward(index: MilvusIndex, journal: dict[str, Any]) -> None:
    store, target = index.store, str(journal["to"])
    name, live = store.collection, physical_name(store)
    with milvus_errors(store.address):
        client = store.client
        if live is None:
            client.create_alias(target, name)
        elif live != target:
            if live == name:  # still the original collection: its name must be free to become the alias
                client.drop_collection(name)
                client.create_alias(target, name)
            else:
                client.alter_alias(target, name)
    data = index._read()
    if data is not None and data.get("embedding_model") != journal["embedding_model"]:
        index._write({**data, "embedding_model": journal["embedding_model"], "dim": int(journal["dim"]),
                      "generation": int(data.get("generation", 0)) + 1, "updated": utc_now()})
    old = journal.get("from")
    if old and old not in (name, target):  # (``name`` itself was dropped above when it was the original)
        _drop_unless_live(store, str(old))
    store.forget_meta()
    journal_path(index).unlink(missing_ok=True)


class MilvusRebuild:
    """A new collection being filled with the passages of ``index`` and their new vectors; :meth:`commit`
    switches to it. Made by :meth:`MilvusIndex.rebuilding`, which holds the writer lock meanwhile."""

    def __init__(self, index: MilvusIndex, embedding_model: str, dim: int) -> None:
        data = index._read() or {}
        self.index, self.embedding_model, self.dim = index, embedding_model, dim
        self.previous_model = str(data.get("embedding_model"))
        self.files = index.files()
        self.expected = sum(len(source.passage_ids) for source in self.files.values())
        self.written = 0
        live = physical_name(index.store)
        generation = int(data.get("generation", 0)) + 1
        name = f"{index.store.collection}_v{generation}"
        while name == live:  # cannot happen through DocQA; never overwrite the live collection anyway
            generation += 1
            name = f"{index.store.collection}_v{generation}"
        _drop_unless_live(index.store, name)  # a leftover of a run rolled back by hand
        atomic_write_json(journal_path(index), {"to": name, "from": live, "embedding_model": embedding_model,
                                                "dim": dim, "switching": False}, indent=None)
        self.target = index.store.sibling(name, embedding_model)
        self.target.ensure_collection(dim)

    def passages(self, passage_ids: list[str]) -> list[Document]:
        """The stored passages ``passage_ids`` as they are (content and meta), from the live collection.

        :raises IndexCorruptError: the manifest lists a passage Milvus does not hold.
        """
        rows = self.index.store.fetch(passage_ids)
        missing = [pid for pid in passage_ids if pid not in rows]
        if missing:
            raise IndexCorruptError(
                f"{len(missing)} passages the manifest lists are not in {self.index.location()} "
                f"(first: {missing[0]}); run `docqa ingest` again")
        return [Document(id=pid, content=rows[pid]["content"], meta=dict(rows[pid]["meta"]))
                for pid in passage_ids]

    def put(self, docs: list[Document], vectors: np.ndarray) -> None:
        """Write passages with their new vectors into the new collection (unseen until :meth:`commit`)."""
        self.target.upsert(docs, vectors)
        self.written += len(docs)

    def commit(self) -> None:
        """Flush the new collection, then switch every host to it (the journal's roll-forward)."""
        if self.written != self.expected:
            raise IndexCorruptError(
                f"reindex wrote {self.written} passages of the {self.expected} the manifest of "
                f"{self.index.location()} lists; nothing was switched")
        self.target.flush()
        journal = _journal(self.index) or {}
        atomic_write_json(journal_path(self.index), {**journal, "switching": True}, indent=None)
        _roll_forward(self.index, {**journal, "switching": True})

    def abandon(self) -> None:
        """Drop the new collection (an error before the switch): the old one was never touched."""
        recover(self.index)
