"""The service's one error mapping: DocQA error kinds → HTTP status codes, and the JSON body of an error.

Why by kind: every user-facing DocQA exception derives from one kind in :mod:`docqa.errors`, so a new
error gets the right status code without touching the server. A few concrete errors need another code
or a richer body; they are listed in :data:`SPECIFIC_STATUS` / handled in :func:`docqa_error`.
``str(err)`` is always the ``detail``: DocQA's messages are written for people.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from docqa.errors import (
    BusyError,
    ConfigError,
    DocQAError,
    InvalidInputError,
    NotFoundError,
    StorageError,
    UnavailableError,
)

# Checked in order, first match wins: an error may belong to two kinds (IndexLockedError is a
# StorageError *and* a BusyError: the index is fine, only busy), so the more actionable kind comes first.
KIND_STATUS: tuple[tuple[type[DocQAError], int], ...] = (
    (BusyError, 423),  # another process writes the index: retry later
    (UnavailableError, 503),  # a model is not installed: the service cannot answer yet
    (NotFoundError, 404),
    (InvalidInputError, 400),  # request *fields* failing the schema get FastAPI's 422 before this
    (ConfigError, 500),  # the service's own settings are wrong: not the client's fault
    (StorageError, 500),  # the index on disk is unusable (corrupt)
)
FALLBACK_STATUS = 500  # a DocQAError of no known kind


class ServeConfigError(ConfigError):
    """The service was asked to start in a way that is unsafe or impossible; ``str(err)`` says why."""


class RequestRejected(InvalidInputError):
    """A request the service refuses as a whole before changing anything (an upload of an unsupported
    type, too large, or with unreadable files); ``extra`` goes into the JSON body (e.g. per-file reasons).
    """

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.extra = extra


def _specific_status() -> dict[type[Exception], int]:
    """Concrete errors whose code differs from their kind's (imported late: pipelines is heavy)."""
    from docqa.pipelines.document_stores.errors import EmbeddingModelMismatchError
    from docqa.pipelines.feedback.store import FeedbackFieldError

    # The index was built with another embedding model: a conflict with the index's state, not damage.
    # A feedback field that passes the schema but not the passage (offsets outside it, an unknown
    # passage id): the same 422 as a schema error, in FastAPI's shape (see error_body).
    return {EmbeddingModelMismatchError: 409, FeedbackFieldError: 422}


def status_for(err: DocQAError) -> int:
    """The HTTP status code for a DocQA error (see the module docstring)."""
    if isinstance(err, RequestRejected):
        return err.status
    specific = _specific_status()
    for cls in type(err).__mro__:
        status = specific.get(cls)
        if status is not None:
            return status
    for kind, status in KIND_STATUS:
        if isinstance(err, kind):
            return status
    return FALLBACK_STATUS


def error_body(err: DocQAError) -> dict[str, Any]:
    """``{"detail": str(err)}``, plus what the client needs to fix each part of its request."""
    from docqa.pipelines.faq.files import FaqFileError
    from docqa.pipelines.feedback.store import FeedbackFieldError

    body: dict[str, Any] = {"detail": str(err)}
    if isinstance(err, FeedbackFieldError):  # one 422 shape for clients: FastAPI's, naming the field
        body["detail"] = [{"type": "value_error", "loc": ["body", err.field], "msg": str(err), "input": None}]
    elif isinstance(err, RequestRejected):
        body.update(err.extra)
    elif isinstance(err, FaqFileError):
        body["errors"] = err.problems  # one line per bad row or field
    return body


async def docqa_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, DocQAError)
    return JSONResponse(status_code=status_for(err), content=error_body(err))


UNPARSABLE_BODY = (
    "The request body cannot be parsed: send UTF-8 JSON to /ask and /search, "
    "multipart/form-data to /documents and /faq."
)


async def unparsable_body(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI answers 400 when a body cannot even be decoded (JSON that is not UTF-8, broken multipart);
    to a client that is the same mistake as malformed JSON, which gets 422 — in FastAPI's own 422 shape,
    so clients handle one error format."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        detail = [{"type": "body_unparsable", "loc": ["body"], "msg": UNPARSABLE_BODY, "input": None}]
        return JSONResponse(status_code=422, content={"detail": detail})
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    """Register the mapping on ``app``: one handler for every DocQA error, one for unparsable bodies."""
    app.add_exception_handler(DocQAError, docqa_error)
    app.add_exception_handler(StarletteHTTPException, unparsable_body)
