"""The service's one error mapping: DocQA error kinds → HTTP status codes, and the JSON body of an error.

Why by kind: every user-facing DocQA exception derives from one kind in :mod:`docqa.errors`, so a new
error gets the right status code without touching the server, and no store or loader class is named
here. The details a client needs come from the kinds too: an :class:`~docqa.errors.InvalidInputError`
that names a request ``field`` is a 422 in FastAPI's shape, its ``problems`` (one per bad row of a file)
are returned as ``errors``. One concrete error of the public API needs another code: an index built
with another embedding model is a conflict with the index's state (409), not damage (500).
``str(err)`` is always the ``detail``: DocQA's messages are written for people. A busy index (423) also
says when to try again: the ``Retry-After`` header and ``retry_after`` in the body (its ``retry_after``).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from docqa.errors import (
    BusyError,
    ConfigError,
    ConflictError,
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
    (ConflictError, 409),  # the index was built otherwise (another embedding model): re-ingest
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


def status_for(err: DocQAError) -> int:
    """The HTTP status code for a DocQA error (see the module docstring)."""
    if isinstance(err, RequestRejected):
        return err.status
    if isinstance(err, InvalidInputError) and err.field:
        return 422  # a field that passes the schema but not DocQA's checks: the schema's own code
    for kind, status in KIND_STATUS:
        if isinstance(err, kind):
            return status
    return FALLBACK_STATUS


def error_body(err: DocQAError) -> dict[str, Any]:
    """``{"detail": str(err)}``, plus what the client needs to fix each part of its request."""
    body: dict[str, Any] = {"detail": str(err)}
    if isinstance(err, BusyError):
        body["retry_after"] = err.retry_after
    if isinstance(err, RequestRejected):
        body.update(err.extra)
    elif isinstance(err, InvalidInputError) and err.field:  # one 422 shape for clients: FastAPI's
        body["detail"] = [{"type": "value_error", "loc": ["body", err.field], "msg": str(err), "input": None}]
    elif isinstance(err, InvalidInputError) and err.problems:
        body["errors"] = list(err.problems)  # one line per bad row or field
    return body


async def docqa_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, DocQAError)
    status = status_for(err)
    headers = {"Retry-After": str(err.retry_after)} if isinstance(err, BusyError) and status == 423 else None
    return JSONResponse(status_code=status, content=error_body(err), headers=headers)


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


NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_safe(value: Any) -> Any:
    """``value`` with everything strict JSON in UTF-8 cannot hold made printable: NaN and ±Infinity
    become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; a string with lone surrogates (JSON's
    ``"\\ud800"`` decodes to one) keeps them as the escape text ``\\ud800``.

    Why: a 422 echoes the client's ``input``, and Starlette's JSON rendering refuses NaN and cannot encode
    a surrogate, so FastAPI's own handler turned ``{"top_k": NaN}`` or ``{"question": "\\ud800"}`` into a
    500 (the attack probe of issue 27). Bytes (a body sent as ``text/plain``) are decoded the same way: the
    encoder FastAPI uses would fail on bytes that are not UTF-8."""
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE.get(value, "NaN")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes | bytearray):  # a body that is not JSON at all: need not be UTF-8 either
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for request fields that fail the schema, in its own shape, for any input."""
    assert isinstance(exc, RequestValidationError)
    # Before the encoder (bytes, floats) and after it (the text of exceptions in ``ctx``).
    detail = json_safe(jsonable_encoder(json_safe(exc.errors())))
    return JSONResponse(status_code=422, content={"detail": detail})


def install(app: FastAPI) -> None:
    """Register the mapping on ``app``: one handler for every DocQA error, one for unparsable bodies, one
    for invalid fields."""
    app.add_exception_handler(DocQAError, docqa_error)
    app.add_exception_handler(StarletteHTTPException, unparsable_body)
    app.add_exception_handler(RequestValidationError, invalid_request)
