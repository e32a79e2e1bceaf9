"""``/feedback``: users mark answers correct or wrong (with the right span), and list what was stored.

Validation beyond the schema (offsets inside the passage, a known passage id, a span for "correct") is
:meth:`docqa.pipelines.api.DocQA.feedback`'s; its ``FeedbackFieldError`` becomes a 422 naming the field in
:mod:`docqa.app.server.errors`, the same shape as the schema's own 422s.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from docqa.app.server.deps import Context
from docqa.app.server.schemas import (
    CROSS_SITE_REFUSED,
    FEEDBACK_PAGE_LIMIT,
    ErrorOut,
    FeedbackListResponse,
    FeedbackOut,
    FeedbackRequest,
)

router = APIRouter(tags=["feedback"])


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackOut,
    summary="Store feedback on an answer: correct, wrong (with the right span) or not in the documents.",
    responses={
        **CROSS_SITE_REFUSED,
        423: {"model": ErrorOut, "description": "Another process is storing feedback."},
    },
)
def give_feedback(request: FeedbackRequest, ctx: Context):
    record = ctx.docqa.feedback(
        request.question,
        request.passage_id,
        request.verdict,
        answer_start=request.answer_start,
        answer_end=request.answer_end,
        correct_answer=request.correct_answer,
        comment=request.comment,
    )
    return record.to_dict()


@router.get("/feedback", response_model=FeedbackListResponse, summary="Stored feedback, oldest first.")
def list_feedback(
    ctx: Context,
    offset: Annotated[int, Query(ge=0, description="Records to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=FEEDBACK_PAGE_LIMIT, description="Records to return.")] = 50,
):
    return ctx.docqa.feedback_records(offset, limit).to_dict()
