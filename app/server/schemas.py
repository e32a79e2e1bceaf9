"""The JSON bodies of the HTTP API: pydantic models that validate requests and document responses.

Why pydantic models and not dicts: FastAPI turns them into the OpenAPI schema that clients (and the
schemathesis fuzz test) rely on, and a request that breaks them gets a 422 naming the field before any
DocQA code runs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from docqa.app.server.limits import MAX_ANSWERS, MAX_QUESTION_CHARS, MAX_TOP_K
from docqa.pipelines.api import SearchMode, feedback_limits

# /ask and /search take the same filters (docqa.pipelines.document_stores.filters checks them).
FILTERS_DESCRIPTION = (
    "Search only documents whose metadata passes this filter, in Haystack's filter syntax: "
    '{"operator": "AND", "conditions": [{"field": "meta.file_type", "operator": "==", "value": "pdf"}]}. '
    "Fields: file_name, folder, file_type, title, size, page_count, modified, ingested and the tags. "
    "An unknown field or a value of the wrong kind is a 422 naming it."
)

class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in plain words."
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Passages to retrieve and read.")
    max_answers: int = Field(3, ge=1, le=MAX_ANSWERS, description="Answers to return at most.")
    filters: dict[str, Any] | None = Field(None, description=FILTERS_DESCRIPTION)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be empty or only white space")
        return value


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="What to look for.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Passages to return.")
    mode: SearchMode = SearchMode.HYBRID
    filters: dict[str, Any] | None = Field(None, description=FILTERS_DESCRIPTION)

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be empty or only white space")
        return value


class PassageOut(BaseModel):
    id: str
    score: float
    file: str
    title: str
    page: int | None
    pages: list[int]
    page_offsets: list[list[int]]
    section: str | None = Field(
        None, description="Word/HTML (no pages): the heading the passage starts under."
    )
    content: str


class AnswerSourceOut(BaseModel):
    document_id: str
    file: str
    title: str
    page: int | None
    passage_start: int
    passage_end: int
    page_start: int | None
    page_end: int | None
    passage: str
    section: str | None = Field(
        None, description="Word/HTML (no pages): the heading the answer is under; cite it instead of a page."
    )


class FaqAnswerInfo(BaseModel):
    id: str
    question: str
    similarity: float


class AnswerOut(BaseModel):
    text: str
    score: float = Field(
        description="Reader probability in 0..1; for an FAQ answer, the question similarity."
    )
    unsure: bool
    sources: list[AnswerSourceOut] = Field(
        description="Where the answer was found: its best occurrence in each passage that holds it, best "
        "first, at most 5."
    )
    null_score_diff: float | None = None
    source_count: int = Field(
        0, description="Passages the answer was found in (`sources` lists at most 5); 0 for an FAQ answer."
    )
    faq: FaqAnswerInfo | None = Field(None, description="Set when this is a curated FAQ answer.")


class FaqMatchOut(BaseModel):
    matched: bool
    id: str
    question: str
    similarity: float
    threshold: float


class ScopeOut(BaseModel):
    documents: int = Field(description="Documents the filter let through.")
    of: int = Field(description="Documents indexed.")


class AskResponse(BaseModel):
    question: str
    answers: list[AnswerOut]
    no_answer: bool
    no_answer_score: float
    passages: list[PassageOut]
    timings_ms: dict[str, float]
    reader: str | None = Field(
        description='The model that answered; "compact" for the bundled compact reader.'
    )
    reader_notice: str | None = Field(
        None,
        description="Shown with every answer of the compact reader: lower accuracy; how to get the full one.",
    )
    reader_fallback: bool = Field(
        False, description="The compact reader stands in for a missing configured reader."
    )
    answerability: dict[str, Any] = Field(
        default_factory=dict,
        description="Is the answer in the documents at all: probability, threshold, not_in_documents and the "
        "features behind it; empty when the reader ships no answerability model.",
    )
    faq: FaqMatchOut | None = Field(None, description="Nearest FAQ entry; null when the index has no FAQ.")
    scope: ScopeOut | None = Field(None, description="With filters: how many documents were searched.")


class SearchResponse(BaseModel):
    query: str
    passages: list[PassageOut]
    scope: ScopeOut | None = Field(None, description="With filters: how many documents were searched.")


class DocumentOut(BaseModel):
    id: str = Field(description="Use with DELETE /documents/{id}.")
    file_name: str
    file: str = Field(description="The file name for uploads, the ingested path otherwise.")
    uploaded: bool
    title: str
    kind: str
    pages: int
    passages: int
    ingested_at: str
    sha256: str
    partial: bool = Field(
        False, description="Only part of it is indexed (its ingest stopped); upload it again to finish."
    )
    pending_passages: int = Field(0, description="Passages of a partial document not indexed yet.")
    tables: int = Field(0, description="Tables found in it (PDF, Word), each row indexed with its headers.")
    folder: str = Field("", description="Its folder below the path it was ingested from.")
    file_type: str = Field("", description="The extension, lower case: pdf, docx, txt...")
    size: int = 0
    modified: str = Field("", description="The file's modification time (UTC, ISO 8601) when ingested.")
    tags: dict[str, str | int | float] = Field(default_factory=dict, description="The user's tags.")


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut]


class UploadedFileOut(BaseModel):
    name: str = Field(description="The file name as sent by the client.")
    stored_as: str = Field(description="The sanitised name the file is indexed under.")
    status: str = Field(
        description="added, updated (replaces an earlier upload of that name), unchanged, failed"
        " (partial: the request was cancelled in the middle of a big file)"
    )
    document_id: str | None = None
    passages: int = 0
    pages: int = 0
    reason: str = ""
    notes: list[str] = []


class UploadResponse(BaseModel):
    ok: bool
    files: list[UploadedFileOut]
    seconds: float


class DeleteResponse(BaseModel):
    deleted: list[DocumentOut]


class FaqEntryOut(BaseModel):
    id: str
    question: str
    answer: str


class FaqLoadResponse(BaseModel):
    source: str
    total: int
    counts: dict[str, int]
    added: list[str]
    changed: list[str]
    removed: list[str]
    seconds: float


class FaqListResponse(BaseModel):
    entries: list[FaqEntryOut]


class ErrorOut(BaseModel):
    detail: Any
    retry_after: int | None = Field(None, description="423: seconds to wait before trying again.")


# Every POST/DELETE may get it (docqa.app.server.crosssite): the detail names the header or origin at fault.
CROSS_SITE_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {
        "model": ErrorOut,
        "description": "Refused as a possible cross-site request: an Origin other than this service's, or a "
        "form or text body without an X-Requested-With (or X-API-Key) header.",
    }
}


# ----- /feedback (bounds from the API's feedback_limits: the same for every front end) -----


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1,
        max_length=feedback_limits.MAX_QUESTION_CHARS,
        description="The question that was asked.",
    )
    passage_id: str = Field(
        min_length=1,
        max_length=feedback_limits.MAX_PASSAGE_ID_CHARS,
        description="The `id` of the passage the answer came from (/ask).",
    )
    verdict: Literal["correct", "wrong", "not_in_documents"] = Field(
        description="correct: the answer was right; wrong: it was not (give the right span if you can); "
        "not_in_documents: the documents do not answer the question."
    )
    answer_start: int | None = Field(
        None, ge=0, description="Start of the right answer: a character offset in the passage `content`."
    )
    answer_end: int | None = Field(None, ge=1, description="End (exclusive) of the right answer.")
    correct_answer: str | None = Field(
        None,
        max_length=feedback_limits.MAX_ANSWER_CHARS,
        description="The right answer's text; located in the passage when no offsets are given.",
    )
    comment: str | None = Field(
        None, max_length=feedback_limits.MAX_COMMENT_CHARS, description="Anything else to note."
    )

    @field_validator("question", "passage_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty or only white space")
        return value


class FeedbackOut(BaseModel):
    id: str
    created: str
    question: str
    verdict: Literal["correct", "wrong", "not_in_documents"]
    passage_id: str
    passage: str = Field(description="The passage text as it was when the feedback was given.")
    file: str
    title: str
    page: int | None
    pages: list[int]
    page_offsets: list[list[int]]
    answer_start: int | None
    answer_end: int | None
    answer: str | None = Field(description="passage[answer_start:answer_end]: the confirmed or right answer.")
    comment: str | None
    reader: str | None


class FeedbackListResponse(BaseModel):
    total: int
    offset: int
    limit: int
    records: list[FeedbackOut]


FEEDBACK_PAGE_LIMIT = feedback_limits.MAX_PAGE_LIMIT
