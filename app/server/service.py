"""The HTTP service behind `docqa serve`: DocQA's Python API over JSON, for a support widget or chatbot.

Thin by design: every endpoint validates the request, calls :class:`pipelines.api.DocQA` (or the FAQ
functions of :mod:`pipelines.components.faq.faq`) and maps DocQA's errors to HTTP status codes.
No retrieval or reading happens here.

Concurrency: the endpoints are plain ``def`` functions, so FastAPI runs each request in its thread pool
and requests are served concurrently while they share the models DocQA loaded once. An upload holds the
index's writer lock while it ingests; queries keep answering from the previous snapshot meanwhile and
switch to the new one when it is committed (DocQA's searcher follows ``CURRENT``).

Uploads: a client's file name is never used as a path. Each uploaded file is written to
``<index>/uploads/<random id>/<sanitised name>``, checked with the same loader the ingest uses, and only
when every file of the request is readable is anything ingested, so a failed upload never changes the
index. Uploading a file under a name that was uploaded before replaces the earlier upload (the name is the
upload's identity, as the path is for `docqa ingest`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import shutil
import threading
import unicodedata
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, HTTPException, Security, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from docqa.errors import ConfigError

if TYPE_CHECKING:
    from pipelines.api import DocQA
    from pipelines.document_stores.snapshots import SourceFile

log = logging.getLogger("docqa.server")

API_KEY_ENV = "DOCQA_API_KEY"
API_KEY_HEADER = "X-API-Key"
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # per request, all files together
# Questions read at once: twice the CPU cores this process may use. Measured with benchmarks/load.py
# (50 clients, 2 cores): the same /ask throughput as no limit (2.4 req/s) while the /search p95 under load
# drops from ~13 s to ~0.5 s; one per core lost /ask throughput.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
DEFAULT_CONCURRENT_ASKS = 2 * _CORES
MAX_JSON_BODY_BYTES = 1024 * 1024  # /ask and /search bodies are a question and two numbers
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers on top of the file bytes
MAX_QUESTION_CHARS = 1000  # far beyond any real question; the reader truncates long questions anyway
MAX_TOP_K = 50
MAX_ANSWERS = 10
MAX_FILES_PER_UPLOAD = 100
MAX_NAME_CHARS = 120
UPLOADS_DIR = "uploads"
UPLOAD_PATHS = ("/documents", "/faq")
OPEN_PATHS = ("/health",)  # liveness needs no key; so do /docs and /openapi.json


class ServeConfigError(ConfigError):
    """The service was asked to start in a way that is unsafe or impossible; ``str(err)`` says why."""


# ---------------------------------------------------------------- request and response bodies


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in plain words."
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Passages to retrieve and read.")
    max_answers: int = Field(3, ge=1, le=MAX_ANSWERS, description="Answers to return at most.")

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
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"

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
    sources: list[AnswerSourceOut]
    null_score_diff: float | None = None
    faq: FaqAnswerInfo | None = Field(None, description="Set when this is a curated FAQ answer.")


class FaqMatchOut(BaseModel):
    matched: bool
    id: str
    question: str
    similarity: float
    threshold: float


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
    faq: FaqMatchOut | None = Field(None, description="Nearest FAQ entry; null when the index has no FAQ.")


class SearchResponse(BaseModel):
    query: str
    passages: list[PassageOut]


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


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut]


class UploadedFileOut(BaseModel):
    name: str = Field(description="The file name as sent by the client.")
    stored_as: str = Field(description="The sanitised name the file is indexed under.")
    status: str = Field(
        description="added, updated (replaces an earlier upload of that name), unchanged, failed"
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


# ---------------------------------------------------------------- helpers (no DocQA logic)


def document_id(source_key: str) -> str:
    """A stable, URL-safe id for an indexed file: its key is an absolute path, unfit for a URL."""
    return hashlib.sha256(source_key.encode("utf-8")).hexdigest()[:16]


_UNSAFE = re.compile(r"[^\w.\- ()+,@=]+", re.UNICODE)


def sanitise_filename(raw: str | None, default_stem: str = "upload") -> str:
    """A harmless single path component derived from a client's file name, keeping its extension.

    Directory parts (``/`` and ``\\``), NUL and control characters, leading dots and anything outside a
    conservative character set are removed, so the result can never name a parent directory, an absolute
    path or a hidden file; the name is only ever joined to a directory the server created.
    """
    name = unicodedata.normalize("NFKC", raw or "")
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # NUL, control, format chars
    name = PurePosixPath(name.replace("\\", "/")).name
    name = _UNSAFE.sub("_", name).strip(" ._")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = suffix[:16]
    stem = stem.strip(" ._")[: MAX_NAME_CHARS - len(suffix) - 1] or default_stem
    return f"{stem}.{suffix}" if suffix else stem


@dataclass
class ReadyState:
    """What has been loaded so far (``GET /ready``): the start-up warm-up fills it in, in a thread."""

    embedder: str = "not loaded"
    reader: str = "not loaded"
    errors: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, part: str, value: str, error: str | None = None) -> None:
        with self.lock:
            setattr(self, part, value)
            if error:
                self.errors[part] = error
            else:
                self.errors.pop(part, None)

    def load(self, docqa: DocQA) -> None:
        """Load the embedder (and the live snapshot's search index) and the reader, recording each outcome."""
        from pipelines.model_loading import ModelUnavailableError

        self.set("embedder", "loading")
        try:
            docqa.query_embedder()
            if docqa.index.exists():
                docqa.searcher().current()  # builds FAISS + BM25 for the live snapshot before request 1
            self.set("embedder", "ready")
        except Exception as err:  # noqa: BLE001 - any failure must show in /ready, not end the thread silently
            message = str(err) if isinstance(err, ModelUnavailableError) else f"{type(err).__name__}: {err}"
            self.set("embedder", "error", message)
        self.set("reader", "loading")
        try:
            docqa.reader()
            self.set("reader", "ready")
        except ModelUnavailableError as err:
            self.set("reader", "unavailable", str(err))
        except Exception as err:  # noqa: BLE001
            self.set("reader", "error", f"{type(err).__name__}: {err}")


def _error_handlers(app: FastAPI) -> None:
    """DocQA's exceptions carry messages written for people; pass them on with the right status."""
    from pipelines.api import DocumentNotFoundError
    from pipelines.components.faq.faq import FaqFileError
    from pipelines.document_stores.snapshots import (
        EmbeddingModelMismatchError,
        IndexCorruptError,
        IndexLockedError,
        IndexStoreError,
    )
    from pipelines.model_loading import ModelUnavailableError

    def handler(status: int):
        def respond(_request, exc: Exception) -> JSONResponse:
            return JSONResponse(status_code=status, content={"detail": str(exc)})

        return respond

    app.add_exception_handler(IndexLockedError, handler(423))
    app.add_exception_handler(EmbeddingModelMismatchError, handler(409))
    app.add_exception_handler(IndexCorruptError, handler(500))
    app.add_exception_handler(IndexStoreError, handler(409))
    app.add_exception_handler(ModelUnavailableError, handler(503))
    app.add_exception_handler(DocumentNotFoundError, handler(404))

    def faq_error(_request, exc: FaqFileError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc), "errors": exc.problems})

    app.add_exception_handler(FaqFileError, faq_error)

    async def unparsable_body(request, exc: StarletteHTTPException):
        # FastAPI answers 400 when a body cannot even be decoded (e.g. JSON that is not UTF-8, broken
        # multipart); to a client that is the same mistake as malformed JSON, which gets 422.
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            message = (
                "The request body cannot be parsed: send UTF-8 JSON to /ask and /search, "
                "multipart/form-data to /documents and /faq."
            )
            # The shape of FastAPI's own 422s, so clients handle one error format.
            return JSONResponse(
                status_code=422,
                content={
                    "detail": [{"type": "body_unparsable", "loc": ["body"], "msg": message, "input": None}],
                },
            )
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, unparsable_body)


class BodySizeLimit:
    """Reject request bodies over a limit with 413 before they are parsed (or spooled to disk).

    Uses the Content-Length header when there is one, and counts the bytes as they arrive otherwise
    (chunked uploads), so a client cannot make the server store an arbitrarily large upload.
    """

    def __init__(self, app, upload_limit: int, json_limit: int = MAX_JSON_BODY_BYTES) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.json_limit = json_limit

    def _message(self, limit: int, upload: bool) -> str:
        what = "upload" if upload else "request body"
        return f"The {what} is larger than the limit of {limit} bytes ({limit / 1048576:.1f} MiB)."

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = scope["path"] in UPLOAD_PATHS
        limit = self.upload_limit + MULTIPART_OVERHEAD_BYTES if upload else self.json_limit
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = JSONResponse(status_code=413, content={"detail": self._message(limit, upload)})
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413, detail=self._message(limit, upload))
            return message

        await self.app(scope, counting_receive, send)


# ---------------------------------------------------------------- the application


def create_app(
    docqa: DocQA | None = None,
    api_key: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    *,
    lock_timeout: float = 5.0,
    warm_up: bool = True,
    max_concurrent_asks: int | None = DEFAULT_CONCURRENT_ASKS,
) -> FastAPI:
    """The DocQA HTTP API for one index.

    :param docqa: the DocQA to serve; default ``DocQA()`` (``DOCQA_INDEX`` and the model variables).
    :param api_key: clients must send it in the ``X-API-Key`` header; None (default) takes
        ``DOCQA_API_KEY``; "" means no key: the API is open (serve then refuses any non-loopback address).
    :param max_upload_bytes: the most bytes of files one ``POST /documents`` or ``POST /faq`` may carry.
    :param lock_timeout: seconds an upload waits for another writer (e.g. `docqa ingest`) before 423.
    :param warm_up: load the embedder and reader in a background thread at start-up (``GET /ready``).
    :param max_concurrent_asks: document questions read at the same time (default: twice the CPU cores
        this process may use); more wait their turn. None: no limit. Searches and FAQ answers are not
        limited.
    """
    from pipelines.api import DocQA
    from pipelines.components.faq import faq
    from pipelines.document_stores.snapshots import IndexStoreError

    if docqa is None:
        docqa = DocQA()
    # None: take DOCQA_API_KEY; "" (or only spaces): explicitly no key.
    key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip() or None
    if max_upload_bytes < 1:
        raise ValueError("max_upload_bytes must be at least 1")
    faq.resolve_threshold()  # a bad DOCQA_FAQ_THRESHOLD stops the start, not every later question
    state = ReadyState()
    if max_concurrent_asks is not None and max_concurrent_asks < 1:
        raise ValueError("max_concurrent_asks must be at least 1 (or None for no limit)")
    # Binds to the server's event loop on first contention (Python >= 3.10).
    ask_slots = asyncio.Semaphore(max_concurrent_asks) if max_concurrent_asks else contextlib.nullcontext()
    uploads_root = docqa.index.directory / UPLOADS_DIR
    upload_lock = threading.Lock()  # one upload at a time decides what replaces what

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if warm_up:
            threading.Thread(target=state.load, args=(docqa,), name="docqa-warm-up", daemon=True).start()
        yield

    app = FastAPI(
        title="DocQA",
        summary="Ask questions of your documents: curated FAQ answers first, extractive answers otherwise.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.docqa = docqa
    app.state.ready = state
    app.add_middleware(BodySizeLimit, upload_limit=max_upload_bytes)
    _error_handlers(app)

    header_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Set by DOCQA_API_KEY.")

    # A default value, not Annotated: header_scheme is local here, and string annotations (PEP 563) are
    # resolved in the module's globals, where FastAPI would not find it.
    def require_key(sent: str | None = Security(header_scheme)) -> None:
        if key is None:
            return
        if sent is None or not secrets.compare_digest(sent.encode("utf-8"), key.encode("utf-8")):
            raise HTTPException(
                status_code=401,
                detail=f"Missing or wrong API key: send it in the {API_KEY_HEADER} header.",
                headers={"WWW-Authenticate": API_KEY_HEADER},
            )

    protected = [Depends(require_key)] if key is not None else []
    errors = {401: {"model": ErrorOut}} if key is not None else {}

    def source_out(source: SourceFile) -> DocumentOut:
        uploaded = _is_upload(source.key)
        return DocumentOut(
            id=document_id(source.key),
            file_name=source.file_name,
            file=source.file_name if uploaded else source.key,
            uploaded=uploaded,
            title=source.title,
            kind=source.kind,
            pages=source.pages,
            passages=len(source.passage_ids),
            ingested_at=source.ingested_at,
            sha256=source.sha256,
        )

    def _is_upload(key_path: str) -> bool:
        return Path(key_path).parent.parent == uploads_root.resolve()

    # ----- health -----
    @app.get("/health", tags=["service"], summary="Liveness: the process answers.")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["service"],
        summary="Readiness: the embedder and the reader are loaded.",
        dependencies=protected,
        responses={503: {"description": "A model is still loading or unavailable."}, **errors},
    )
    def ready() -> JSONResponse:
        with state.lock:
            body = {
                "ready": state.embedder == "ready" and state.reader == "ready",
                "embedder": state.embedder,
                "reader": state.reader,
                "reader_model": docqa.settings.reader_model,
                "errors": dict(state.errors),
                "index": str(docqa.index.directory),
            }
        return JSONResponse(status_code=200 if body["ready"] else 503, content=body)

    # ----- questions -----
    @app.post(
        "/ask",
        tags=["questions"],
        response_model=AskResponse,
        dependencies=protected,
        summary="Answer a question: the curated FAQ answer if one matches, else answers from the documents.",
        responses={
            503: {"model": ErrorOut, "description": "The reader model is unavailable."},
            423: {"model": ErrorOut},
            **errors,
        },
    )
    async def ask(request: AskRequest):
        # The FAQ step is quick and runs at once; reading documents is CPU-bound, so at most
        # ``max_concurrent_asks`` run together and the others wait here without holding a worker thread
        # (running more at once only makes every question, and every search, slower).
        check = await run_in_threadpool(faq.check_faq, docqa, request.question)
        result = check.curated()
        if result is None:
            async with ask_slots:
                answered = await run_in_threadpool(
                    docqa.ask_documents,
                    request.question,
                    top_k=request.top_k,
                    max_answers=request.max_answers,
                )
            result = check.attach(answered)
        body = result.to_dict()
        if result.reader_error:
            return JSONResponse(
                status_code=503, content={"detail": result.reader_error, "passages": body["passages"]}
            )
        return body

    @app.post(
        "/search",
        tags=["questions"],
        response_model=SearchResponse,
        dependencies=protected,
        summary="The passages that best match a query (works without a reader model).",
        responses=errors,
    )
    def search(request: SearchRequest):
        passages = docqa.search(request.query, top_k=request.top_k, mode=request.mode)
        return {"query": request.query, "passages": [p.to_dict() for p in passages]}

    # ----- documents -----
    @app.get(
        "/documents",
        tags=["documents"],
        response_model=DocumentsResponse,
        dependencies=protected,
        summary="What is indexed.",
        responses=errors,
    )
    def list_documents():
        return {"documents": [source_out(s) for s in docqa.documents()]}

    @app.post(
        "/documents",
        tags=["documents"],
        response_model=UploadResponse,
        dependencies=protected,
        summary="Upload and index one or more .pdf, .txt or .md files.",
        responses={
            400: {"model": ErrorOut, "description": "A file is corrupt, encrypted, scanned or empty."},
            413: {"model": ErrorOut, "description": "The upload is larger than the limit."},
            415: {"model": ErrorOut, "description": "A file type DocQA does not read."},
            423: {"model": ErrorOut, "description": "Another process is writing the index."},
            **errors,
        },
    )
    def upload_documents(
        files: Annotated[list[UploadFile], File(description="One or more .pdf, .txt or .md files.")],
    ):
        from ingest.ingestor import file_sha256
        from ingest.loaders import LoadError, is_supported, load_file, unsupported_reason

        if len(files) > MAX_FILES_PER_UPLOAD:
            raise HTTPException(422, f"At most {MAX_FILES_PER_UPLOAD} files per upload; got {len(files)}.")
        names = [sanitise_filename(f.filename) for f in files]
        unsupported = [
            {"name": f.filename, "reason": unsupported_reason(Path(n))}
            for f, n in zip(files, names, strict=True)
            if not is_supported(Path(n))
        ]
        if unsupported:
            return JSONResponse(
                status_code=415,
                content={
                    "detail": "Unsupported file type: DocQA reads .pdf, .txt and .md. Nothing was indexed.",
                    "files": unsupported,
                },
            )
        total = sum(_size(f) for f in files)
        if total > max_upload_bytes:
            return JSONResponse(
                status_code=413,
                content={
                    "detail": f"The upload holds {total} bytes of files; the limit is {max_upload_bytes}. "
                    f"Nothing was indexed.",
                },
            )

        staged: list[tuple[UploadFile, str, Path]] = []
        committed = False  # after the ingest, the staged files belong to the index: never delete them
        try:
            for upload, name in zip(files, names, strict=True):
                folder = uploads_root / uuid.uuid4().hex  # the client's name is never a directory
                folder.mkdir(parents=True)
                target = folder / name
                with open(target, "xb") as out:
                    upload.file.seek(0)
                    shutil.copyfileobj(upload.file, out, 1 << 20)
                staged.append((upload, name, target))
            problems = []
            for upload, _name, target in staged:
                try:
                    load_file(target)  # the ingest's own loader: corrupt/encrypted/scanned/empty files
                except LoadError as err:
                    problems.append({"name": upload.filename, "reason": str(err)})
            if problems:
                return JSONResponse(
                    status_code=400,
                    content={
                        "detail": "; ".join(f"{p['name']}: {p['reason']}" for p in problems)
                        + ". Nothing was indexed.",
                        "files": problems,
                    },
                )
            with upload_lock:
                outcome, report = _ingest_uploads(staged, file_sha256)
                committed = True
        finally:
            for _, _, target in staged:
                if not committed or outcome[target].status in ("failed", "unchanged"):
                    _remove_upload_dir(uploads_root, target)
        files_out = [outcome[target] for _, _, target in staged]
        ok = all(f.status != "failed" for f in files_out)
        body = {
            "ok": ok,
            "files": [f.model_dump() for f in files_out],
            "seconds": round(report.seconds, 3) if report else 0.0,
        }
        if not ok:
            body["detail"] = "Some files could not be indexed."
            return JSONResponse(status_code=400, content=body)
        return body

    def _ingest_uploads(staged, file_sha256):
        """Ingest the staged files; an upload named like an earlier one replaces it (unchanged if equal)."""
        previous: dict[str, list[SourceFile]] = {}
        for source in docqa.documents():
            if _is_upload(source.key):
                previous.setdefault(source.file_name, []).append(source)
        outcome: dict[Path, UploadedFileOut] = {}
        to_ingest: list[Path] = []
        for upload, name, target in staged:
            earlier = previous.get(name, [])
            digest = file_sha256(target)
            if len(earlier) == 1 and earlier[0].sha256 == digest:
                same = earlier[0]
                outcome[target] = UploadedFileOut(
                    name=upload.filename or "",
                    stored_as=name,
                    status="unchanged",
                    document_id=document_id(same.key),
                    passages=len(same.passage_ids),
                    pages=same.pages,
                )
            else:
                to_ingest.append(target)
        report = docqa.ingest(to_ingest, lock_timeout=lock_timeout) if to_ingest else None
        by_path = {Path(r.path).resolve(): r for r in report.results} if report else {}
        for upload, name, target in staged:
            if target in outcome:
                continue
            result = by_path.get(target.resolve())
            status = result.status if result else "failed"
            notes = list(result.notes) if result else []
            if status == "added" and previous.get(name):
                # The new version is committed; now drop the earlier upload(s) of this name.
                try:
                    for old in previous.pop(name):
                        docqa.delete(old.key, lock_timeout=lock_timeout)
                        _remove_upload_dir(uploads_root, Path(old.key))
                    status = "updated"
                except IndexStoreError as err:
                    notes.append(f"the earlier upload of this name is still indexed: {err}")
            outcome[target] = UploadedFileOut(
                name=upload.filename or "",
                stored_as=name,
                status=status,
                document_id=document_id(str(target.resolve())) if status != "failed" else None,
                passages=result.passages if result else 0,
                pages=result.pages if result else 0,
                reason=result.reason if result else "not ingested",
                notes=notes,
            )
        return outcome, report

    @app.delete(
        "/documents/{doc_id}",
        tags=["documents"],
        response_model=DeleteResponse,
        dependencies=protected,
        summary="Remove a document from the index (an uploaded file is deleted too).",
        responses={404: {"model": ErrorOut}, 423: {"model": ErrorOut}, **errors},
    )
    def delete_document(
        doc_id: Annotated[
            str, PathParam(min_length=1, max_length=64, description="An id from GET /documents.")
        ],
    ):
        matches = [s for s in docqa.documents() if document_id(s.key) == doc_id]
        if not matches:
            raise HTTPException(404, f"No indexed document has the id '{doc_id}' (see GET /documents).")
        removed = docqa.delete(matches[0].key, lock_timeout=lock_timeout)
        for source in removed:
            if _is_upload(source.key):
                _remove_upload_dir(uploads_root, Path(source.key))
        return {"deleted": [source_out(s) for s in removed]}

    # ----- FAQ -----
    @app.post(
        "/faq",
        tags=["faq"],
        response_model=FaqLoadResponse,
        dependencies=protected,
        summary="Upload an FAQ file (CSV with question,answer columns, JSON or YAML list); replaces the FAQ.",
        responses={
            400: {"model": ErrorOut, "description": "Invalid FAQ file; `errors` names each bad row/field."},
            413: {"model": ErrorOut},
            415: {"model": ErrorOut},
            423: {"model": ErrorOut},
            **errors,
        },
    )
    def upload_faq(file: Annotated[UploadFile, File(description="question,answer CSV, or JSON/YAML list.")]):
        name = sanitise_filename(file.filename, default_stem="faq")
        if Path(name).suffix.lower() not in faq.FAQ_SUFFIXES:
            return JSONResponse(
                status_code=415,
                content={
                    "detail": f"Unsupported FAQ file type '{Path(name).suffix or name}': "
                    f"use .csv (question,answer columns), .json or .yaml.",
                },
            )
        if _size(file) > max_upload_bytes:
            return JSONResponse(
                status_code=413,
                content={
                    "detail": f"The FAQ file is larger than the limit of {max_upload_bytes} bytes.",
                },
            )
        file.file.seek(0)
        data = file.file.read()
        return faq.load_faq(docqa, data, name=name, lock_timeout=lock_timeout).to_dict()

    @app.get(
        "/faq",
        tags=["faq"],
        response_model=FaqListResponse,
        dependencies=protected,
        summary="The FAQ entries of the index.",
        responses=errors,
    )
    def list_faq():
        return {"entries": [e.to_dict() for e in faq.faq_entries(docqa)]}

    return app


def _size(upload: UploadFile) -> int:
    if upload.size is not None:
        return int(upload.size)
    handle = upload.file
    position = handle.tell()
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(position)
    return size


def _remove_upload_dir(uploads_root: Path, file_path: Path) -> None:
    """Delete the per-upload directory holding ``file_path`` — only if it really is one of ours."""
    folder = file_path.parent
    try:
        if folder.resolve().parent == uploads_root.resolve():
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass


# ---------------------------------------------------------------- running it


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach. Unknown host names count as not loopback."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """:raises ServeConfigError: when binding beyond loopback without an API key."""
    if not is_loopback(host) and not api_key:
        raise ServeConfigError(
            f"Refusing to listen on {host} without an API key: anyone who can reach this machine could "
            f"read and change your documents. Set {API_KEY_ENV} (clients send it in the {API_KEY_HEADER} "
            f"header), or listen on 127.0.0.1."
        )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    index: str | Path | None = None,
    *,
    api_key: str | None = None,
    embedding_model: str | None = None,
    reader_model: str | None = None,
    reader_backend: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_concurrent_asks: int | None = DEFAULT_CONCURRENT_ASKS,
    log_level: str = "info",
) -> None:
    """Run the service until interrupted (what `docqa serve` calls).

    :raises ServeConfigError: for a non-loopback ``host`` without ``api_key`` / ``DOCQA_API_KEY``.
    """
    key = api_key or os.environ.get(API_KEY_ENV, "").strip() or None
    check_bind(host, key)  # before any model or index is touched
    if not 0 <= port <= 65535:
        raise ServeConfigError(f"port must be between 0 and 65535, got {port}")
    import uvicorn

    from pipelines.api import DocQA

    docqa = DocQA(
        index, embedding_model=embedding_model, reader_model=reader_model, reader_backend=reader_backend
    )
    app = create_app(
        docqa, api_key=key or "", max_upload_bytes=max_upload_bytes, max_concurrent_asks=max_concurrent_asks
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def main(argv: list[str] | None = None) -> int:
    """``python -m app.server.service``: the same as `docqa serve`, for tests and benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m app.server.service", description=serve.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--index", default=None)
    parser.add_argument("--reader", default=None)
    parser.add_argument("--embedding-model", default=None)
    parser.add_argument("--backend", default=None)
    parser.add_argument("--max-upload-bytes", type=int, default=DEFAULT_MAX_UPLOAD_BYTES)
    parser.add_argument(
        "--max-concurrent-asks", type=int, default=DEFAULT_CONCURRENT_ASKS, help="0: no limit"
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    try:
        serve(
            args.host,
            args.port,
            args.index,
            embedding_model=args.embedding_model,
            reader_model=args.reader,
            reader_backend=args.backend,
            max_upload_bytes=args.max_upload_bytes,
            max_concurrent_asks=args.max_concurrent_asks or None,
            log_level=args.log_level,
        )
    except ServeConfigError as err:
        print(f"error: {err}", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
