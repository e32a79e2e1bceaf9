"""Liveness and readiness: is the process up, and are the models loaded?

Two routers because ``/health`` must answer without an API key (load balancers probe it), while
``/ready`` reveals the index path and model errors, so it is protected like everything else.
"""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from docqa.app.server.deps import Context

public = APIRouter(tags=["service"])
router = APIRouter(tags=["service"])


@public.get("/health", summary="Liveness: the process answers.")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the embedder and the reader are loaded.",
    responses={503: {"description": "A model is still loading or unavailable."}},
)
def ready(ctx: Context) -> JSONResponse:
    state = ctx.ready
    with state.lock:
        body = {
            "ready": state.embedder == "ready" and state.reader == "ready",
            "embedder": state.embedder,
            "reader": state.reader,
            "reader_model": ctx.docqa.settings.reader_model,
            # which reader answers: a promoted model of this collection (models/N) or the configured one
            "answering_model": ctx.docqa.answering_model()[1],
            "errors": dict(state.errors),
            "index": str(ctx.docqa.index.directory),
            "watching": [str(path) for path in ctx.watching],
        }
    # Which runtime DOCQA_READER_BACKEND=auto (or the setting) chose, with the CPU and the timings behind it.
    if body["reader"] == "ready":
        body["reader_backend"] = ctx.docqa.reader().backend_choice.to_dict()
    if body["embedder"] == "ready":
        body["embedder_backend"] = ctx.docqa.query_embedder().encoder.choice.to_dict()
    # Which process answered: with `docqa serve --workers N` each worker loads and reports on its own.
    body["pid"] = os.getpid()
    return JSONResponse(status_code=200 if body["ready"] else 503, content=body)
