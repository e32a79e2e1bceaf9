"""How much the service accepts: request sizes, field bounds and how many questions are read at once.

Why a module of its own: the limits are the service's promise to the machine it runs on (no request can
make it store or parse an arbitrarily large body), and the routers, the schemas and the body-size
middleware must all agree on them.
"""

from __future__ import annotations

import os

from fastapi import HTTPException
from fastapi.responses import JSONResponse

DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # per request, all files together
# Questions read at once: twice the CPU cores this process may use. Measured with benchmarks/load.py
# (50 clients, 2 cores): the same /ask throughput as no limit (2.4 req/s) while the /search p95 under load
# drops from ~13 s to ~0.5 s; one per core lost /ask throughput.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
DEFAULT_CONCURRENT_ASKS = 2 * _CORES
# Threads that may run /ask at once, waiting for a reading slot included. Separate from FastAPI's shared
# pool (40), so questions queued for the reader never starve /search and the other endpoints. Generous: a
# thread blocked on a slot costs little, and a curated FAQ answer only waits when all of them are taken.
ASK_THREADS = 128
MAX_JSON_BODY_BYTES = 1024 * 1024  # /ask and /search bodies are a question and two numbers
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers on top of the file bytes
MAX_QUESTION_CHARS = 1000  # far beyond any real question; the reader truncates long questions anyway
MAX_TOP_K = 50
MAX_ANSWERS = 10
MAX_FILES_PER_UPLOAD = 100
UPLOAD_PATHS = ("/documents", "/faq")


class BodySizeLimit:
    """ASGI middleware: reject request bodies over a limit with 413 before they are parsed (or spooled).

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
