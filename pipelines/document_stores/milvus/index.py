"""The write side of DocQA on Milvus: a manifest of indexed files kept consistent with the collection,
through the same transaction protocol the Ingestor uses for the local store (``docqa.ingest.ingestor``).

Where the manifest lives: a JSON file in the local index directory (``DOCQA_INDEX``), beside the FAQ, the
feedback and the writer lock, named after the Milvus address and collection. One DocQA host writes a
collection; any number can search it (searching needs only Milvus).

How it converges after ``kill -9`` (no duplicates, no orphans, nothing half-indexed):

1. Passage ids are the primary key, so writing a passage twice is an upsert, never a duplicate.
2. :meth:`MilvusTransaction.commit` first writes the manifest with the files it is about to change listed
   as ``pending`` (atomically, :mod:`docqa.atomic`); then upserts their passages, deletes their stale
   ones and flushes; only then writes the manifest with the new entries and ``pending`` empty.
3. Whoever opens the next transaction (under the writer lock) finds any ``pending`` file of a killed
   commit, deletes all of its rows in Milvus and drops its manifest entry. The file is then simply "new"
   to the re-run, which embeds it again. Files committed in earlier checkpoints are untouched.
4. A big file is committed in parts (its record is partial until the last one). A part after the first
   adds rows without touching the file's earlier ones, so its commit lists the file under ``appending``
   with the ids of the new rows instead of ``pending``; recovery deletes exactly those rows and keeps the
   record of the parts before, which the re-run resumes from.

Unlike the local store's generations, a search running during a commit may see a file's old and new
passages for a moment; the manifest, not the collection, is the record of what is indexed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from haystack import Document

from docqa.atomic import atomic_write_json
from docqa.ingest.records import SourceFile, check_extension, utc_now
from docqa.pipelines.document_stores.errors import (
    IndexCorruptError,
    IndexLockedError,
    model_mismatch,
)
from docqa.pipelines.document_stores.milvus import rebuild
from docqa.pipelines.document_stores.milvus.store import MilvusDocumentStore

MANIFEST_FORMAT = 1


class MilvusIndex:
    """Files indexed in one Milvus collection: the manifest, the writer lock, transactions, listing.

    :param directory: the local index directory (manifest, lock; FAQ and feedback live there too).
    :param store: the collection's :class:`MilvusDocumentStore`.
    """

    def __init__(self, directory: Path | str, store: MilvusDocumentStore) -> None:
        self.directory = Path(directory).expanduser()
        self.store = store
        slug = hashlib.sha1(f"{store.address.uri}|{store.collection}".encode()).hexdigest()[:10]
        self.manifest_path = self.directory / f"milvus-{store.collection}-{slug}.json"
        self.lock_path = self.directory / f"milvus-{store.collection}-{slug}.lock"

    # ----- the manifest -----
    def _read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise IndexCorruptError(
                f"The Milvus manifest {self.manifest_path} cannot be read ({err}). Move it aside and ingest "
                "again (the collection's passages are replaced as files are re-ingested)."
            ) from err
        if data.get("format") != MANIFEST_FORMAT:
            raise IndexCorruptError(f"{self.manifest_path}: unknown manifest format {data.get('format')}")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.manifest_path, data, indent=None)

    def files(self) -> Mapping[str, SourceFile]:
        data = self._read()
        return {k: SourceFile.from_dict(v) for k, v in (data or {}).get("files", {}).items()}

    def current_name(self) -> str | None:
        data = self._read()
        return None if data is None else f"milvus-{data.get('generation', 0)}"

    def exists(self) -> bool:
        """A manifest here, or (a host that only searches) a DocQA collection on the Milvus side."""
        return self._read() is not None or self.store.collection_meta() is not None

    def location(self) -> str:
        return self.store.location()

    def index_meta(self) -> dict[str, Any]:
        data = self._read()
        if data is None:
            return {}
        return {
            "embedding_model": data.get("embedding_model"),
            "dim": data.get("dim"),
            "passages": sum(len(f["passage_ids"]) for f in data.get("files", {}).values()),
        }

    def passage(self, passage_id: str) -> Document | None:
        return self.store.passage(passage_id) if self.exists() else None

    def export_files(self) -> Iterator[tuple[SourceFile, list[Document], np.ndarray]]:
        for source in self.files().values():
            docs, vectors = self.store.export_rows(source.passage_ids)
            if len(docs) != len(source.passage_ids):
                raise IndexCorruptError(
                    f"{source.key}: the manifest lists {len(source.passage_ids)} passages, Milvus holds "
                    f"{len(docs)}; run `docqa ingest` on it again"
                )
            yield source, docs, vectors

    # ----- writing -----
    @contextmanager
    def _locked(self, timeout: float) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=timeout)
        except Timeout as err:
            raise IndexLockedError(
                f"The Milvus collection {self.location()} is being written by another DocQA process "
                "(an ingest is running). Wait for it to finish and try again."
            ) from err
        try:
            yield
        finally:
            lock.release()

    def is_locked(self) -> bool:
        if not self.lock_path.exists():
            return False
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    def _recover(self, data: dict[str, Any]) -> dict[str, Any]:
        """Undo what a killed commit left: every ``pending`` file loses its rows and its manifest entry."""
        pending = list(data.get("pending", []))
        appending: dict[str, list[str]] = dict(data.get("appending") or {})
        if not pending and not appending:
            return data
        for key in pending:
            self.store.delete_file_rows(key)
        self.store.delete_ids([pid for ids in appending.values() for pid in ids])
        self.store.flush()
        files = {k: v for k, v in data["files"].items() if k not in set(pending)}
        data = {
            **data,
            "files": files,
            "pending": [],
            "appending": {},
            "generation": int(data.get("generation", 0)) + 1,
        }
        self._write(data)
        return data

    @contextmanager
    def transaction(
        self, embedding_model: str | None = None, dim: int | None = None, timeout: float = 5.0
    ) -> Iterator[MilvusTransaction]:
        """Hold the writer lock and stage changes; see :class:`MilvusTransaction`.

        :raises IndexLockedError: another process writes this collection.
        :raises EmbeddingModelMismatchError: the collection was built with another embedding model.
        """
        with self._locked(timeout):
            rebuild.recover(self)  # a reindex killed midway: undone, or finished once it was switching
            data = self._read()
            if data is not None:
                data = self._recover(data)
            if embedding_model is not None:
                if dim is None:
                    raise ValueError("a transaction for an embedding model needs its dimension (dim)")
                if data is not None and data.get("embedding_model") != embedding_model:
                    raise model_mismatch(f"The Milvus collection {self.location()}",
                                         data.get("embedding_model"), embedding_model)
                self.store.ensure_collection(dim)
                if data is None:
                    data = {
                        "format": MANIFEST_FORMAT,
                        "store": self.store.address.shown,
                        "collection": self.store.collection,
                        "embedding_model": embedding_model,
                        "dim": dim,
                        "generation": 0,
                        "files": {},
                        "pending": [],
                    }
            yield MilvusTransaction(self, data)

    @contextmanager
    def rebuilding(
        self, embedding_model: str, dim: int, timeout: float = 5.0
    ) -> Iterator[rebuild.MilvusRebuild]:
        """Hold the writer lock while a new collection for ``embedding_model`` is filled (``docqa reindex``,
        :mod:`~docqa.pipelines.document_stores.milvus.rebuild`); the caller commits it. An error before the
        commit drops the new collection; the old one was never touched.

        :raises IndexLockedError: another process writes this collection.
        """
        with self._locked(timeout):
            rebuild.recover(self)
            data = self._read()
            if data is not None:
                self._recover(data)  # an ingest killed in its commit: undone first, as any writer does
            work = rebuild.MilvusRebuild(self, embedding_model, dim)
            try:
                yield work
            except BaseException:
                work.abandon()
                raise

    def settle(self) -> None:
        """Finish a reindex killed while it switched, so a host that only searches finds the collection
        (cheap: a stat when no reindex journal is there; skipped while a writer holds the lock)."""
        if not rebuild.journal_path(self).exists():
            return
        try:
            with self._locked(0):
                rebuild.recover(self)
        except IndexLockedError:
            return  # the reindex is running and switches (or rolls back) itself

    def delete_files(self, keys: Iterable[str], lock_timeout: float = 5.0) -> list[SourceFile]:
        with self.transaction(timeout=lock_timeout) as transaction:
            removed = transaction.remove_files(keys)
            if removed:
                transaction.commit()
            return removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": f"{type(self).__module__}.{type(self).__qualname__}",
            "init_parameters": {"directory": str(self.directory), "store": self.store.to_dict()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MilvusIndex:
        params = data["init_parameters"]
        return cls(params["directory"], MilvusDocumentStore.from_dict(params["store"]))


class MilvusTransaction:
    """Changes staged under the writer lock; each :meth:`commit` applies them (see the module docstring).

    The store side of ingest's ``IndexTransaction`` protocol. Copying returns the same object (Haystack
    deep-copies pipeline inputs; writing into a copy would lose the batch).
    """

    def __init__(self, index: MilvusIndex, data: dict[str, Any] | None) -> None:
        self._index = index
        self._data = data
        self._files: dict[str, SourceFile] = {
            k: SourceFile.from_dict(v) for k, v in (data or {}).get("files", {}).items()
        }
        self._puts: dict[str, tuple[list[Document], np.ndarray]] = {}
        self._extends: dict[str, tuple[list[Document], np.ndarray]] = {}  # next parts of partial files
        self._removed: set[str] = set()
        self._retag: dict[str, tuple[set[str], SourceFile]] = {}
        self._dirty = False
        self._commits = 0

    def __copy__(self) -> MilvusTransaction:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> MilvusTransaction:
        return self

    @property
    def index(self) -> MilvusIndex:
        return self._index

    @property
    def files(self) -> Mapping[str, SourceFile]:
        return MappingProxyType(self._files)

    @property
    def dim(self) -> int | None:
        return None if self._data is None else int(self._data["dim"])

    @property
    def commits(self) -> int:
        return self._commits

    def put_files(self, additions: Sequence[tuple[SourceFile, list[Document], np.ndarray]]) -> None:
        if self._data is None:
            raise ValueError("open the transaction with an embedding model to add passages")
        for source, docs, vectors in additions:
            if len(docs) != len(vectors):
                raise ValueError(f"{source.key}: {len(docs)} passages but {len(vectors)} embeddings")
            if len(docs) and np.asarray(vectors).shape[1] != self.dim:
                raise ValueError(
                    f"{source.key}: embedding dimension {np.asarray(vectors).shape[1]} != {self.dim}"
                )
            self._files[source.key] = source
            self._puts[source.key] = (list(docs), np.asarray(vectors, dtype=np.float32))
            self._extends.pop(source.key, None)
            self._removed.discard(source.key)
        self._dirty = True

    def extend_files(self, additions: Sequence[tuple[SourceFile, list[Document], np.ndarray]]) -> None:
        """Stage the next part of files committed in parts (see ingest's ``IndexTransaction``)."""
        if self._data is None:
            raise ValueError("open the transaction with an embedding model to add passages")
        for source, docs, vectors in additions:
            vectors = np.asarray(vectors, dtype=np.float32)
            if len(docs) and vectors.reshape(len(docs), -1).shape[1] != self.dim:
                raise ValueError(f"{source.key}: embedding dimension {vectors.shape[-1]} != {self.dim}")
            vectors = vectors.reshape(len(docs), self.dim or 0)
            check_extension(self._files.get(source.key), source, [d.id for d in docs])
            target = self._puts if source.key in self._puts else self._extends
            before = target.get(source.key)
            if before is not None:  # not committed yet: one batch holding both parts
                docs, vectors = [*before[0], *docs], np.concatenate([before[1], vectors])
            target[source.key] = (list(docs), vectors)
            self._files[source.key] = source
        self._dirty = True

    def update_sources(self, sources: Sequence[SourceFile]) -> None:
        for source in sources:
            if source.key not in self._files:
                raise KeyError(source.key)
            if source.metadata() != self._files[source.key].metadata():
                # New tags or mtime: the rows' meta is rewritten, nothing is re-embedded.
                self._retag[source.key] = (set(self._files[source.key].tags), source)
            self._files[source.key] = source
            self._dirty = True

    def remove_files(self, keys: Iterable[str]) -> list[SourceFile]:
        removed = [self._files[k] for k in dict.fromkeys(keys) if k in self._files]
        for source in removed:
            del self._files[source.key]
            self._puts.pop(source.key, None)
            self._extends.pop(source.key, None)
            self._removed.add(source.key)
        self._dirty = self._dirty or bool(removed)
        return removed

    def _retag_rows(self) -> int:
        """Rewrite the rows of files whose metadata changed (new tags, a new mtime) with their stored
        embeddings: an upsert, no passage is embedded again. Idempotent, so a killed commit is simply
        redone by the next ingest (the manifest still holds the old tags). Returns the rows written."""
        written = 0
        for key, (old_tags, source) in self._retag.items():
            if key in self._puts or key in self._removed or key in self._extends:
                continue  # its rows are written (or removed) anyway
            docs, vectors = self._index.store.export_rows(source.passage_ids)
            gone = old_tags - set(source.tags)
            metas = [{k: v for k, v in doc.meta.items() if k not in gone} for doc in docs]
            new = [replace(d, meta={**m, **source.metadata()}) for d, m in zip(docs, metas, strict=True)]
            self._index.store.upsert(new, vectors)
            written += len(new)
        return written

    def commit(self) -> str:
        """Apply the staged changes to Milvus and the manifest (pending → rows → flush → manifest)."""
        if self._data is None:
            raise ValueError("nothing to commit: the index is empty and no passages were added")
        index, store = self._index, self._index.store
        changing = sorted(set(self._puts) | self._removed)
        appending = {key: [d.id for d in docs] for key, (docs, _) in self._extends.items()}
        generation = int(self._data.get("generation", 0))
        retagged = self._retag_rows()
        if not (changing or appending) and retagged:
            store.flush()
        if changing or appending:
            index._write(
                {**self._data, "pending": changing, "appending": appending, "generation": generation}
            )
            # All new rows in large batches (upsert: a row written by an earlier try is replaced, never
            # doubled); then one delete for the stale rows of files the manifest already held. A file new
            # to the manifest has no rows: a killed commit's rows were removed by _recover.
            puts = [*self._puts.values(), *self._extends.values()]
            docs = [doc for batch, _ in puts for doc in batch]
            if docs:
                store.upsert(docs, np.concatenate([vectors for batch, vectors in puts if len(batch)]))
            known = self._data.get("files", {})
            replaced = [key for key in self._puts if key in known]
            store.delete_files_rows(replaced, keep=[d.id for key in replaced for d in self._puts[key][0]])
            store.delete_files_rows(sorted(self._removed))
            store.flush()
        self._data = {
            **self._data,
            "files": {k: asdict(v) for k, v in self._files.items()},
            "pending": [],
            "appending": {},
            "generation": generation + 1,
            "updated": utc_now(),
        }
        index._write(self._data)
        self._puts.clear()
        self._extends.clear()
        self._removed.clear()
        self._retag.clear()
        self._commits += 1
        return f"milvus-{generation + 1}"
