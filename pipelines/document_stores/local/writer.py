"""Writing an index: commits (one segment + one catalog transaction), merges, compaction, migration.

Only reachable through :meth:`~docqa.pipelines.document_stores.local.index.LocalIndex.writer`, i.e. while the
single-writer lock is held. Order of every write, so that ``kill -9`` anywhere is harmless: segment files
are written to ``<name>.tmp``, fsynced and renamed; then one SQLite transaction names the segment and
changes the rows. Killed before that transaction commits, the catalog still describes the previous
generation and the new folder is an orphan (swept by :meth:`IndexWriter.remove_orphans`); killed after, the
commit is complete. A merge is the same: the merged segment is written first, then one transaction swaps
it for its parts and drops their tombstones; the parts' folders are deleted one commit later (a reader
that listed them a moment ago may still be opening them) or by the next writer's sweep.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from haystack import Document

from docqa.atomic import fsync_dir
from docqa.ingest.records import SourceFile, check_extension, utc_now
from docqa.pipelines.document_stores.errors import IndexCorruptError
from docqa.pipelines.document_stores.local import catalog
from docqa.pipelines.document_stores.local.catalog import FORMAT_VERSION
from docqa.pipelines.document_stores.local.segments import (
    Analyzer,
    build_segment,
    lacks_dense_index,
    merge_segments,
    open_segment,
    write_segment,
)


class IndexLayout(Protocol):
    """What a writer needs of the index it writes (:class:`~.index.LocalIndex`): its layout and checks.
    A Protocol, so this module does not import the one that imports it."""

    directory: Path

    @property
    def catalog_path(self) -> Path: ...

    @property
    def segments_dir(self) -> Path: ...

    def needs_migration(self) -> bool: ...

    def check_model(self, meta: Mapping[str, Any], embedding_model: str) -> None: ...

LEGACY_CURRENT = "CURRENT"
MERGE_FACTOR = 10  # this many segments of one tier are merged into one of the next tier
AUTO_MERGE_MAX_ROWS = 200_000  # larger merges wait for `docqa compact` (they would stall an ingest)
COMPACT_MAX_ROWS = 200_000  # `docqa compact` packs segments up to this size (bounded merge memory)
log = logging.getLogger(__name__)

Addition = tuple[SourceFile, list[Document], np.ndarray]


class IndexWriter:
    """Commits to one index directory. Only obtainable through ``LocalIndex.writer``."""

    def __init__(self, index: IndexLayout) -> None:
        self.index = index
        self.commits = 0
        self.bytes_written = 0  # segment bytes (the catalog's own writes are SQLite's)
        self._retired: list[str] = []  # merged-away segments, deleted at the next commit
        if index.needs_migration():
            self.index.catalog_path.unlink(missing_ok=True)  # a migration killed before its commit
        try:
            if not index.catalog_path.exists():
                catalog.create(index.catalog_path, {
                    "format": FORMAT_VERSION, "generation": 0, "next_vid": 1, "created": utc_now(),
                    "analyzer": Analyzer().to_dict(),
                })
            self.con = catalog.connect(index.catalog_path)
        except sqlite3.DatabaseError as err:
            raise catalog.corrupt_error(index.directory, err) from err
        meta = catalog.read_meta(self.con)
        if meta.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"The index at {index.directory} has format {meta.get('format')}; this DocQA reads "
                f"format {FORMAT_VERSION}. Ingest your documents into a new index."
            )
        if (index.directory / LEGACY_CURRENT).exists():
            self._migrate_legacy()

    def close(self) -> None:
        self._delete_retired()
        self.con.close()

    def meta(self) -> dict[str, Any]:
        return catalog.read_meta(self.con)

    def files(self) -> dict[str, SourceFile]:
        return catalog.read_files(self.con)

    def records(self, keys: Iterable[str]) -> list[SourceFile]:
        """The manifest entries of ``keys`` that are indexed, in ``keys`` order."""
        out = []
        for key in keys:
            row = self.con.execute("SELECT record FROM files WHERE key = ?", (key,)).fetchone()
            if row:
                out.append(SourceFile.from_dict(json.loads(row[0])))
        return out

    # ----- housekeeping -----
    def remove_orphans(self) -> None:
        """Delete segment folders the catalog does not name (a killed commit's, merged-away ones)."""
        folder = self.index.segments_dir
        if not folder.exists():
            return
        live = {r[0] for r in self.con.execute("SELECT name FROM segments")}
        for path in folder.iterdir():
            if path.name not in live:
                shutil.rmtree(path, ignore_errors=True)

    def _delete_retired(self) -> None:
        for name in self._retired:
            shutil.rmtree(self.index.segments_dir / name, ignore_errors=True)
        self._retired = []

    # ----- commits -----
    def apply(
        self,
        additions: Sequence[Addition],
        removals: Iterable[str] = (),
        touched: Sequence[SourceFile] = (),
        embedding_model: str | None = None,
        dim: int | None = None,
        extensions: Sequence[Addition] = (),
        rebuild: bool = False,
    ) -> str:
        """Commit: files in ``additions`` replace what they had, ``removals`` are deleted, ``touched``
        records are updated in place, files in ``extensions`` (already indexed, committed in parts) get
        their new record and these passages *added* to the ones they have. Returns the new generation's
        name. ``rebuild`` (:meth:`rebuild`): every segment before this commit is dropped from it and the
        index's embedding model and dimension become ``embedding_model`` and ``dim``."""
        con = self.con
        meta = self.meta()
        gen = int(meta.get("generation", 0)) + 1
        next_vid = int(meta.get("next_vid", 1))
        written = [*additions, *extensions]  # segment rows and passage rows in this order
        docs = [d for _, batch, _ in written for d in batch]
        segment, rows = None, 0
        if docs:
            analyzer = Analyzer.from_parameters(meta.get("analyzer"))
            tokenizer = analyzer.tokenizer()
            counts = [analyzer.counts(tokenizer, d.content or "", d.meta) for d in docs]
            vectors = np.concatenate(
                [np.asarray(v, dtype=np.float32).reshape(len(b), -1) for _, b, v in written if len(b)]
            )
            data = build_segment(np.arange(next_vid, next_vid + len(docs)), vectors, counts)
            segment = f"seg-{gen:08d}-{uuid.uuid4().hex[:6]}"
            self.bytes_written += write_segment(self.index.segments_dir, segment, data)
            rows, tokens = data.rows, data.token_total
        self._delete_retired()
        old_segments = [r[0] for r in con.execute("SELECT name FROM segments")] if rebuild else []
        con.execute("BEGIN IMMEDIATE")
        try:
            dead: list[int] = []
            for key in dict.fromkeys([*removals, *(s.key for s, _, _ in additions)]):
                dead += [r[0] for r in con.execute("SELECT vid FROM passages WHERE file_key = ?", (key,))]
                con.execute("DELETE FROM passages WHERE file_key = ?", (key,))
                con.execute("DELETE FROM files WHERE key = ?", (key,))
            con.executemany(
                "INSERT OR REPLACE INTO tombstones (vid, gen) VALUES (?, ?)", [(v, gen) for v in dead]
            )
            vid = next_vid
            passage_rows = []
            for source, batch, _ in additions:
                con.execute(
                    "INSERT INTO files (key, record) VALUES (?, ?)", (source.key, catalog.file_record(source))
                )
                for doc in batch:
                    passage_rows.append(catalog.passage_row(vid, source.key, doc))
                    vid += 1
            for source, batch, _ in extensions:
                updated = con.execute(
                    "UPDATE files SET record = ? WHERE key = ?", (catalog.file_record(source), source.key)
                )
                if updated.rowcount != 1:
                    raise ValueError(f"{source.key}: passages added to a file the index does not hold")
                for doc in batch:
                    passage_rows.append(catalog.passage_row(vid, source.key, doc))
                    vid += 1
            con.executemany(
                "INSERT INTO passages (vid, id, file_key, content, meta) VALUES (?, ?, ?, ?, ?)", passage_rows
            )
            for source in touched:
                catalog.patch_passage_meta(con, source)
                con.execute(
                    "UPDATE files SET record = ? WHERE key = ?", (catalog.file_record(source), source.key)
                )
            if segment:
                con.execute(
                    "INSERT INTO segments (name, tier, rows, tokens, gen) VALUES (?, 0, ?, ?, ?)",
                    (segment, rows, tokens, gen),
                )
            if rebuild:  # no row of the old segments is left: they and their tombstones go
                con.executemany("DELETE FROM segments WHERE name = ?", [(name,) for name in old_segments])
                con.execute("DELETE FROM tombstones")
            update: dict[str, Any] = {"generation": gen, "next_vid": vid, "updated": utc_now()}
            if embedding_model is not None and (rebuild or meta.get("embedding_model") is None):
                update.update(embedding_model=embedding_model, dim=int(dim or 0))
            catalog.write_meta(con, update)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.commits += 1
        self._retired += old_segments  # deleted at the next commit or when the writer closes, as merges do
        self.maybe_merge()
        return f"gen-{gen:06d}"

    def rebuild(self, additions: Sequence[Addition], embedding_model: str, dim: int) -> str:
        """Replace every file's passages and vectors and the index's embedding model in *one* commit
        (`docqa reindex`): a reader sees the whole index on the old model or the whole index on the new one,
        never a mix, and a writer killed before the commit leaves the old index as it was (the new segment
        is then an orphan, swept when the next writer opens). Files not in ``additions`` are removed."""
        kept = {source.key for source, _, _ in additions}
        return self.apply(additions, [key for key in self.files() if key not in kept],
                          embedding_model=embedding_model, dim=dim, rebuild=True)

    def commit(self, snapshot: Any) -> str:
        """Make the index hold exactly ``snapshot``'s files (an in-memory :class:`InMemoryIndex`): files whose
        record changed are replaced, files it lacks are removed. One commit."""
        model = snapshot.meta.get("embedding_model")
        self.index.check_model(self.meta(), model) if model else None
        existing = self.files()
        rows = {doc.id: i for i, doc in enumerate(snapshot.passages)}
        additions = []
        for key, source in snapshot.files.items():
            if key in existing and existing[key] == source:
                continue
            idx = [rows[pid] for pid in source.passage_ids if pid in rows]
            vectors = snapshot.embeddings[idx] if idx else np.zeros((0, snapshot.dim), dtype=np.float32)
            additions.append((source, [snapshot.passages[i] for i in idx], vectors))
        removals = [key for key in existing if key not in snapshot.files]
        name = self.apply(additions, removals, (), model, snapshot.dim)
        snapshot.name = name
        return name

    # ----- merging -----
    def _segments(self) -> list[tuple[str, int, int]]:
        return [
            tuple(r) for r in self.con.execute("SELECT name, tier, rows FROM segments ORDER BY gen, name")
        ]

    def maybe_merge(self) -> None:
        """Merge ``MERGE_FACTOR`` segments of a tier into one of the next tier while any tier is full."""
        while True:
            by_tier: dict[int, list[tuple[str, int, int]]] = {}
            for seg in self._segments():
                by_tier.setdefault(seg[1], []).append(seg)
            for tier in sorted(by_tier):
                group = by_tier[tier][:MERGE_FACTOR]
                if len(group) == MERGE_FACTOR and sum(s[2] for s in group) <= AUTO_MERGE_MAX_ROWS:
                    self.merge([s[0] for s in group], tier + 1)
                    break
            else:
                return

    def merge(self, names: Sequence[str], tier: int) -> str | None:
        """Replace segments ``names`` by one holding their live rows (their tombstones are dropped)."""
        con = self.con
        tomb = np.fromiter((r[0] for r in con.execute("SELECT vid FROM tombstones")), dtype=np.int64)
        parts, dead_vids = [], []
        for name in names:
            try:
                data = open_segment(self.index.segments_dir / name, dense=False)  # rebuilt from the rows
            except (OSError, ValueError) as err:
                raise self.index._corrupt(err) from err
            dead = np.isin(np.asarray(data.vids), tomb)
            dead_vids.append(np.asarray(data.vids)[dead])
            parts.append((data, dead))
        merged = merge_segments(parts)
        gen = int(self.meta().get("generation", 0)) + 1
        new_name = None
        if merged.rows:
            new_name = f"seg-{gen:08d}-{uuid.uuid4().hex[:6]}"
            self.bytes_written += write_segment(self.index.segments_dir, new_name, merged)
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("DELETE FROM segments WHERE name = ?", [(n,) for n in names])
            if new_name:
                con.execute(
                    "INSERT INTO segments (name, tier, rows, tokens, gen) VALUES (?, ?, ?, ?, ?)",
                    (new_name, tier, merged.rows, merged.token_total, gen),
                )
            con.executemany("DELETE FROM tombstones WHERE vid = ?", [(int(v),) for a in dead_vids for v in a])
            catalog.write_meta(con, {"generation": gen, "updated": utc_now()})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._retired.extend(names)
        return new_name

    def compact(self) -> dict[str, int]:
        """Merge segments (packed up to ``COMPACT_MAX_ROWS`` rows each), drop every tombstone, and rewrite a
        segment written before segments carried a FAISS index (it is scanned until then), even alone."""
        before = self._segments()
        tombstones = self.con.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0]
        group: list[tuple[str, int, int]] = []
        groups = []
        for seg in before:
            if group and sum(s[2] for s in group) + seg[2] > COMPACT_MAX_ROWS:
                groups.append(group)
                group = []
            group.append(seg)
        if group:
            groups.append(group)
        for group in groups:
            names = [s[0] for s in group]
            has_dead = self.con.execute("SELECT 1 FROM tombstones LIMIT 1").fetchone() is not None
            # a segment written before segments carried a FAISS index is rewritten with one
            old = any(lacks_dense_index(self.index.segments_dir / n) for n in names)
            if len(names) > 1 or has_dead or old:
                self.merge(names, max(s[1] for s in group) + 1)
        self._delete_retired()
        after = self._segments()
        return {
            "segments_before": len(before),
            "segments_after": len(after),
            "tombstones_dropped": tombstones,
        }

    # ----- migration from format 1 -----
    def _migrate_legacy(self) -> None:
        """Convert a format-1 index (``CURRENT`` → ``snap-*/``) into this catalog in one commit, then remove
        the old snapshot folders (only after the commit: a kill before it redoes the migration)."""
        directory = self.index.directory
        if catalog.generation(self.con) == 0:
            name = (directory / LEGACY_CURRENT).read_text(encoding="utf-8").strip()
            folder = directory / name
            try:
                meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
                passages = json.loads((folder / "passages.json").read_text(encoding="utf-8"))
                files = json.loads((folder / "files.json").read_text(encoding="utf-8"))
                embeddings = np.load(folder / "embeddings.npy", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise IndexCorruptError(
                    f"The index at {directory} is in the old snapshot format and cannot be migrated "
                    f"({name}: {err}). Move it aside and ingest your documents again."
                ) from err
            rows = {p["id"]: i for i, p in enumerate(passages)}
            additions = []
            for record in files.values():
                source = SourceFile.from_dict(record)
                idx = [rows[pid] for pid in source.passage_ids if pid in rows]
                docs = [
                    Document(id=passages[i]["id"], content=passages[i]["content"], meta=passages[i]["meta"])
                    for i in idx
                ]
                additions.append((source, docs, embeddings[idx].reshape(len(idx), embeddings.shape[1])))
            self.apply(
                additions, (), (), meta.get("embedding_model"), int(meta.get("dim", embeddings.shape[1]))
            )
            log.warning(
                "Migrated the index at %s from the snapshot format to the catalog + segments format "
                "(%d documents, %d passages).",
                directory,
                len(additions),
                len(passages),
            )
        for path in directory.glob("snap-*"):
            shutil.rmtree(path, ignore_errors=True)
        for path in directory.glob(f".{LEGACY_CURRENT}.*.tmp"):
            path.unlink(missing_ok=True)
        (directory / LEGACY_CURRENT).unlink(missing_ok=True)
        fsync_dir(directory)


class LocalTransaction:
    """Changes staged under the writer lock; each :meth:`commit` makes them live atomically (a checkpoint).

    This is the store side of ingest's ``IndexTransaction`` protocol (``ingest/ingestor.py``): the Ingestor
    reads the manifest (:attr:`files`), the indexing pipeline's writer puts embedded files
    (:meth:`put_files`) or the next part of a big file (:meth:`extend_files`), and every commit is a
    checkpoint that writes only the staged files, so a killed ingest loses only the work since the last one.
    A part is one catalog transaction like any commit: after ``kill -9`` the file's record lists exactly
    the passages its committed parts hold.

    Copying returns the same object: it names one open transaction (Haystack deep-copies pipeline inputs,
    and writing into a copy would silently lose the batch).
    """

    def __init__(self, writer: IndexWriter, embedding_model: str | None, dim: int | None) -> None:
        self._writer = writer
        meta = writer.meta()
        self._model = meta.get("embedding_model") or embedding_model
        self._dim = int(meta.get("dim") or dim or 0) or None
        self._files = writer.files()
        self._adds: dict[str, Addition] = {}
        self._extends: dict[str, Addition] = {}
        self._removes: set[str] = set()
        self._touched: dict[str, SourceFile] = {}

    def __copy__(self) -> LocalTransaction:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> LocalTransaction:
        return self

    @property
    def index(self) -> IndexLayout:
        return self._writer.index

    @property
    def files(self) -> Mapping[str, SourceFile]:
        """The staged manifest, read-only: file key → what the index holds for it."""
        return MappingProxyType(self._files)

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def commits(self) -> int:
        """Commits made in this transaction (checkpoints included)."""
        return self._writer.commits

    def put_files(self, additions: Sequence[Addition]) -> None:
        """Stage each file's passages and their embedding rows, replacing what the file had before."""
        if self._model is None or self._dim is None:
            raise ValueError("open the transaction with an embedding model to add passages")
        for source, docs, vectors in additions:
            vectors = np.asarray(vectors, dtype=np.float32)
            if len(docs) != len(vectors):
                raise ValueError(f"{source.key}: {len(docs)} passages but {len(vectors)} embeddings")
            if len(docs) and vectors.shape[1] != self._dim:
                raise ValueError(f"{source.key}: embedding dimension {vectors.shape[1]} != index {self._dim}")
            self._adds.pop(source.key, None)  # re-put: the latest version goes last, as it is newest
            self._adds[source.key] = (source, list(docs), vectors.reshape(len(docs), self._dim))
            self._extends.pop(source.key, None)
            self._removes.discard(source.key)
            self._touched.pop(source.key, None)
            self._files.pop(source.key, None)
            self._files[source.key] = source

    def extend_files(self, additions: Sequence[Addition]) -> None:
        """Stage the next part of files committed in parts: each ``source`` is the file's new record (its
        ``passage_ids`` are the current ones followed by exactly the ids of ``docs``); nothing the file
        already has is removed."""
        if self._model is None or self._dim is None:
            raise ValueError("open the transaction with an embedding model to add passages")
        for source, docs, vectors in additions:
            vectors = np.asarray(vectors, dtype=np.float32).reshape(len(docs), self._dim)
            current = self._files.get(source.key)
            check_extension(current, source, [d.id for d in docs])
            staged = self._adds.get(source.key) or self._extends.get(source.key)
            if staged is not None:  # not committed yet: one addition holding both parts
                _, before, before_vectors = staged
                docs, vectors = [*before, *docs], np.concatenate([before_vectors, vectors])
            target = self._adds if source.key in self._adds else self._extends
            target[source.key] = (source, list(docs), vectors)
            self._touched.pop(source.key, None)
            self._files[source.key] = source

    def update_sources(self, sources: Sequence[SourceFile]) -> None:
        """Stage new manifest entries for files already indexed (same passages, e.g. a new mtime)."""
        for source in sources:
            if source.key not in self._files:
                raise KeyError(source.key)
            self._files[source.key] = source
            staged = self._adds if source.key in self._adds else self._extends
            if source.key in staged:
                _, docs, vectors = staged[source.key]
                staged[source.key] = (source, docs, vectors)
            else:
                self._touched[source.key] = source

    def remove_files(self, keys: Iterable[str]) -> list[SourceFile]:
        """Stage the removal of these files' passages; return the entries removed (unknown keys skipped)."""
        removed = [self._files[key] for key in dict.fromkeys(keys) if key in self._files]
        for source in removed:
            del self._files[source.key]
            self._adds.pop(source.key, None)
            self._extends.pop(source.key, None)
            self._touched.pop(source.key, None)
            self._removes.add(source.key)
        return removed

    def commit(self) -> str:
        """Make the staged changes live (atomically); return the new generation's name."""
        if self._model is None and not self._removes and not self._touched and not self._files:
            raise ValueError("nothing to commit: the index is empty and no passages were added")
        name = self._writer.apply(
            list(self._adds.values()),
            sorted(self._removes),
            list(self._touched.values()),
            self._model,
            self._dim,
            extensions=list(self._extends.values()),
        )
        self._adds, self._extends, self._removes, self._touched = {}, {}, set(), {}
        return name

