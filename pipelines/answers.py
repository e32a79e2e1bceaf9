"""Typed results of a question: what the CLI, the page and the HTTP API show and serialise.

Kept apart from the reader so that front ends depend on these small dataclasses, not on Haystack's
``ExtractedAnswer`` or on how the reader scores spans.

Size: a result never grows with what the passages repeat (issue 27: a 128 KiB one-"word" file made
``/ask`` return 93 MB). Passages are at most 1,500 characters (``docqa.ingest.splitting``); an answer
has at most five sources, one per passage (the reader's ``span_decoding``), each with its passage's
text; titles and section headings are cut to ``MAX_LABEL_CHARS``. So ``to_dict()`` holds at most
``top_k + 5 * max_answers`` passage texts — with the service's limits (50, 10) and 4-byte UTF-8
characters, under 1 MB (``tests/pipelines/test_answer_size.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from haystack import Document, ExtractedAnswer

from docqa.ingest.layout import section_at

MAX_LABEL_CHARS = 200  # a title or heading longer than this is cut (a Markdown heading can be a whole file)


def _label(text: str | None) -> str | None:
    """``text`` cut to ``MAX_LABEL_CHARS`` characters, ending in "…" when it was cut."""
    if text is None or len(text) <= MAX_LABEL_CHARS:
        return text
    return text[: MAX_LABEL_CHARS - 1] + "…"


@dataclass
class Passage:
    """A retrieved passage, as the CLI, the page and the HTTP API show it."""

    id: str
    content: str
    score: float
    file: str
    title: str
    page: int | None
    pages: list[int]
    page_offsets: list[list[int]]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Document) -> Passage:
        meta = doc.meta
        return cls(
            id=doc.id,
            content=doc.content or "",
            score=float(doc.score or 0.0),
            file=str(meta.get("file", meta.get("title", ""))),
            title=_label(str(meta.get("title", ""))) or "",
            page=meta.get("page"),
            pages=list(meta.get("pages", [])),
            page_offsets=[list(p) for p in meta.get("page_offsets", [])],
            meta=dict(meta),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "file": self.file,
            "title": self.title,
            "page": self.page,
            "pages": self.pages,
            "page_offsets": self.page_offsets,
            "section": _label(self.meta.get("section")),  # Word/HTML: the heading the passage starts under
            "content": self.content,
        }


@dataclass
class AnswerSource:
    """One place an answer was found: the passage, its file and page, and where exactly."""

    document_id: str
    file: str
    title: str
    page: int | None
    passage_start: int
    passage_end: int
    page_start: int | None
    page_end: int | None
    passage: str
    section: str | None = None  # the heading the answer is under (Word, HTML: files without pages)


@dataclass
class Answer:
    text: str
    score: float  # probability in 0..1, comparable across passages and with AskResult.no_answer_score
    unsure: bool  # True when the question was judged unanswerable and this is only the closest candidate
    # Where it was found: its best occurrence in each passage that holds it, best first, at most five.
    sources: list[AnswerSource]
    null_score_diff: float | None = None
    source_count: int = 0  # passages the answer was found in (sources lists at most five); 0 from the FAQ

    @property
    def source(self) -> AnswerSource:
        return self.sources[0]

    @classmethod
    def from_extracted(cls, answer: ExtractedAnswer, passages: dict[str, Passage]) -> Answer:
        meta = answer.meta or {}
        sources = []
        for raw in meta.get("sources") or []:
            passage = passages.get(raw["document_id"])
            page_offset = raw.get("page_offset") or {}
            sources.append(
                AnswerSource(
                    document_id=raw["document_id"],
                    file=passage.file if passage else "",
                    title=passage.title if passage else "",
                    page=raw.get("page", passage.page if passage else None),
                    passage_start=int(raw["document_offset"]["start"]),
                    passage_end=int(raw["document_offset"]["end"]),
                    page_start=page_offset.get("start"),
                    page_end=page_offset.get("end"),
                    passage=passage.content if passage else "",
                    section=_label(section_at(passage.meta, int(raw["document_offset"]["start"])))
                    if passage
                    else None,
                )
            )
        return cls(
            text=answer.data or "",
            score=float(answer.score),
            unsure=bool(meta.get("unsure")),
            sources=sources,
            null_score_diff=meta.get("null_score_diff"),
            source_count=int(meta.get("source_count", len(sources))),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AskResult:
    question: str
    answers: list[Answer]
    no_answer: bool
    no_answer_score: float
    passages: list[Passage]
    timings_ms: dict[str, float] = field(default_factory=dict)
    reader: str | None = None  # the model that answered; "compact" for the bundled compact reader
    reader_error: str | None = None  # set when no reader could be loaded: passages are still shown
    reader_notice: str | None = None  # shown with every answer of the compact reader (lower accuracy)
    reader_fallback: bool = False  # the compact reader stands in for a configured model that is missing
    # "Is it in the documents at all?": probability, threshold, not_in_documents, features ({} when the
    # reader ships no answerability model) — see docqa.pipelines.components.readers.answerability
    answerability: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "no_answer": self.no_answer,
            "no_answer_score": self.no_answer_score,
            "answers": [a.to_dict() for a in self.answers],
            "passages": [p.to_dict() for p in self.passages],
            "timings_ms": self.timings_ms,
            "reader": self.reader,
            "reader_error": self.reader_error,
            "reader_notice": self.reader_notice,
            "reader_fallback": self.reader_fallback,
            "answerability": self.answerability,
        }
