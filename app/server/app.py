"""The DocQA HTTP service for one index: :func:`create_app` wires the routers, the error mapping and
the limits around one :class:`docqa.pipelines.api.DocQA`.

Thin by design: endpoints validate the request, call DocQA's Python API and let :mod:`docqa.app.server.errors`
map its errors to status codes. No retrieval or reading happens in ``app/server``.

Concurrency: endpoints run in FastAPI's thread pool, so requests are served concurrently while they
share the models DocQA loaded once. An upload holds the index's writer lock while it ingests; queries
keep answering from the previous snapshot meanwhile and switch to the new one when it is committed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from docqa.app import access
from docqa.app.server import errors
from docqa.app.server.audit import AuditMiddleware
from docqa.app.server.authorize import RateLimiter, authorize, authorize_keyed, configured_rate_limit
from docqa.app.server.crosssite import REQUESTED_WITH_HEADER, CrossSiteGuard
from docqa.app.server.deps import API_KEY_HEADER, ServiceContext, resolve_api_key
from docqa.app.server.limits import (
    ASK_THREADS,
    DEFAULT_CONCURRENT_ASKS,
    DEFAULT_MAX_UPLOAD_BYTES,
    BodySizeLimit,
)
from docqa.app.server.rate_buckets import Buckets
from docqa.app.server.routers import access as access_routes
from docqa.app.server.routers import documents, faq, feedback, health, models, questions
from docqa.app.server.schemas import ErrorOut
from docqa.app.server.watching import ServiceWatcher

if TYPE_CHECKING:
    from docqa.pipelines.api import DocQA


def create_app(
    docqa: DocQA | None = None,
    api_key: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    *,
    lock_timeout: float = 5.0,
    warm_up: bool = True,
    max_concurrent_asks: int | None = DEFAULT_CONCURRENT_ASKS,
    watch: Sequence[str | Path] = (),
    watch_ocr: bool = True,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    bound_host: str | None = None,
    reading_batch_window_s: float | None = None,
    reading_batch_workers: int = 1,
    rate_buckets: Buckets | None = None,
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
    :param watch: folders and files to keep the index in step with while serving (`docqa serve --watch`):
        :class:`docqa.app.server.watching.ServiceWatcher` runs from start-up to shutdown; ``/ready`` lists
            them.
    :param watch_ocr: OCR scanned pages and images of watched files (``--no-ocr``: False).
    :param allowed_hosts: host names to answer to besides loopback, ``bound_host`` and
        ``DOCQA_ALLOWED_HOSTS`` (``--allowed-host``); ``*`` answers to any (no DNS-rebinding guard).
    :param allowed_origins: origins of browser apps that may call the API besides ``DOCQA_ALLOWED_ORIGINS``
        (``--allowed-origin``); they also get CORS headers.
    :param bound_host: the address the service listens on (`docqa serve --host`): one of its names.
    :param reading_batch_window_s: when set, questions read at the same time share the reader's forward
        passes (:meth:`DocQA.share_reading`) and an idle reader waits this long for company first. Off by
        default: with the compact reader on 2 cores, shared passes gave 0.47-0.67x the questions/s of
        questions reading alone at 4 and 8 clients (``benchmarks/throughput.py``), which already scale.
        ``reading_batch_workers``: shared passes run at the same time.
    :param rate_buckets: where the per-key rate limit keeps its buckets (default: in this process; the
        workers of `docqa serve --workers N` share one table, :mod:`docqa.app.server.rate_buckets`).
    See :mod:`docqa.app.server.crosssite` for what is refused without a key and why.
    """
    from docqa.pipelines.api import AuditLog, DocQA, KeyStore, resolve_faq_threshold

    if max_upload_bytes < 1:
        raise ValueError("max_upload_bytes must be at least 1")
    if max_concurrent_asks is not None and max_concurrent_asks < 1:
        raise ValueError("max_concurrent_asks must be at least 1 (or None for no limit)")
    resolve_faq_threshold()  # a bad DOCQA_FAQ_THRESHOLD stops the start, not every later question
    context = ServiceContext(
        docqa=docqa if docqa is not None else DocQA(),
        api_key=resolve_api_key(api_key),
        max_upload_bytes=max_upload_bytes,
        lock_timeout=lock_timeout,
        reading_slots=threading.BoundedSemaphore(max_concurrent_asks) if max_concurrent_asks else None,
        ask_threads=anyio.CapacityLimiter(max(ASK_THREADS, max_concurrent_asks or 0)),
    )
    root = context.docqa.root_dir
    context.keys, context.audit = KeyStore(root), AuditLog(root)
    context.rate = RateLimiter(configured_rate_limit(), rate_buckets)
    if reading_batch_window_s is not None:
        context.reading_batch = (reading_batch_window_s, reading_batch_workers)
        context.docqa.share_reading(reading_batch_window_s, reading_batch_workers)
    watcher = ServiceWatcher(context.docqa, watch, ocr=watch_ocr) if watch else None
    if watcher is not None:
        context.watching = list(watcher.paths)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if warm_up:
            threading.Thread(
                target=context.ready.load, args=(context.docqa,), name="docqa-warm-up", daemon=True
            ).start()
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()

    app = FastAPI(
        title="DocQA",
        summary="Ask questions of your documents: curated FAQ answers first, extractive answers otherwise.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.docqa = context.docqa
    app.state.ready = context.ready
    app.state.watcher = watcher
    app.add_middleware(BodySizeLimit, upload_limit=max_upload_bytes)
    app.add_middleware(AuditMiddleware, log=context.audit)
    # Added after the size limit, so it runs first: a refused request is answered before its body is read.
    keyed = context.api_key is not None or context.keys.configured()
    hosts = access.configured_hosts(allowed_hosts)
    origins = access.configured_origins(allowed_origins)
    app.add_middleware(
        CrossSiteGuard,
        allowed_hosts=access.allowed_hosts(bound_host, allowed_hosts),
        allowed_origins=origins,
        check_hosts=not keyed or bool(hosts),
        check_writes=not keyed,
    )
    if origins:  # outermost: answers the browser's preflight for the allowed apps
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[origin.rstrip("/") for origin in origins],
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", API_KEY_HEADER, REQUESTED_WITH_HEADER],
        )
    errors.install(app)

    # Every protected route goes through authorize (docqa.app.server.authorize): key, collection, role,
    # rate limit. Without any key configured it lets loopback clients in as admin (serve refuses other
    # addresses), and keys created later take effect at once.
    protected = {
        "dependencies": [Depends(authorize_keyed if keyed else authorize)],
        "responses": {401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 429: {"model": ErrorOut}},
    }
    app.include_router(health.public)
    app.include_router(access_routes.router)
    for prefix in ("", "/collections/{collection}"):  # today's routes: the service's own collection
        for area in (health.router, questions.router, documents.router, faq.router, feedback.router,
                     models.router):
            app.include_router(area, prefix=prefix, **protected)
    return app
