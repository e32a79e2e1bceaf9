"""The FAQ store: ``<index>/faq.json`` — curated entries plus the embeddings of their questions.

Why a separate ``faq.json`` instead of FAQ passages inside the snapshots: FAQ answers must not be
retrieved and re-read by the reader (it would extract a fragment of the curated text), and re-loading the
FAQ must not re-embed or re-commit the documents. The file is replaced atomically
(:func:`docqa.atomic.atomic_write_bytes`) while holding the index's writer lock, so it never changes under
an ingest and a reader sees the old list or the new one. The question embeddings are stored with the
model that made them; a matcher configured with another model gets the questions re-embedded in memory
instead of comparing vectors of two different models.

Usage::

    store = FaqStore(LocalIndex("./docqa-index"))
    report = store.replace(read_faq_file("faq.csv"), embed_texts, "my-embedding-model")
    entry, similarity = store.nearest(query_vector, "my-embedding-model")
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from haystack.core.errors import DeserializationError
from haystack.core.serialization import default_to_dict, generate_qualified_class_name

from docqa.atomic import atomic_write_bytes
from docqa.errors import StorageError
from docqa.ingest.records import utc_now
from docqa.pipelines.document_stores.filters import matches
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.faq.files import FaqEntry, FaqFileError, normalise_question

FAQ_FILE = "faq.json"
FAQ_FORMAT = 1

EmbedTexts = Callable[[Sequence[str]], np.ndarray]
Signature = tuple[int, int, int]


@dataclass
class FaqLoadReport:
    """What re-loading an FAQ file changed, by question (a changed answer keeps its question)."""

    source: str
    total: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "total": self.total,
            "counts": {
                "added": len(self.added),
                "changed": len(self.changed),
                "removed": len(self.removed),
                "unchanged": self.unchanged,
            },
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "seconds": round(self.seconds, 3),
        }



def _encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _decode_vector(text: str, dim: int) -> np.ndarray:
    vector = np.frombuffer(base64.b64decode(text), dtype="<f4")
    if vector.shape != (dim,):
        raise ValueError(f"embedding of {vector.size} values, expected {dim}")
    return vector.astype(np.float32)


def normalise_rows(matrix: np.ndarray | Sequence[float]) -> np.ndarray:
    """Rows scaled to unit length (a 1-D vector becomes one row): cosine similarity is then a dot product."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def best_match(faq_matrix: np.ndarray, query_vector: np.ndarray | Sequence[float]) -> tuple[int, float]:
    """Row and cosine similarity of the FAQ question closest to the query (both sides normalised here)."""
    query = normalise_rows(query_vector)[0]
    similarities = normalise_rows(faq_matrix) @ query
    row = int(np.argmax(similarities))
    return row, float(similarities[row])


@dataclass
class StoredFaq:
    """The content of ``faq.json``: entries plus the normalised embeddings of their questions."""

    entries: list[FaqEntry]
    embeddings: np.ndarray  # (len(entries), dim) float32, L2-normalised; rows follow entries
    embedding_model: str
    source: str = ""
    updated: str = ""


class FaqStore:
    """``<index>/faq.json``: read it, replace it atomically under the index's writer lock, and find the
    entry nearest to a question's embedding.

    The vectors used for matching are cached until the file is replaced (by this process or another:
    :meth:`signature` changes), so a long-running service sees a re-loaded FAQ on its next question
    without reading the file for every question.
    """

    def __init__(self, index: LocalIndex) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._cached: tuple[Signature | None, str, list[FaqEntry], np.ndarray] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Haystack's ``{"type", "init_parameters"}`` envelope: a matcher serialises its store with it."""
        return default_to_dict(self, index_dir=str(self.index.directory))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaqStore:
        if data.get("type") != generate_qualified_class_name(cls):
            raise DeserializationError(f"{data.get('type')!r} is not a serialised {cls.__name__}")
        return cls(LocalIndex(data["init_parameters"]["index_dir"]))

    @property
    def path(self) -> Path:
        return self.index.directory / FAQ_FILE

    def signature(self) -> Signature | None:
        """Changes whenever the file is replaced (os.replace gives a new inode); None when absent."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def load(self) -> StoredFaq | None:
        """The stored FAQ, or None when none was loaded. :raises FaqFileError: when it is unreadable."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise FaqFileError(str(self.path), [f"cannot be read ({err}); load your FAQ file again"]) from err
        try:
            if raw.get("format") != FAQ_FORMAT:
                raise ValueError(f"format {raw.get('format')}, this DocQA reads format {FAQ_FORMAT}")
            dim = int(raw["dim"])
            entries = [
                FaqEntry(e["question"], e["answer"], dict(e.get("tags") or {})) for e in raw["entries"]
            ]
            vectors = [_decode_vector(e["embedding"], dim) for e in raw["entries"]]
        except (KeyError, TypeError, ValueError) as err:
            problem = f"is not a DocQA FAQ store ({err}); load your FAQ file again"
            raise FaqFileError(str(self.path), [problem]) from err
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(entries), dim)
        return StoredFaq(
            entries, matrix, str(raw["embedding_model"]), raw.get("source", ""), raw.get("updated", "")
        )

    def entries(self) -> list[FaqEntry]:
        """The stored entries in file order (empty when no FAQ was loaded)."""
        stored = self.load()
        return stored.entries if stored else []

    def replace(
        self,
        entries: list[FaqEntry],
        embed: EmbedTexts,
        embedding_model: str,
        *,
        source: str = "",
        lock_timeout: float = 5.0,
    ) -> FaqLoadReport:
        """Make ``entries`` the FAQ of this index, embedding only questions that are new.

        :raises docqa.pipelines.document_stores.local.index.IndexLockedError: when another writer holds the
            index
            for ``lock_timeout`` seconds; the stored FAQ is then unchanged.
        """
        started = time.perf_counter()
        with self.index.writer(timeout=lock_timeout):
            try:
                old = self.load()
            except FaqFileError:
                old = None  # an unreadable store is replaced wholesale; the report then says "added"
            old_entries = {normalise_question(e.question): e for e in (old.entries if old else [])}
            reuse: dict[str, np.ndarray] = {}
            if old is not None and old.embedding_model == embedding_model:
                reuse = {normalise_question(e.question): old.embeddings[i] for i, e in enumerate(old.entries)}
            report = FaqLoadReport(source=source, total=len(entries))
            new_keys = set()
            for entry in entries:
                key = normalise_question(entry.question)
                new_keys.add(key)
                previous = old_entries.get(key)
                if previous is None:
                    report.added.append(entry.question)
                elif (previous.answer, previous.question, previous.tags) != (
                    entry.answer,
                    entry.question,
                    entry.tags,
                ):
                    report.changed.append(entry.question)
                else:
                    report.unchanged += 1
            report.removed = [e.question for k, e in old_entries.items() if k not in new_keys]

            to_embed = [e.question for e in entries if normalise_question(e.question) not in reuse]
            fresh = normalise_rows(embed(to_embed)) if to_embed else np.zeros((0, 0), dtype=np.float32)
            fresh_by_key = {normalise_question(q): fresh[i] for i, q in enumerate(to_embed)}
            vectors = []
            for entry in entries:
                key = normalise_question(entry.question)
                vectors.append(reuse[key] if key in reuse else fresh_by_key[key])
            dim = int(vectors[0].shape[0]) if vectors else (old.embeddings.shape[1] if old else 0)
            payload = {
                "format": FAQ_FORMAT,
                "embedding_model": embedding_model,
                "dim": dim,
                "source": source,
                "updated": utc_now(),
                "entries": [
                    {**e.to_dict(), "embedding": _encode_vector(v)}
                    for e, v in zip(entries, vectors, strict=True)
                ],
            }
            data = json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")
            atomic_write_bytes(self.path, data)  # readers see the old FAQ or the new one, never a mix
        report.seconds = time.perf_counter() - started
        return report

    # ----- matching -----
    def vectors(
        self, embedding_model: str, embed: EmbedTexts | None = None
    ) -> tuple[list[FaqEntry], np.ndarray]:
        """The entries and their L2-normalised question vectors, comparable with ``embedding_model``'s.

        :param embed: re-embeds the questions when they were stored by another model (vectors of two
            models are not comparable); without it such a store is an error.
        :raises FaqFileError: the stored file is unreadable.
        :raises StorageError: the questions need re-embedding and no ``embed`` was given.
        """
        signature = self.signature()
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == signature and cached[1] == embedding_model:
                return cached[2], cached[3]
            stored = self.load()
            if stored is None or not stored.entries:
                entries, matrix = [], np.zeros((0, 0), dtype=np.float32)
            else:
                entries, matrix = stored.entries, stored.embeddings
                if stored.embedding_model != embedding_model:
                    if embed is None:
                        raise StorageError(
                            f"{self.path}: the FAQ questions were embedded with {stored.embedding_model}, "
                            f"not {embedding_model}; load your FAQ file again"
                        )
                    matrix = np.asarray(embed([e.question for e in entries]), dtype=np.float32)
                matrix = normalise_rows(matrix)
            self._cached = (signature, embedding_model, entries, matrix)
            return entries, matrix

    def nearest(
        self,
        query_embedding: np.ndarray | Sequence[float],
        embedding_model: str,
        embed: EmbedTexts | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> tuple[FaqEntry, float] | None:
        """The stored entry whose question is closest to the query and its cosine similarity; None when the
        index has no FAQ. ``query_embedding`` must come from ``embedding_model`` (see :meth:`vectors`).
        ``filters`` (checked, ``document_stores.filters``): only entries whose tags pass are considered."""
        entries, matrix = self.vectors(embedding_model, embed)
        if filters is not None:
            rows = [i for i, e in enumerate(entries) if matches(e.tags, filters)]
            entries, matrix = [entries[i] for i in rows], matrix[rows]
        if not entries:
            return None
        row, similarity = best_match(matrix, query_embedding)
        return entries[row], similarity
