"""Curated FAQ answers: matched before the documents are read, returned as written when close enough.

A support team often knows the answer to its most frequent questions better than any passage does. An
FAQ file (CSV with ``question,answer`` columns, or a JSON/YAML list of ``{question, answer}``) is loaded
into the index directory as ``faq.json``; at query time the user's question is embedded with the same
query embedder as retrieval uses and compared (cosine on L2-normalised vectors) with every FAQ question.
When the best similarity reaches the threshold, the curated answer is returned directly, marked as FAQ
with the matched question and the similarity; otherwise DocQA answers from the documents as usual.

Why a separate ``faq.json`` instead of FAQ passages inside the snapshots: FAQ answers must not be
retrieved and re-read by the reader (it would extract a fragment of the curated text), and re-loading the
FAQ must not re-embed or re-commit the documents. The file is replaced atomically (temp file, fsync,
``os.replace``) while holding the index's writer lock, so it never changes under an ingest and a reader
sees the old list or the new one. The question embeddings are stored with the model that made them; a
DocQA configured with another model re-embeds the questions in memory instead of comparing vectors of two
different models.

The default threshold (:data:`DEFAULT_FAQ_THRESHOLD`) is measured, not guessed: see
``benchmarks/faq_match.py`` and ``data/faq_paraphrases.json``. Override it per call, or with the
environment variable ``DOCQA_FAQ_THRESHOLD``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from docqa.errors import InvalidInputError
from pipelines.answers import Answer, AskResult
from pipelines.document_stores.snapshots import DocumentIndex, utc_now

if TYPE_CHECKING:
    from pipelines.api import DocQA

FAQ_FILE = "faq.json"
FAQ_FORMAT = 1
FAQ_THRESHOLD_ENV = "DOCQA_FAQ_THRESHOLD"
# Measured by benchmarks/faq_match.py on data/faq_paraphrases.json with the packaged all-MiniLM-L6-v2:
# the lowest threshold whose precision stays >= 0.95 also 0.01 below it (embedding noise). There:
# precision 0.97, recall 0.55 (5-fold cross-validated the same). Paraphrases that share few words with
# the FAQ question fall below it and get document answers, with the nearest FAQ question attached.
DEFAULT_FAQ_THRESHOLD = 0.80
FAQ_SUFFIXES = {".csv": "csv", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 20_000
MAX_ENTRIES = 10_000
MAX_PROBLEMS_SHOWN = 20

EmbedTexts = Callable[[Sequence[str]], np.ndarray]


class FaqFileError(InvalidInputError):
    """An FAQ file cannot be loaded. ``problems`` names the file and the row or field of each problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  ... and {more} more" if more > 0 else "")
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}; nothing was loaded:\n{lines}")


def normalise_question(text: str) -> str:
    """The identity of an FAQ question: case, white space and trailing punctuation do not matter."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).rstrip(" ?!.")


def entry_id(question: str) -> str:
    return hashlib.sha256(normalise_question(question).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str

    @property
    def id(self) -> str:
        return entry_id(self.question)

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "question": self.question, "answer": self.answer}


# ---------------------------------------------------------------- reading FAQ files


def faq_format(name: str) -> str:
    """``csv``, ``json`` or ``yaml`` from a file name. :raises FaqFileError: for any other suffix."""
    suffix = Path(name).suffix.lower()
    if suffix not in FAQ_SUFFIXES:
        raise FaqFileError(
            name,
            [f"unsupported FAQ file type '{suffix or name}' (use .csv with question,answer columns, "
             f".json or .yaml)"],
        )
    return FAQ_SUFFIXES[suffix]


def _decode(data: bytes, source: str) -> str:
    from ingest.loaders import decode_text

    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FaqFileError(source, ["binary data, not a text file"])
    text, _note = decode_text(data)
    return text


def _check_entry(where: str, question: Any, answer: Any, problems: list[str]) -> FaqEntry | None:
    before = len(problems)
    values = {}
    checks = (("question", question, MAX_QUESTION_CHARS), ("answer", answer, MAX_ANSWER_CHARS))
    for name, value, limit in checks:
        if value is None:
            problems.append(f"{where}: field '{name}' is missing")
        elif not isinstance(value, str):
            problems.append(f"{where}: field '{name}' must be text, not {type(value).__name__}")
        elif not value.strip():
            problems.append(f"{where}: field '{name}' is empty")
        elif len(value.strip()) > limit:
            problems.append(f"{where}: field '{name}' is {len(value.strip())} characters (at most {limit})")
        else:
            values[name] = " ".join(value.split()) if name == "question" else value.strip()
    if len(problems) > before:
        return None
    return FaqEntry(values["question"], values["answer"])


def _rows_from_csv(text: str, source: str) -> list[tuple[str, Any, Any]]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise FaqFileError(source, ["the file is empty (expected a header row: question,answer)"]) from None
    except csv.Error as err:
        raise FaqFileError(source, [f"row 1: not valid CSV ({err})"]) from None
    columns = [h.strip().lstrip("\ufeff").casefold() for h in header]
    missing = [name for name in ("question", "answer") if name not in columns]
    if missing:
        raise FaqFileError(
            source,
            [f"row 1 (header): no column named {' or '.join(repr(m) for m in missing)}; "
             f"found {', '.join(repr(h) for h in header) or 'nothing'}"],
        )
    q_col, a_col = columns.index("question"), columns.index("answer")
    rows = []
    try:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank lines between entries are common in hand-edited files
            question = row[q_col] if q_col < len(row) else None
            answer = row[a_col] if a_col < len(row) else None
            rows.append((f"row {number}", question, answer))
    except csv.Error as err:
        raise FaqFileError(source, [f"row {reader.line_num}: not valid CSV ({err})"]) from None
    return rows


def _rows_from_list(data: Any, source: str) -> list[tuple[str, Any, Any]]:
    if isinstance(data, dict):
        # Accept {"faq": [...]} / {"entries": [...]} as well as a bare list.
        for key in ("faq", "faqs", "entries", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise FaqFileError(
            source,
            [f"expected a list of {{question, answer}} entries at the top level, "
             f"found {type(data).__name__}"],
        )
    rows = []
    for number, item in enumerate(data, start=1):
        where = f"entry {number}"
        if not isinstance(item, dict):
            rows.append((where, _NotAMapping(type(item).__name__), None))
            continue
        lowered = {str(k).strip().casefold(): v for k, v in item.items()}
        rows.append((where, lowered.get("question"), lowered.get("answer")))
    return rows


@dataclass
class _NotAMapping:
    type_name: str


def parse_faq(data: bytes, source: str, fmt: str | None = None) -> list[FaqEntry]:
    """Parse the bytes of an FAQ file named ``source`` (the name is used in messages and for the format).

    :raises FaqFileError: listing every bad row/entry (file, row or entry number, field), duplicates
        included; nothing is loaded when any row is bad.
    """
    fmt = fmt or faq_format(source)
    text = _decode(data, source)
    if not text.strip():
        raise FaqFileError(source, ["the file is empty"])
    if fmt == "csv":
        rows = _rows_from_csv(text, source)
    elif fmt == "json":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as err:
            raise FaqFileError(source, [f"line {err.lineno}, column {err.colno}: invalid JSON ({err.msg})"]) \
                from None
        rows = _rows_from_list(parsed, source)
    elif fmt == "yaml":
        import yaml

        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise FaqFileError(source, [f"{where}invalid YAML ({problem})"]) from None
        rows = _rows_from_list(parsed, source)
    else:
        raise ValueError(f"unknown FAQ format {fmt!r}")

    problems: list[str] = []
    entries: list[FaqEntry] = []
    first_seen: dict[str, str] = {}
    for where, question, answer in rows:
        if isinstance(question, _NotAMapping):
            problems.append(
                f"{where}: expected an object with 'question' and 'answer', found {question.type_name}"
            )
            continue
        entry = _check_entry(where, question, answer, problems)
        if entry is None:
            continue
        key = normalise_question(entry.question)
        if key in first_seen:
            problems.append(f"{where}: duplicate question (same as {first_seen[key]}): {entry.question!r}")
            continue
        first_seen[key] = where
        entries.append(entry)
    if not rows:
        problems.append("no FAQ entries in the file")
    if len(entries) > MAX_ENTRIES:
        problems.append(f"{len(entries)} entries; at most {MAX_ENTRIES} are supported")
    if problems:
        raise FaqFileError(source, problems)
    return entries


def read_faq_file(path: str | Path) -> list[FaqEntry]:
    """Read and validate an FAQ file from disk. :raises FaqFileError: see :func:`parse_faq`."""
    path = Path(path).expanduser()
    fmt = faq_format(path.name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FaqFileError(str(path), ["no such file"]) from None
    except IsADirectoryError:
        raise FaqFileError(str(path), ["is a directory, not a file"]) from None
    except OSError as err:
        raise FaqFileError(str(path), [f"cannot read file: {err.strerror or err}"]) from None
    return parse_faq(data, str(path), fmt)


# ---------------------------------------------------------------- storing FAQ entries


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


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


@dataclass
class StoredFaq:
    """The content of ``faq.json``: entries plus the normalised embeddings of their questions."""

    entries: list[FaqEntry]
    embeddings: np.ndarray  # (len(entries), dim) float32, L2-normalised; rows follow entries
    embedding_model: str
    source: str = ""
    updated: str = ""


class FaqStore:
    """``<index>/faq.json``: read it, or replace it atomically under the index's writer lock."""

    def __init__(self, index: DocumentIndex) -> None:
        self.index = index

    @property
    def path(self) -> Path:
        return self.index.directory / FAQ_FILE

    def signature(self) -> tuple[int, int, int] | None:
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
            entries = [FaqEntry(e["question"], e["answer"]) for e in raw["entries"]]
            vectors = [_decode_vector(e["embedding"], dim) for e in raw["entries"]]
        except (KeyError, TypeError, ValueError) as err:
            problem = f"is not a DocQA FAQ store ({err}); load your FAQ file again"
            raise FaqFileError(str(self.path), [problem]) from err
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(entries), dim)
        return StoredFaq(
            entries, matrix, str(raw["embedding_model"]), raw.get("source", ""), raw.get("updated", "")
        )

    def entries(self) -> list[FaqEntry]:
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

        :raises pipelines.document_stores.snapshots.IndexLockedError: when another writer holds the index for ``lock_timeout``.
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
                elif previous.answer != entry.answer or previous.question != entry.question:
                    report.changed.append(entry.question)
                else:
                    report.unchanged += 1
            report.removed = [e.question for k, e in old_entries.items() if k not in new_keys]

            to_embed = [e.question for e in entries if normalise_question(e.question) not in reuse]
            fresh = _normalise_rows(embed(to_embed)) if to_embed else np.zeros((0, 0), dtype=np.float32)
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
            self._write_atomically(json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8"))
        report.seconds = time.perf_counter() - started
        return report

    def _write_atomically(self, data: bytes) -> None:
        directory = self.index.directory
        tmp = directory / f"{FAQ_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- matching questions


@dataclass(frozen=True)
class FaqMatch:
    """The FAQ entry closest to a question; ``matched`` when its similarity reaches the threshold."""

    entry: FaqEntry
    similarity: float
    threshold: float

    @property
    def matched(self) -> bool:
        return self.similarity >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "id": self.entry.id,
            "question": self.entry.question,
            "similarity": round(float(self.similarity), 4),
            "threshold": self.threshold,
        }


def best_match(faq_matrix: np.ndarray, query_vector: np.ndarray) -> tuple[int, float]:
    """Row and cosine similarity of the FAQ question closest to the query (both sides normalised here)."""
    query = _normalise_rows(query_vector)[0]
    similarities = _normalise_rows(faq_matrix) @ query
    row = int(np.argmax(similarities))
    return row, float(similarities[row])


def resolve_threshold(threshold: float | None = None) -> float:
    """The per-call value, else ``DOCQA_FAQ_THRESHOLD``, else the calibrated default.

    :raises ValueError: for a value outside 0..1 (cosine similarities of MiniLM questions live there).
    """
    if threshold is None:
        raw = os.environ.get(FAQ_THRESHOLD_ENV, "").strip()
        if raw:
            try:
                threshold = float(raw)
            except ValueError:
                raise ValueError(f"{FAQ_THRESHOLD_ENV}={raw!r} is not a number (e.g. 0.8)") from None
        else:
            threshold = DEFAULT_FAQ_THRESHOLD
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the FAQ threshold must be between 0 and 1, got {threshold}")
    return float(threshold)


class FaqMatcher:
    """The FAQ of one index, ready to match; follows ``faq.json`` when another process replaces it."""

    def __init__(self, store: FaqStore, embedding_model: str, embed_one: Callable[[str], Sequence[float]]):
        self.store = store
        self.embedding_model = embedding_model
        self.embed_one = embed_one
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._entries: list[FaqEntry] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def _current(self) -> tuple[list[FaqEntry], np.ndarray]:
        signature = self.store.signature()
        with self._lock:
            if signature != self._signature:
                stored = self.store.load()
                if stored is None:
                    entries, matrix = [], np.zeros((0, 0), dtype=np.float32)
                else:
                    entries, matrix = stored.entries, stored.embeddings
                    if stored.embedding_model != self.embedding_model and entries:
                        # Vectors of another model are not comparable with ours: embed the questions anew.
                        matrix = np.asarray([self.embed_one(e.question) for e in entries], dtype=np.float32)
                    matrix = _normalise_rows(matrix) if entries else matrix
                self._entries, self._matrix, self._signature = entries, matrix, signature
            return self._entries, self._matrix

    def entries(self) -> list[FaqEntry]:
        return list(self._current()[0])

    def nearest(self, question: str, threshold: float | None = None) -> FaqMatch | None:
        """The closest FAQ entry (matched or not), or None when no FAQ is loaded."""
        entries, matrix = self._current()
        if not entries:
            return None
        row, similarity = best_match(matrix, np.asarray(self.embed_one(question), dtype=np.float32))
        return FaqMatch(entries[row], similarity, resolve_threshold(threshold))


# ---------------------------------------------------------------- answers


@dataclass
class FaqAnswer(Answer):
    """A curated answer. ``score`` is the similarity of the questions; ``sources`` is empty."""

    faq: dict[str, Any] | None = None  # {"id", "question", "similarity"} of the matched FAQ entry


@dataclass
class FaqAskResult(AskResult):
    """An :class:`AskResult` that also says how the question compared with the FAQ.

    ``faq`` is None when the index has no FAQ; otherwise the nearest FAQ entry, with ``matched`` telling
    whether the curated answer was used (then ``answers`` holds exactly that one :class:`FaqAnswer`).
    """

    faq: FaqMatch | None = None

    @property
    def from_faq(self) -> bool:
        return self.faq is not None and self.faq.matched

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["faq"] = self.faq.to_dict() if self.faq else None
        return data

    @classmethod
    def from_result(cls, result: AskResult, faq: FaqMatch | None) -> FaqAskResult:
        values = {f.name: getattr(result, f.name) for f in fields(AskResult)}
        return cls(**values, faq=faq)

    @classmethod
    def curated(cls, question: str, match: FaqMatch, timings_ms: dict[str, float]) -> FaqAskResult:
        answer = FaqAnswer(
            text=match.entry.answer,
            score=float(match.similarity),
            unsure=False,
            sources=[],
            faq={"id": match.entry.id, "question": match.entry.question,
                 "similarity": round(float(match.similarity), 4)},
        )
        return cls(question, [answer], False, 0.0, [], timings_ms, reader=None, faq=match)


_MATCHERS: dict[tuple[str, str], FaqMatcher] = {}
_MATCHERS_LOCK = threading.Lock()


def faq_matcher(docqa: DocQA) -> FaqMatcher:
    """One matcher per (index directory, embedding model) per process, sharing DocQA's query embedder."""
    key = (str(docqa.index.directory.resolve()), docqa.settings.embedding_model)
    with _MATCHERS_LOCK:
        matcher = _MATCHERS.get(key)
        if matcher is None:
            embedder = docqa.query_embedder()
            matcher = FaqMatcher(
                FaqStore(docqa.index),
                docqa.settings.embedding_model,
                lambda text: embedder.run(text=text)["embedding"],
            )
            _MATCHERS[key] = matcher
        return matcher


def _embed_texts(docqa: DocQA) -> EmbedTexts:
    embedder = docqa.query_embedder()

    def embed(texts: Sequence[str]) -> np.ndarray:
        # The query embedder on both sides: FAQ questions and user questions are the same kind of text.
        return np.asarray([embedder.run(text=t)["embedding"] for t in texts], dtype=np.float32)

    return embed


def load_faq(
    docqa: DocQA,
    source: str | Path | bytes,
    *,
    name: str | None = None,
    lock_timeout: float = 5.0,
) -> FaqLoadReport:
    """Validate an FAQ file and make it the index's FAQ (replacing any earlier one).

    :param source: a path, or the file's bytes (then ``name`` gives the file name: format and messages).
    :raises FaqFileError: the file is invalid; nothing is changed.
    :raises pipelines.document_stores.snapshots.IndexLockedError: another process is writing the index.
    """
    if isinstance(source, bytes):
        label = name or "faq"
        entries = parse_faq(source, label)
    else:
        label = name or str(source)
        entries = read_faq_file(source)
    return FaqStore(docqa.index).replace(
        entries, _embed_texts(docqa), docqa.settings.embedding_model, source=Path(label).name,
        lock_timeout=lock_timeout,
    )


def faq_entries(docqa: DocQA) -> list[FaqEntry]:
    return FaqStore(docqa.index).entries()


def match_faq(docqa: DocQA, question: str, threshold: float | None = None) -> FaqMatch | None:
    """The FAQ entry nearest to ``question`` (check ``.matched``), or None when the index has no FAQ."""
    return faq_matcher(docqa).nearest(question, threshold)


@dataclass
class FaqCheck:
    """The FAQ step of a question, on its own: a service can then run the (slow) document step under its
    own concurrency limit while curated answers are returned at once."""

    question: str
    match: FaqMatch | None
    ms: float

    def curated(self) -> FaqAskResult | None:
        """The curated answer when the question matched an FAQ entry, else None."""
        if self.match is None or not self.match.matched:
            return None
        return FaqAskResult.curated(self.question, self.match, {"faq": self.ms, "total": self.ms})

    def attach(self, result: AskResult) -> FaqAskResult:
        """A document answer with the nearest FAQ entry (below the threshold) and the FAQ time added."""
        timings = dict(result.timings_ms)
        timings["faq"] = self.ms
        timings["total"] = timings.get("total", 0.0) + self.ms
        result.timings_ms = timings
        return FaqAskResult.from_result(result, self.match)


def check_faq(
    docqa: DocQA, question: str, *, faq_threshold: float | None = None, use_faq: bool = True
) -> FaqCheck:
    """Match ``question`` against the index's FAQ (see :class:`FaqCheck`).

    :raises ValueError: for an empty question or a threshold outside 0..1.
    """
    if not question or not question.strip():
        raise ValueError("question must not be empty")
    threshold = resolve_threshold(faq_threshold)
    started = time.perf_counter()
    match = match_faq(docqa, question, threshold) if use_faq else None
    return FaqCheck(question, match, (time.perf_counter() - started) * 1000.0)
