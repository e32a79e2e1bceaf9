"""``/ask`` and ``/search``: the questions a client asks of the documents (and the curated FAQ).

No FAQ or reading logic here: ``/ask`` is :meth:`docqa.pipelines.api.DocQA.ask`, the one FAQ-first path. The
service only limits how many questions *read documents* at once (``reading_slot``): reading is
CPU-bound, and running more at once only makes every question, and every search, slower. A curated FAQ
answer never waits for a slot.
"""

from __future__ import annotations

import functools

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from docqa.app.server.deps import Context
from docqa.app.server.schemas import (
    CROSS_SITE_REFUSED,
    AskRequest,
    AskResponse,
    ErrorOut,
    SearchRequest,
    SearchResponse,
)

router = APIRouter(tags=["questions"])


@router.post(
    "/ask",
    response_model=AskResponse,
    summary="Answer a question: the curated FAQ answer if one matches, else answers from the documents.",
    responses={
        **CROSS_SITE_REFUSED,
        503: {"model": ErrorOut, "description": "The reader model is unavailable."},
        423: {"model": ErrorOut},
    },
)
async def ask(request: AskRequest, ctx: Context, http: Request):
    # Runs on the asks' own thread limiter: a question waiting for a reading slot holds one of those
    # threads, never one of the shared pool that /search and the other endpoints use.
    scope = await anyio.to_thread.run_sync(_scope, ctx, request.filters)  # checks the filter first
    run = functools.partial(
        ctx.docqa.ask,
        request.question,
        top_k=request.top_k,
        max_answers=request.max_answers,
        reading_slot=ctx.reading_slots,
        filters=request.filters,
    )
    result = await anyio.to_thread.run_sync(run, limiter=ctx.ask_threads)
    http.state.audit = {"question": request.question, "count": len(result.answers)}  # the audit line
    body = {**result.to_dict(), "scope": scope}
    if result.reader_error:
        content = {"detail": result.reader_error, "passages": body["passages"], "scope": scope}
        return JSONResponse(status_code=503, content=content)
    return body


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="The passages that best match a query (works without a reader model).",
    responses=CROSS_SITE_REFUSED,
)
def search(request: SearchRequest, ctx: Context, http: Request):
    scope = _scope(ctx, request.filters)
    passages = ctx.docqa.search(
        request.query, top_k=request.top_k, mode=request.mode, filters=request.filters
    )
    http.state.audit = {"question": request.query, "count": len(passages)}
    return {"query": request.query, "passages": [p.to_dict() for p in passages], "scope": scope}


def _scope(ctx: Context, filters: dict | None) -> dict[str, int] | None:
    """How many documents a filter lets through ("searched 12 of 340 documents"); None without one.
    :raises FilterError: (422 naming the field) for an unknown field or a value of the wrong kind."""
    if not filters:
        return None
    documents, of = ctx.docqa.filters.scope(filters)
    return {"documents": documents, "of": of}
