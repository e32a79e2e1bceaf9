"""LEGACY (format 1), kept only so ``benchmarks/scale.py`` can measure the old design in the same run.

The on-disk index: immutable snapshots, switched atomically, written by one process at a time.

Layout of an index directory::

    CURRENT                 name of the live snapshot (replaced atomically with os.replace)
    snap-000012-1a2b3c4d/   one complete, immutable snapshot
        meta.json           format version, embedding model and dimension, creation time
        passages.json       passages: id, content, meta (file, page, page offsets, ...)
        embeddings.npy      float32 matrix, row i belongs to passages[i]
        files.json          the manifest: one entry per source file (hash, pages, passage ids, ...)
    writer.lock             held by the single writer (flock: released by the OS even on kill -9)

Why snapshots instead of FAISSDocumentStore.save(): that writes two files in place, so a crash between
or during the writes leaves an index that does not open, or opens inconsistent. A snapshot directory is
complete and fsynced before CURRENT points at it, so every reader sees the old index or the new one,
never a mix, and a killed writer leaves at most an orphan ``*.tmp`` directory that the next writer removes.
The FAISS index itself is rebuilt from ``embeddings.npy`` on open (exact flat search: a copy, not a training).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from haystack import Document

from docqa.atomic import atomic_write_bytes, atomic_writer, fsync_dir
from docqa.errors import BusyError, StorageError
from docqa.ingest.records import (  # ingest defines manifest records; the store persists them
    SourceFile,
    utc_now,
)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
LOCK_NAME = "writer.lock"
SNAPSHOTS_KEPT = 2  # the live one and its predecessor, which a reader may still be loading


class IndexStoreError(StorageError):
    """Base for index problems a user must act on; ``str(err)`` is the message to show."""


class IndexLockedError(IndexStoreError, BusyError):
    pass


class IndexCorruptError(IndexStoreError):
    pass


class EmbeddingModelMismatchError(IndexStoreError):
    pass


@dataclass
class Snapshot:
    """An immutable view of the index. Writers derive new snapshots; they never mutate one."""

    passages: list[Document]
    embeddings: np.ndarray  # (len(passages), dim) float32, L2-normalised
    files: dict[str, SourceFile]
    meta: dict[str, Any]
    name: str | None = None

    @classmethod
    def empty(cls, embedding_model: str, dim: int) -> Snapshot:
        return cls(
            passages=[],
            embeddings=np.zeros((0, dim), dtype=np.float32),
            files={},
            meta={
                "format": FORMAT_VERSION,
                "embedding_model": embedding_model,
                "dim": dim,
                "created": utc_now(),
            },
        )

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def replace_files(
        self,
        remove_keys: set[str],
        additions: list[tuple[SourceFile, list[Document], np.ndarray]],
    ) -> Snapshot:
        """A new snapshot without the passages of ``remove_keys`` and with ``additions`` appended.

        A key that is both removed and added is an update: its old passages are replaced.
        """
        drop = set(remove_keys) | {source.key for source, _, _ in additions}
        dropped_ids = {pid for key in drop if key in self.files for pid in self.files[key].passage_ids}
        keep = [i for i, doc in enumerate(self.passages) if doc.id not in dropped_ids]
        passages = [self.passages[i] for i in keep]
        blocks = [self.embeddings[keep]] if keep else [np.zeros((0, self.dim), dtype=np.float32)]
        files = {key: source for key, source in self.files.items() if key not in drop}
        for source, docs, vectors in additions:
            if len(docs) != len(vectors):
                raise ValueError(f"{source.key}: {len(docs)} passages but {len(vectors)} embeddings")
            if len(docs) and vectors.shape[1] != self.dim:
                raise ValueError(f"{source.key}: embedding dimension {vectors.shape[1]} != index {self.dim}")
            passages.extend(docs)
            blocks.append(np.asarray(vectors, dtype=np.float32).reshape(len(docs), self.dim))
            files[source.key] = source
        return Snapshot(
            passages=passages,
            embeddings=np.ascontiguousarray(np.concatenate(blocks)),
            files=files,
            meta={**self.meta, "updated": utc_now()},
        )

    def with_sources(self, updated: list[SourceFile]) -> Snapshot:
        """A new snapshot whose manifest entries are replaced by ``updated`` (same passages)."""
        files = dict(self.files)
        for source in updated:
            if source.key not in files:
                raise KeyError(source.key)
            files[source.key] = source
        return Snapshot(self.passages, self.embeddings, files, {**self.meta, "updated": utc_now()})


def _serialise_passage(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "content": doc.content, "meta": doc.meta}


class DocumentIndex:
    """A DocQA index directory: open snapshots for reading, or hold the writer lock and commit."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).expanduser()

    # ---------- reading ----------
    def current_name(self) -> str | None:
        try:
            name = (self.directory / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def exists(self) -> bool:
        return self.current_name() is not None

    def load(self, embedding_model: str, dim: int) -> Snapshot:
        """The live snapshot, or an empty one (same model and dim) when nothing was committed yet.

        :raises EmbeddingModelMismatchError: when the index was built with another embedding model.
        :raises IndexCorruptError: when the live snapshot cannot be read.
        """
        name = self.current_name()
        if name is None:
            return Snapshot.empty(embedding_model, dim)
        snapshot = self._read_snapshot(name)
        if snapshot.meta.get("embedding_model") != embedding_model:
            raise EmbeddingModelMismatchError(
                f"The index at {self.directory} was built with the embedding model "
                f"'{snapshot.meta.get('embedding_model')}', but '{embedding_model}' is configured. "
                f"Set DOCQA_EMBEDDING_MODEL to the index's model, or use a new index directory (DOCQA_INDEX)."
            )
        return snapshot

    def load_any(self) -> Snapshot | None:
        """The live snapshot whatever model built it (for listing documents), or None if empty."""
        name = self.current_name()
        return self._read_snapshot(name) if name else None

    def _read_snapshot(self, name: str) -> Snapshot:
        folder = self.directory / name
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            raw_passages = json.loads((folder / "passages.json").read_text(encoding="utf-8"))
            raw_files = json.loads((folder / "files.json").read_text(encoding="utf-8"))
            embeddings = np.load(folder / "embeddings.npy", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise IndexCorruptError(
                f"The index at {self.directory} cannot be read ({name}: {err}). "
                f"Move it aside and ingest your documents again."
            ) from err
        if meta.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"The index at {self.directory} has format {meta.get('format')}; this DocQA reads "
                f"format {FORMAT_VERSION}. Ingest your documents into a new index."
            )
        passages = [Document(id=p["id"], content=p["content"], meta=p["meta"]) for p in raw_passages]
        if embeddings.shape != (len(passages), int(meta["dim"])):
            raise IndexCorruptError(
                f"The index at {self.directory} is inconsistent ({name}): "
                f"{len(passages)} passages but embeddings of shape {embeddings.shape}."
            )
        files = {key: SourceFile.from_dict(value) for key, value in raw_files.items()}
        return Snapshot(
            passages=passages,
            embeddings=embeddings.astype(np.float32, copy=False),
            files=files,
            meta=meta,
            name=name,
        )

    # ---------- writing ----------
    @contextmanager
    def writer(self, timeout: float = 5.0) -> Iterator[IndexWriter]:
        """Hold the single-writer lock for the duration of the block.

        :raises IndexLockedError: when another process holds it for longer than ``timeout`` seconds.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.directory / LOCK_NAME))
        try:
            lock.acquire(timeout=timeout)
        except Timeout as err:
            raise IndexLockedError(
                f"The index at {self.directory} is being written by another DocQA process "
                f"(an ingest is running). Wait for it to finish and try again."
            ) from err
        try:
            writer = IndexWriter(self)
            writer.remove_orphans()
            yield writer
        finally:
            lock.release()

    @contextmanager
    def transaction(
        self, embedding_model: str | None = None, dim: int | None = None, timeout: float = 5.0
    ) -> Iterator[SnapshotTransaction]:
        """Hold the writer lock and stage changes on the live snapshot; see :class:`SnapshotTransaction`.

        With ``embedding_model`` (and ``dim``) the index must have been built with that model, and an empty
        index starts as an empty snapshot of that model, so passages can be added. Without them the
        transaction can only rename or remove files (deleting needs no embedding model).

        :raises IndexLockedError: another process writes the index (see :meth:`writer`).
        :raises EmbeddingModelMismatchError: the index was built with another embedding model.
        """
        with self.writer(timeout=timeout) as writer:
            if embedding_model is not None:
                if dim is None:
                    raise ValueError("a transaction for an embedding model needs its dimension (dim)")
                base: Snapshot | None = self.load(embedding_model, dim)
            else:
                base = self.load_any()
            yield SnapshotTransaction(writer, base)

    def delete_files(self, keys: Iterable[str], lock_timeout: float = 5.0) -> list[SourceFile]:
        """Remove the given files' passages in one atomic commit; return what was removed (in ``keys`` order).

        Needs no embedding model: deleting only drops rows, whatever model built the index.
        """
        with self.transaction(timeout=lock_timeout) as transaction:
            removed = transaction.remove_files(keys)
            if removed:
                transaction.commit()
            return removed

    def is_locked(self) -> bool:
        """True while another process holds the writer lock (e.g. an ingest is running)."""
        if not self.directory.exists():
            return False
        lock = FileLock(str(self.directory / LOCK_NAME))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    # ---------- serialisation (components handed an index round-trip through to_dict/from_dict) ----------
    def to_dict(self) -> dict[str, Any]:
        return {
            "type": f"{type(self).__module__}.{type(self).__qualname__}",
            "init_parameters": {"directory": str(self.directory)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentIndex:
        try:
            return cls(data["init_parameters"]["directory"])
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"not a serialised DocumentIndex (it needs init_parameters.directory): {data!r}"
            ) from err


class IndexWriter:
    """Commits snapshots. Only obtainable through :meth:`DocumentIndex.writer`, i.e. under the lock."""

    def __init__(self, index: DocumentIndex) -> None:
        self.index = index
        self.commits = 0

    def remove_orphans(self) -> None:
        """Delete what a writer killed mid-commit left: unfinished snapshot folders and pointer temp files."""
        live = self.index.current_name()
        for path in self.index.directory.glob("snap-*"):
            if not path.is_dir() or path.name == live:
                continue
            # A *.tmp was never finished; a complete one newer than CURRENT was never switched to.
            if path.name.endswith(".tmp") or live is None or path.name > live:
                shutil.rmtree(path, ignore_errors=True)
        for leftover in self.index.directory.glob(f".{CURRENT}.*.tmp"):
            leftover.unlink(missing_ok=True)

    def commit(self, snapshot: Snapshot) -> str:
        """Write ``snapshot`` completely, then make it the live one in a single atomic rename."""
        directory = self.index.directory
        live = self.index.current_name()
        sequence = int(live.split("-")[1]) + 1 if live else 1
        name = f"snap-{sequence:06d}-{uuid.uuid4().hex[:8]}"
        tmp = directory / f"{name}.tmp"
        tmp.mkdir(parents=True)
        atomic_write_bytes(
            tmp / "passages.json",
            json.dumps([_serialise_passage(d) for d in snapshot.passages], ensure_ascii=False).encode(),
        )
        atomic_write_bytes(
            tmp / "files.json",
            json.dumps({k: asdict(v) for k, v in snapshot.files.items()}, ensure_ascii=False).encode(),
        )
        with atomic_writer(tmp / "embeddings.npy") as handle:
            np.save(handle, np.ascontiguousarray(snapshot.embeddings, dtype=np.float32))
        atomic_write_bytes(tmp / "meta.json", json.dumps({**snapshot.meta, "committed": utc_now()}).encode())
        os.rename(tmp, directory / name)
        fsync_dir(directory)  # the complete snapshot folder is durable before CURRENT can name it
        atomic_write_bytes(directory / CURRENT, name.encode())
        snapshot.name = name
        self.commits += 1
        self._prune_old_snapshots()
        return name

    def _prune_old_snapshots(self) -> None:
        complete = sorted(
            p for p in self.index.directory.glob("snap-*") if p.is_dir() and not p.name.endswith(".tmp")
        )
        for old in complete[:-SNAPSHOTS_KEPT]:
            shutil.rmtree(old, ignore_errors=True)


class SnapshotTransaction:
    """Changes staged on the live snapshot under the writer lock; each :meth:`commit` makes them live.

    This is the store side of ingest's ``IndexTransaction`` protocol (``ingest/ingestor.py``): the Ingestor
    reads the manifest (:attr:`files`), the indexing pipeline's writer puts embedded files
    (:meth:`put_files`), and every commit is a checkpoint, so a killed ingest loses only the work since
    the last one. Only obtainable through :meth:`DocumentIndex.transaction`, i.e. while the lock is held.

    Copying returns the same object: it names one open transaction (Haystack deep-copies pipeline inputs,
    and writing into a copy would silently lose the batch).
    """

    def __init__(self, writer: IndexWriter, base: Snapshot | None) -> None:
        self._writer = writer
        self._snapshot = base

    def __copy__(self) -> SnapshotTransaction:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SnapshotTransaction:
        return self

    @property
    def index(self) -> DocumentIndex:
        return self._writer.index

    @property
    def snapshot(self) -> Snapshot | None:
        """The staged snapshot (None: an empty index opened without an embedding model)."""
        return self._snapshot

    @property
    def files(self) -> Mapping[str, SourceFile]:
        """The staged manifest, read-only: file key → what the index holds for it."""
        return MappingProxyType(self._snapshot.files if self._snapshot else {})

    @property
    def dim(self) -> int | None:
        return self._snapshot.dim if self._snapshot else None

    @property
    def commits(self) -> int:
        """Snapshots committed in this transaction (checkpoints included)."""
        return self._writer.commits

    def put_files(self, additions: Sequence[tuple[SourceFile, list[Document], np.ndarray]]) -> None:
        """Stage each file's passages and their embedding rows, replacing what the file had before."""
        if self._snapshot is None:
            raise ValueError("open the transaction with an embedding model to add passages")
        self._snapshot = self._snapshot.replace_files(set(), list(additions))

    def update_sources(self, sources: Sequence[SourceFile]) -> None:
        """Stage new manifest entries for files already indexed (same passages, e.g. a new mtime)."""
        if sources:
            if self._snapshot is None:
                raise KeyError(sources[0].key)
            self._snapshot = self._snapshot.with_sources(list(sources))

    def remove_files(self, keys: Iterable[str]) -> list[SourceFile]:
        """Stage the removal of these files' passages; return the entries removed (unknown keys skipped)."""
        if self._snapshot is None:
            return []
        known = self._snapshot.files
        removed = [known[key] for key in dict.fromkeys(keys) if key in known]
        if removed:
            self._snapshot = self._snapshot.replace_files({s.key for s in removed}, [])
        return removed

    def commit(self) -> str:
        """Make the staged snapshot the live one (atomically); return its name."""
        if self._snapshot is None:
            raise ValueError("nothing to commit: the index is empty and no passages were added")
        return self._writer.commit(self._snapshot)
