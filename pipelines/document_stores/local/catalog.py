"""The index catalog: one SQLite database (WAL) that is the source of truth of an index directory.

It holds the manifest (``files``), every live passage (``passages``: text and meta, keyed by ``vid``, the
row id its vector and postings carry in the segments), the segments that make up the index, the
tombstones of passages deleted since their segment was written, and a generation counter. One SQLite
transaction per commit makes a checkpoint live atomically: a reader sees the generation before it or after
it, never a mix (WAL readers keep their snapshot for the duration of a read transaction), and ``kill -9``
at any moment rolls back to the last commit. Segment files are written and fsynced *before* the
transaction that names them, so a killed writer leaves at most unreferenced segment folders, swept by the
next writer.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from haystack import Document

from docqa.atomic import fsync_dir
from docqa.ingest.records import SourceFile
from docqa.pipelines.document_stores.errors import IndexCorruptError

FORMAT_VERSION = 2
CATALOG = "index.sqlite"
SEGMENTS = "segments"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
    vid INTEGER PRIMARY KEY, id TEXT NOT NULL, file_key TEXT NOT NULL, content TEXT, meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_file ON passages (file_key);
CREATE INDEX IF NOT EXISTS passages_id ON passages (id);
CREATE TABLE IF NOT EXISTS segments (
    name TEXT PRIMARY KEY, tier INTEGER NOT NULL, rows INTEGER NOT NULL, tokens REAL NOT NULL,
    gen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones (vid INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tombstones_gen ON tombstones (gen);
"""


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit ``BEGIN``/``COMMIT``).

    ``synchronous=FULL``: a commit that returned survives a power cut, not only a killed process.
    """
    if not create and not path.exists():
        raise FileNotFoundError(path)
    con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    if create:
        con.executescript(_SCHEMA)
    return con


def create(path: Path, meta: dict[str, Any]) -> None:
    """Create an empty catalog atomically: built beside ``path``, then renamed, so no reader ever opens a
    database without its tables."""
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        con.executescript(_SCHEMA)
        write_meta(con, meta)
    finally:
        con.close()
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_meta(con: sqlite3.Connection) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM meta")}


def write_meta(con: sqlite3.Connection, values: dict[str, Any]) -> None:
    con.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [(k, json.dumps(v)) for k, v in values.items()],
    )


def generation(con: sqlite3.Connection) -> int:
    row = con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return int(json.loads(row[0])) if row else 0


def read_files(con: sqlite3.Connection) -> dict[str, SourceFile]:
    return {
        key: SourceFile.from_dict(json.loads(record))
        for key, record in con.execute("SELECT key, record FROM files ORDER BY rowid")
    }


def file_record(source: SourceFile) -> str:
    return json.dumps(source.__dict__, ensure_ascii=False)


def patch_passage_meta(con: sqlite3.Connection, source: SourceFile) -> None:
    """Give the passages of an indexed file its new metadata (new tags, a new mtime) in place: one
    ``json_patch`` per file, no passage re-embedded; a tag the file no longer has is removed (null)."""
    row = con.execute("SELECT record FROM files WHERE key = ?", (source.key,)).fetchone()
    if row is None:
        return
    old = SourceFile.from_dict(json.loads(row[0]))
    new = source.metadata()
    if old.metadata() == new:
        return
    patch = {**{key: None for key in old.tags if key not in source.tags}, **new}
    con.execute(
        "UPDATE passages SET meta = json_patch(meta, ?) WHERE file_key = ?",
        (json.dumps(patch, ensure_ascii=False), source.key),
    )


def passage_row(vid: int, file_key: str, doc: Document) -> tuple:
    return (vid, doc.id, file_key, doc.content, json.dumps(doc.meta or {}, ensure_ascii=False))


def to_document(row: tuple) -> Document:
    _, doc_id, content, meta = row
    return Document(id=doc_id, content=content, meta=json.loads(meta))


def documents_by_vid(con: sqlite3.Connection, vids: Iterable[int]) -> dict[int, Document]:
    """The live passages among ``vids`` (a deleted one is simply absent)."""
    wanted = [int(v) for v in vids]
    out: dict[int, Document] = {}
    for start in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
        chunk = wanted[start : start + 900]
        marks = ",".join("?" * len(chunk))
        for row in con.execute(f"SELECT vid, id, content, meta FROM passages WHERE vid IN ({marks})", chunk):
            out[row[0]] = to_document(row)
    return out


def corrupt_error(directory: Path, err: Exception) -> IndexCorruptError:
    """The one message for an index whose catalog cannot be read: what failed and what to do."""
    return IndexCorruptError(
        f"The index at {directory} cannot be read ({CATALOG}: {err}). "
        f"Move it aside and ingest your documents again."
    )
