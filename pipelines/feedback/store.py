"""The feedback store: ``<index>/feedback.jsonl`` — what users said about answers, kept with the index.

A record says, for one question and the passage it was answered from: the answer was ``correct``,
``wrong`` (optionally with the right span) or the answer is ``not_in_documents``. The passage text, its
file, page and offsets are copied from the index *when the feedback is given*, so the record still means
the same thing after the document is re-ingested, changed or deleted — and it can be exported as
training data (:mod:`docqa.pipelines.feedback.export`) long after.

Why copy the passage from the index and never take it from the client: the stored text becomes training
data, and the offsets must point at exactly the text DocQA showed. A client can only name a passage of the
live index (``passage_id``); one that is gone (re-ingested between the answer and the click) is a clear
``passage_id`` error telling the user to ask again.

Why an append-only JSONL file with its own lock instead of an atomic rewrite under the index writer lock:
feedback must not wait for a long ingest (the writer lock is held for minutes) and must not rewrite every
earlier record for each new one. Each record is one line, written with one ``write`` under
``feedback.lock`` (a file lock: other processes; plus a thread lock) and fsynced before the call returns.
A crash can only tear the *last* line: readers drop a last line without its newline, and the next writer
truncates it away before appending, so a torn write never corrupts earlier or later records. A record a
caller was told is stored (fsync returned) is therefore always complete.

Usage::

    store = FeedbackStore("./docqa-index")            # or a LocalIndex
    record = build_record("Who founded Normandy?", passage_document, "correct", answer_start=0, answer_end=5)
    store.append(record)
    page = store.page(offset=0, limit=50)          # FeedbackPage: records (oldest first) and total
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from docqa.atomic import fsync_dir
from docqa.choices import Choice
from docqa.errors import BusyError, InvalidInputError, StorageError
from docqa.ingest.records import utc_now
from docqa.pipelines.feedback.limits import (
    MAX_ANSWER_CHARS,
    MAX_COMMENT_CHARS,
    MAX_PAGE_LIMIT,
    MAX_QUESTION_CHARS,
)

if TYPE_CHECKING:  # Haystack is not imported at run time: `docqa feedback list` starts in a blink
    from haystack import Document

    from docqa.pipelines.document_stores.local.index import LocalIndex

FEEDBACK_FILE = "feedback.jsonl"
FEEDBACK_LOCK = "feedback.lock"
FEEDBACK_FORMAT = 1


class FeedbackVerdict(Choice):
    """What the user said about an answer."""

    CORRECT = "correct"  # the answer shown is right (its span is stored)
    WRONG = "wrong"  # the answer shown is wrong; the span, if given, is the right answer
    NOT_IN_DOCUMENTS = "not_in_documents"  # the documents do not answer the question

    @classmethod
    def option_name(cls) -> str:
        return "verdict"

    @classmethod
    def normalise(cls, text: str) -> str:
        """Case, surrounding space, hyphens and spaces are forgiven ("Not in documents")."""
        return text.strip().lower().replace("-", "_").replace(" ", "_")

    @classmethod
    def error(cls, message: str) -> FeedbackFieldError:
        return FeedbackFieldError("verdict", message)


class FeedbackFieldError(InvalidInputError):
    """One field of a feedback is unusable; ``field`` names it and ``str(err)`` starts with it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = message


@dataclass(frozen=True)
class FeedbackRecord:
    """One stored feedback, self-contained: the passage as it was when the answer was given.

    ``answer_start``/``answer_end`` are characters in ``passage`` (the passage ``content`` as ``/ask``
    returned it) and ``answer == passage[answer_start:answer_end]``: the confirmed answer for ``correct``,
    the correction for ``wrong`` (None when the user gave none), None for ``not_in_documents``.
    """

    id: str
    created: str
    question: str
    verdict: FeedbackVerdict
    passage_id: str
    passage: str
    file: str
    title: str
    page: int | None
    pages: list[int] = field(default_factory=list)
    page_offsets: list[list[int]] = field(default_factory=list)
    answer_start: int | None = None
    answer_end: int | None = None
    answer: str | None = None
    comment: str | None = None
    reader: str | None = None

    @property
    def has_span(self) -> bool:
        return self.answer_start is not None and self.answer_end is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "question": self.question,
            "verdict": self.verdict.value,
            "passage_id": self.passage_id,
            "passage": self.passage,
            "file": self.file,
            "title": self.title,
            "page": self.page,
            "pages": list(self.pages),
            "page_offsets": [list(p) for p in self.page_offsets],
            "answer_start": self.answer_start,
            "answer_end": self.answer_end,
            "answer": self.answer,
            "comment": self.comment,
            "reader": self.reader,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedbackRecord:
        """:raises KeyError, TypeError, ValueError: when ``data`` is not a stored record."""
        record = cls(
            id=str(data["id"]),
            created=str(data["created"]),
            question=str(data["question"]),
            verdict=FeedbackVerdict(data["verdict"]),
            passage_id=str(data["passage_id"]),
            passage=str(data["passage"]),
            file=str(data.get("file", "")),
            title=str(data.get("title", "")),
            page=data.get("page"),
            pages=list(data.get("pages") or []),
            page_offsets=[list(p) for p in data.get("page_offsets") or []],
            answer_start=data.get("answer_start"),
            answer_end=data.get("answer_end"),
            answer=data.get("answer"),
            comment=data.get("comment"),
            reader=data.get("reader"),
        )
        if record.has_span and record.passage[record.answer_start : record.answer_end] != record.answer:
            raise ValueError("answer is not passage[answer_start:answer_end]")
        return record


@dataclass
class FeedbackPage:
    """One page of stored feedback, oldest first (new records never shift earlier pages)."""

    records: list[FeedbackRecord]
    total: int
    offset: int
    limit: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "records": [r.to_dict() for r in self.records],
        }


# ----- validation -----
def _text(name: str, value: str | None, limit: int, *, required: bool) -> str | None:
    """``value`` stripped; None when absent or blank and not ``required``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FeedbackFieldError(name, "must not be empty")
        return None
    if not isinstance(value, str):
        raise FeedbackFieldError(name, f"must be text, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise FeedbackFieldError(name, f"is {len(value)} characters long; at most {limit} are accepted")
    return value


def _offset(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FeedbackFieldError(name, f"must be a whole number of characters, got {value!r}")
    return value


def locate_in_passage(passage: str, text: str) -> tuple[int, int] | None:
    """Where ``text`` (typed by the user) is in ``passage``: the first exact occurrence, else the first
    case-insensitive one; None when it is not there. The first occurrence is taken because the user
    typed no position; the page sends offsets when the user selects the span instead."""
    start = passage.find(text)
    if start < 0:
        start = passage.lower().find(text.lower()) if len(passage.lower()) == len(passage) else -1
    return (start, start + len(text)) if start >= 0 else None


def _span(
    passage: str,
    verdict: FeedbackVerdict,
    answer_start: int | None,
    answer_end: int | None,
    correct_answer: str | None,
) -> tuple[int, int] | None:
    """The answer span the feedback marks, checked against the passage (see :func:`build_record`)."""
    if (answer_start is None) != (answer_end is None):
        missing = "answer_end" if answer_end is None else "answer_start"
        raise FeedbackFieldError(missing, "give answer_start and answer_end together")
    if verdict is FeedbackVerdict.NOT_IN_DOCUMENTS:
        if answer_start is not None:
            raise FeedbackFieldError("answer_start", "not_in_documents takes no answer span")
        if correct_answer is not None:
            raise FeedbackFieldError("correct_answer", "not_in_documents takes no answer")
        return None
    if answer_start is not None and answer_end is not None:
        if answer_start < 0 or answer_start >= len(passage):
            raise FeedbackFieldError(
                "answer_start", f"{answer_start} is outside the passage (0..{len(passage) - 1})"
            )
        if answer_end <= answer_start:
            raise FeedbackFieldError("answer_end", f"{answer_end} must be greater than answer_start")
        if answer_end > len(passage):
            raise FeedbackFieldError(
                "answer_end", f"{answer_end} is past the end of the passage ({len(passage)} characters)"
            )
        if not passage[answer_start:answer_end].strip():
            raise FeedbackFieldError("answer_start", "the span holds only white space")
        if len(passage[answer_start:answer_end]) > MAX_ANSWER_CHARS:
            raise FeedbackFieldError("answer_end", f"the span is longer than {MAX_ANSWER_CHARS} characters")
        if correct_answer is not None and passage[answer_start:answer_end].strip() != correct_answer:
            raise FeedbackFieldError(
                "correct_answer",
                f"{correct_answer!r} is not the text at answer_start..answer_end "
                f"({passage[answer_start:answer_end]!r})",
            )
        # Surrounding white space of a mouse selection is not part of the answer.
        inner = passage[answer_start:answer_end]
        start = answer_start + (len(inner) - len(inner.lstrip()))
        return start, start + len(inner.strip())
    if correct_answer is not None:
        span = locate_in_passage(passage, correct_answer)
        if span is None:
            raise FeedbackFieldError(
                "correct_answer",
                f"{correct_answer!r} is not in the passage; select the answer in the passage shown, "
                "or mark the question not_in_documents",
            )
        return span
    if verdict is FeedbackVerdict.CORRECT:
        raise FeedbackFieldError(
            "answer_start", "a correct answer needs its span (answer_start and answer_end, or correct_answer)"
        )
    return None  # "wrong" without a correction


def build_record(
    question: str,
    passage: Document,
    verdict: str | FeedbackVerdict,
    answer_start: int | None = None,
    answer_end: int | None = None,
    correct_answer: str | None = None,
    comment: str | None = None,
    *,
    reader: str | None = None,
) -> FeedbackRecord:
    """A validated record for feedback on ``passage`` (a passage of the live index, copied as it is now).

    Rules: offsets come in pairs, ``0 <= answer_start < answer_end <= len(passage)``; ``correct`` needs
    the span (offsets, or ``correct_answer`` text found in the passage); ``wrong`` may carry the right span;
    ``not_in_documents`` carries none. ``correct_answer`` with offsets must be the text between them.

    :raises FeedbackFieldError: naming the first unusable field.
    """
    verdict = FeedbackVerdict.from_str(verdict)
    question_text = _text("question", question, MAX_QUESTION_CHARS, required=True)
    assert question_text is not None
    typed = _text("correct_answer", correct_answer, MAX_ANSWER_CHARS, required=False)
    note = _text("comment", comment, MAX_COMMENT_CHARS, required=False)
    content = passage.content or ""
    span = _span(
        content, verdict, _offset("answer_start", answer_start), _offset("answer_end", answer_end), typed
    )
    meta = passage.meta or {}
    return FeedbackRecord(
        id=uuid.uuid4().hex,
        created=utc_now(),
        question=question_text,
        verdict=verdict,
        passage_id=str(passage.id),
        passage=content,
        file=str(meta.get("file", meta.get("title", ""))),
        title=str(meta.get("title", "")),
        page=meta.get("page"),
        pages=list(meta.get("pages", [])),
        page_offsets=[list(p) for p in meta.get("page_offsets", [])],
        answer_start=span[0] if span else None,
        answer_end=span[1] if span else None,
        answer=content[span[0] : span[1]] if span else None,
        comment=note,
        reader=reader,
    )


def check_page(offset: int, limit: int) -> None:
    """:raises FeedbackFieldError: for a negative offset or a limit outside 1..MAX_PAGE_LIMIT."""
    if offset < 0:
        raise FeedbackFieldError("offset", "must be 0 or more")
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise FeedbackFieldError("limit", f"must be between 1 and {MAX_PAGE_LIMIT}")


# ----- the file -----
class FeedbackStore:
    """``<index>/feedback.jsonl``: append records durably, read them back (see the module docstring)."""

    def __init__(self, index: LocalIndex | str | Path, *, lock_timeout: float = 10.0) -> None:
        self.directory = Path(index).expanduser() if isinstance(index, (str, Path)) else index.directory
        self.lock_timeout = lock_timeout
        self._thread_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.directory / FEEDBACK_FILE

    def append(self, record: FeedbackRecord) -> FeedbackRecord:
        """Store ``record`` durably (fsynced) and return it.

        :raises BusyError: another process held the feedback lock for ``lock_timeout`` seconds.
        :raises StorageError: the file cannot be written (disk full, permissions).
        """
        line = (json.dumps({"format": FEEDBACK_FORMAT, **record.to_dict()}, ensure_ascii=False) + "\n")
        data = line.encode("utf-8")
        directory = self.directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with self._thread_lock, FileLock(str(directory / FEEDBACK_LOCK), timeout=self.lock_timeout):
                created = not self.path.exists()
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
                try:
                    _drop_torn_tail(fd)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if created:
                    fsync_dir(directory)
        except Timeout as err:
            raise BusyError(
                f"{directory / FEEDBACK_LOCK}: another process is storing feedback; try again"
            ) from err
        except OSError as err:
            raise StorageError(f"{self.path}: feedback cannot be stored ({err.strerror or err})") from err
        return record

    def records(self) -> list[FeedbackRecord]:
        """Every stored record, oldest first; a torn last line (a crash mid-write) is left out.

        :raises StorageError: a complete line is not a record (the file was edited): the message names it.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StorageError(f"{self.path}: cannot be read ({err.strerror or err})") from err
        lines = raw.split(b"\n")
        lines.pop()  # after the last newline: empty, or a torn record that was never acknowledged
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(FeedbackRecord.from_dict(json.loads(line.decode("utf-8"))))
            except (KeyError, TypeError, ValueError, UnicodeDecodeError) as err:
                raise StorageError(
                    f"{self.path}: line {number} is not a feedback record ({err}); "
                    "fix or remove that line"
                ) from err
        return records

    def count(self) -> int:
        return len(self.records())

    def page(self, offset: int = 0, limit: int = 50) -> FeedbackPage:
        """Records ``offset`` .. ``offset + limit`` (oldest first) and the total.

        :raises FeedbackFieldError: for a negative offset or a limit outside 1..MAX_PAGE_LIMIT.
        """
        check_page(offset, limit)
        records = self.records()
        return FeedbackPage(records[offset : offset + limit], len(records), offset, limit)


def _drop_torn_tail(fd: int) -> None:
    """Cut the file back to its last newline when a crash left a partial record after it.

    Only called under the lock; the partial record was never acknowledged (its fsync did not return).
    """
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    chunk = 64 * 1024
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            os.ftruncate(fd, start + cut + 1)
            return
        end = start
    os.ftruncate(fd, 0)
