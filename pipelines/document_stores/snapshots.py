"""The on-disk index: immutable snapshots, switched atomically, written by one process at a time.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from haystack import Document

from docqa.errors import BusyError, StorageError

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


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class SourceFile:
    """What the index knows about one ingested file (or, in evaluation, one article)."""

    key: str  # absolute resolved path: the identity of the file
    file_name: str
    title: str
    kind: str
    sha256: str
    size: int
    mtime_ns: int
    page_lengths: list[int]
    passage_ids: list[str]
    ingested_at: str
    notes: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return len(self.page_lengths)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceFile:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


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


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


class IndexWriter:
    """Commits snapshots. Only obtainable through :meth:`DocumentIndex.writer`, i.e. under the lock."""

    def __init__(self, index: DocumentIndex) -> None:
        self.index = index
        self.commits = 0

    def remove_orphans(self) -> None:
        """Delete temporary snapshot directories left by a writer that was killed."""
        live = self.index.current_name()
        for path in self.index.directory.glob("snap-*"):
            if not path.is_dir() or path.name == live:
                continue
            # A *.tmp was never finished; a complete one newer than CURRENT was never switched to.
            if path.name.endswith(".tmp") or live is None or path.name > live:
                shutil.rmtree(path, ignore_errors=True)

    def commit(self, snapshot: Snapshot) -> str:
        """Write ``snapshot`` completely, then make it the live one in a single atomic rename."""
        directory = self.index.directory
        live = self.index.current_name()
        sequence = int(live.split("-")[1]) + 1 if live else 1
        name = f"snap-{sequence:06d}-{uuid.uuid4().hex[:8]}"
        tmp = directory / f"{name}.tmp"
        tmp.mkdir(parents=True)
        _fsync_write(
            tmp / "passages.json",
            json.dumps([_serialise_passage(d) for d in snapshot.passages], ensure_ascii=False).encode(),
        )
        _fsync_write(
            tmp / "files.json",
            json.dumps({k: asdict(v) for k, v in snapshot.files.items()}, ensure_ascii=False).encode(),
        )
        with open(tmp / "embeddings.npy", "wb") as handle:
            np.save(handle, np.ascontiguousarray(snapshot.embeddings, dtype=np.float32))
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_write(tmp / "meta.json", json.dumps({**snapshot.meta, "committed": utc_now()}).encode())
        _fsync_dir(tmp)
        os.rename(tmp, directory / name)
        pointer = directory / f"{CURRENT}.tmp"
        _fsync_write(pointer, name.encode())
        os.replace(pointer, directory / CURRENT)
        _fsync_dir(directory)
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
