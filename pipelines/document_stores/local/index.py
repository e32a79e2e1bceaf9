"""The on-disk index: a SQLite catalog plus immutable segments, written by one process at a time.

Layout of an index directory (format 2)::

    index.sqlite            the catalog (WAL): manifest, passages, segments, tombstones, generation
    segments/seg-.../       immutable vectors + BM25 postings of a batch of passages (see ``segments.py``)
    writer.lock             held by the single writer (flock: released by the OS even on kill -9)
    faq.json, feedback/     the FAQ and feedback stores (their own files)

A commit writes only what changed: one new segment with the added passages (fsynced first), then one
SQLite transaction that inserts their rows, turns replaced or deleted passages into tombstones and bumps
the generation. Every commit therefore costs what it adds, not what the index holds, and a reader sees one
generation or the next, never a mix. Small segments are merged (dropping tombstoned rows) every
``MERGE_FACTOR`` commits of a tier, up to ``AUTO_MERGE_MAX_ROWS`` rows; ``docqa compact`` merges everything
into one segment. A killed writer leaves only segment folders the catalog never named, swept on the next
write. An index in the format-1 layout (``CURRENT`` + ``snap-*`` folders) is migrated on first open.

:class:`InMemoryIndex` is an in-memory index (``docqa eval``'s temporary index, tests) and what :meth:`load`
materialises for small indexes; searching a directory never builds one (see ``searcher.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from haystack import Document

from docqa.ingest.records import (  # ingest defines manifest records; the store persists them
    SourceFile,
    utc_now,
)
from docqa.pipelines.document_stores.errors import (
    IndexCorruptError,
    IndexLockedError,
    model_mismatch,
)
from docqa.pipelines.document_stores.local import catalog
from docqa.pipelines.document_stores.local.catalog import CATALOG, FORMAT_VERSION, SEGMENTS
from docqa.pipelines.document_stores.local.segments import open_segment
from docqa.pipelines.document_stores.local.writer import LEGACY_CURRENT, IndexWriter, LocalTransaction

__all__ = ["FORMAT_VERSION", "InMemoryIndex", "LocalIndex", "LocalTransaction"]

LOCK_NAME = "writer.lock"


@dataclass
class InMemoryIndex:
    """A whole index in memory: ``docqa eval``'s temporary index, tests, and what :meth:`LocalIndex.load`
    returns for small indexes. Never the live index — searching a directory maps its segments instead.
    Immutable: :meth:`replace_files` and :meth:`with_sources` return new ones."""

    passages: list[Document]
    embeddings: np.ndarray  # (len(passages), dim) float32, L2-normalised
    files: dict[str, SourceFile]
    meta: dict[str, Any]
    name: str | None = None

    @classmethod
    def empty(cls, embedding_model: str, dim: int) -> InMemoryIndex:
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
    ) -> InMemoryIndex:
        """A new in-memory index without the passages of ``remove_keys`` and with ``additions`` appended.

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
        return InMemoryIndex(
            passages=passages,
            embeddings=np.ascontiguousarray(np.concatenate(blocks)),
            files=files,
            meta={**self.meta, "updated": utc_now()},
        )

    def with_sources(self, updated: list[SourceFile]) -> InMemoryIndex:
        """A new in-memory index whose manifest entries are replaced by ``updated`` (same passages)."""
        files = dict(self.files)
        for source in updated:
            if source.key not in files:
                raise KeyError(source.key)
            files[source.key] = source
        return InMemoryIndex(self.passages, self.embeddings, files, {**self.meta, "updated": utc_now()})


class LocalIndex:
    """A DocQA index directory: read its catalog, or hold the writer lock and commit."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).expanduser()

    @property
    def catalog_path(self) -> Path:
        return self.directory / CATALOG

    @property
    def segments_dir(self) -> Path:
        return self.directory / SEGMENTS

    # ---------- format ----------
    def needs_migration(self) -> bool:
        """True for a format-1 index (``CURRENT`` + ``snap-*``) not yet converted to the catalog."""
        if not (self.directory / LEGACY_CURRENT).exists():
            return False
        if not self.catalog_path.exists():
            return True
        try:
            with self._reading(migrate=False) as con:
                return catalog.generation(con) == 0  # a migration killed before its commit
        except IndexCorruptError:
            return True

    def ensure_format(self, timeout: float = 30.0) -> None:
        """Migrate a format-1 index in place (under the writer lock); nothing to do otherwise."""
        if self.needs_migration():
            with self.writer(timeout=timeout):
                pass  # the writer migrates on open

    # ---------- reading ----------
    @contextmanager
    def _reading(self, migrate: bool = True) -> Iterator[Any]:
        """A read transaction on the catalog: everything read in the block belongs to one generation."""
        if migrate:
            self.ensure_format()
        try:
            con = catalog.connect(self.catalog_path)
        except FileNotFoundError:
            raise
        except catalog.sqlite3.DatabaseError as err:
            raise self._corrupt(err) from err
        try:
            con.execute("BEGIN")
            yield con
            con.execute("COMMIT")
        except catalog.sqlite3.DatabaseError as err:
            raise self._corrupt(err) from err
        finally:
            con.close()

    def _corrupt(self, err: Exception) -> IndexCorruptError:
        return catalog.corrupt_error(self.directory, err)

    def generation(self) -> int:
        """How many commits the index has had (0: empty or missing); changes with every commit."""
        try:
            with self._reading() as con:
                return catalog.generation(con)
        except FileNotFoundError:
            return 0

    def current_name(self) -> str | None:
        """A name of the live generation (``gen-000012``), or None when nothing was committed yet."""
        gen = self.generation()
        return f"gen-{gen:06d}" if gen else None

    def exists(self) -> bool:
        return self.current_name() is not None

    def meta(self) -> dict[str, Any]:
        try:
            with self._reading() as con:
                return catalog.read_meta(con)
        except FileNotFoundError:
            return {}

    def files(self) -> dict[str, SourceFile]:
        """The manifest (file key → record), without reading any passage."""
        try:
            with self._reading() as con:
                return catalog.read_files(con)
        except FileNotFoundError:
            return {}

    def stats(self) -> dict[str, Any]:
        """Documents, passages, pages, last ingest and embedding model, from the catalog alone."""
        try:
            with self._reading() as con:
                meta = catalog.read_meta(con)
                files = catalog.read_files(con)
                passages = con.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        except FileNotFoundError:
            meta, files, passages = {}, {}, 0
        return {
            "documents": len(files),
            "passages": int(passages),
            "pages": sum(s.pages for s in files.values()),
            "last_ingest": max((s.ingested_at for s in files.values()), default=None),
            "embedding_model": meta.get("embedding_model"),
        }

    def passage(self, passage_id: str) -> Document | None:
        """One live passage by its id (the latest if an id repeats), or None."""
        try:
            with self._reading() as con:
                row = con.execute(
                    "SELECT vid, id, content, meta FROM passages WHERE id = ? ORDER BY vid DESC LIMIT 1",
                    (passage_id,),
                ).fetchone()
        except FileNotFoundError:
            return None
        return catalog.to_document(row) if row else None

    def load(self, embedding_model: str, dim: int) -> InMemoryIndex:
        """The whole live index as an in-memory :class:`InMemoryIndex` (tests, small indexes, export), or an
        empty one of that model and dim when nothing was committed yet.

        :raises EmbeddingModelMismatchError: when the index was built with another embedding model.
        :raises IndexCorruptError: when the index cannot be read.
        """
        snapshot = self.load_any()
        if snapshot is None:
            return InMemoryIndex.empty(embedding_model, dim)
        self.check_model(snapshot.meta, embedding_model)
        return snapshot

    def check_model(self, meta: Mapping[str, Any], embedding_model: str) -> None:
        built = meta.get("embedding_model")
        if built is not None and built != embedding_model:
            raise model_mismatch(f"The index at {self.directory}", built, embedding_model)

    def load_any(self) -> InMemoryIndex | None:
        """The live index as a :class:`InMemoryIndex` whatever model built it, or None if nothing is
        committed."""
        try:
            with self._reading() as con:
                meta = catalog.read_meta(con)
                if not meta.get("generation"):
                    return None
                files = catalog.read_files(con)
                rows = con.execute("SELECT vid, id, content, meta FROM passages ORDER BY vid").fetchall()
                names = [r[0] for r in con.execute("SELECT name FROM segments")]
        except FileNotFoundError:
            return None
        dim = int(meta.get("dim") or 0)
        vids = np.asarray([r[0] for r in rows], dtype=np.int64)
        embeddings = np.zeros((len(vids), dim), dtype=np.float32)
        found = np.zeros(len(vids), dtype=bool)
        for name in names:
            try:
                segment = open_segment(self.segments_dir / name)
            except (OSError, ValueError) as err:
                raise self._corrupt(err) from err
            seg_vids = np.asarray(segment.vids)
            live = np.isin(seg_vids, vids)
            positions = np.searchsorted(vids, seg_vids[live])
            embeddings[positions] = np.asarray(segment.vectors)[live]
            found[positions] = True
        if not found.all():
            raise self._corrupt(ValueError(f"{int((~found).sum())} passages have no vector in any segment"))
        passages = [catalog.to_document((r[0], r[1], r[2], r[3])) for r in rows]
        name = f"gen-{int(meta['generation']):06d}"
        return InMemoryIndex(passages=passages, embeddings=embeddings, files=files, meta=meta, name=name)

    def live_segments(self) -> list[tuple[str, int, int]]:
        """(name, tier, rows) of the segments of the live generation."""
        try:
            with self._reading() as con:
                return [tuple(r) for r in con.execute("SELECT name, tier, rows FROM segments ORDER BY gen")]
        except FileNotFoundError:
            return []

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
            try:
                writer.remove_orphans()
                yield writer
            finally:
                writer.close()
        finally:
            lock.release()

    @contextmanager
    def transaction(
        self, embedding_model: str | None = None, dim: int | None = None, timeout: float = 5.0
    ) -> Iterator[LocalTransaction]:
        """Hold the writer lock and stage changes on the live index; see :class:`LocalTransaction`.

        With ``embedding_model`` (and ``dim``) the index must have been built with that model, so passages
        can be added. Without them the transaction can only rename or remove files.

        :raises IndexLockedError: another process writes the index (see :meth:`writer`).
        :raises EmbeddingModelMismatchError: the index was built with another embedding model.
        """
        with self.writer(timeout=timeout) as writer:
            if embedding_model is not None:
                if dim is None:
                    raise ValueError("a transaction for an embedding model needs its dimension (dim)")
                self.check_model(writer.meta(), embedding_model)
            yield LocalTransaction(writer, embedding_model, dim)

    def delete_files(self, keys: Iterable[str], lock_timeout: float = 5.0) -> list[SourceFile]:
        """Remove the given files' passages in one atomic commit; return what was removed (in ``keys`` order).

        Needs no embedding model: deleting only turns rows into tombstones. Reads only these files'
        manifest entries, not the whole manifest, so its cost does not grow with the index.
        """
        with self.writer(timeout=lock_timeout) as writer:
            removed = writer.records(dict.fromkeys(keys))
            if removed:
                writer.apply([], [s.key for s in removed])
            return removed

    def compact(self, lock_timeout: float = 5.0) -> dict[str, int]:
        """Merge the segments and drop every tombstone (``docqa compact``); returns before/after counts."""
        with self.writer(timeout=lock_timeout) as writer:
            return writer.compact()

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
    def from_dict(cls, data: dict[str, Any]) -> LocalIndex:
        try:
            return cls(data["init_parameters"]["directory"])
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"not a serialised LocalIndex (it needs init_parameters.directory): {data!r}"
            ) from err


