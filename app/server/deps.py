"""What every endpoint shares: the one DocQA, the API-key check, the readiness state and the limits.

Why a context object on ``app.state`` instead of closures: the routers are plain modules, so one
:class:`ServiceContext` built by :func:`docqa.app.server.app.create_app` carries the per-app settings, and
endpoints receive it through FastAPI's dependency injection (``ctx: Context``).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from docqa import config
from docqa.errors import DocQAError, UnavailableError

if TYPE_CHECKING:
    from docqa.app.server.authorize import RateLimiter
    from docqa.pipelines.api import AuditLog, DocQA, KeyStore

API_KEY_HEADER = "X-API-Key"

header_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Set by DOCQA_API_KEY.")


def resolve_api_key(api_key: str | None) -> str | None:
    """None: take ``DOCQA_API_KEY``; "" (or only spaces): explicitly no key. Returns the key or None."""
    raw = api_key if api_key is not None else (config.env(config.API_KEY) or "")
    return raw.strip() or None


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
        self.set("embedder", "loading")
        try:
            docqa.query_embedder()
            if docqa.index.exists():
                docqa.query_pipelines.warm_up()  # FAISS + BM25 of the live snapshot before request 1
            self.set("embedder", "ready")
        except Exception as err:  # noqa: BLE001 - any failure must show in /ready, not end the thread silently
            # DocQA's own errors are written for people; anything else is a bug, named by its class.
            message = str(err) if isinstance(err, DocQAError) else f"{type(err).__name__}: {err}"
            self.set("embedder", "error", message)
        self.set("reader", "loading")
        try:
            docqa.reader()
            self.set("reader", "ready")
        except UnavailableError as err:  # the reader model is not installed here
            self.set("reader", "unavailable", str(err))
        except Exception as err:  # noqa: BLE001
            self.set("reader", "error", f"{type(err).__name__}: {err}")


@dataclass
class ServiceContext:
    """One app's settings and shared objects (see :func:`docqa.app.server.app.create_app` for their
    meaning)."""

    docqa: DocQA
    api_key: str | None
    max_upload_bytes: int
    lock_timeout: float
    # Entered by DocQA.ask around the document step only: curated FAQ answers never wait for it.
    reading_slots: threading.BoundedSemaphore | None
    ask_threads: anyio.CapacityLimiter
    ready: ReadyState = field(default_factory=ReadyState)
    watching: list[Path] = field(default_factory=list)  # `docqa serve --watch`: kept in step while serving
    # access (docqa.app.server.authorize): the index's keys, its audit log, the per-key rate limit
    keys: KeyStore | None = None
    audit: AuditLog | None = None
    rate: RateLimiter | None = None
    reading_batch: tuple[float, int] | None = None  # applied to every collection's DocQA
    collections: dict[str, DocQA] = field(default_factory=dict)  # DocQA per other collection, shared models
    collections_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def index_dir(self) -> Path:
        return self.docqa.index.directory

    def collection_docqa(self, name: str) -> DocQA:
        """The DocQA of collection ``name`` (created once; models are shared per process)."""
        if name == self.docqa.collection:
            return self.docqa
        from docqa.pipelines.api import DocQA

        with self.collections_lock:
            qa = self.collections.get(name)
            if qa is None:
                qa = DocQA(settings=self.docqa.settings, collection=name)
                if self.reading_batch is not None:
                    qa.share_reading(*self.reading_batch)
                self.collections[name] = qa
            return qa


def get_context(request: Request) -> ServiceContext:
    """The service's context, its ``docqa`` being the collection the request was allowed to use
    (``request.state.collection``, set by :func:`docqa.app.server.authorize.authorize`)."""
    ctx: ServiceContext = request.app.state.context
    name = getattr(request.state, "collection", None)
    if name is None or name == ctx.docqa.collection:
        return ctx
    return dataclasses.replace(ctx, docqa=ctx.collection_docqa(name))


Context = Annotated[ServiceContext, Depends(get_context)]
