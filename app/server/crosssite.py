"""The service refuses requests a web page could send on the user's behalf: DNS rebinding and cross-site
writes (issue 27; the rules themselves are :mod:`docqa.app.access`).

Why it matters without a key: the keyless service listens on loopback, and every page the user opens in a
browser runs on that machine. Before this guard, a page on any site could upload into the index or replace
the FAQ with an invisible no-cors form post (``multipart/form-data`` is a "simple" request: the browser
sends it without asking the service first), and a page whose DNS name was re-pointed at 127.0.0.1 could
read and write everything.

:class:`CrossSiteGuard` answers, before a route runs (so nothing is parsed or written):

- **400** when the ``Host`` header is not an allowed host (loopback, the address listened on,
  ``DOCQA_ALLOWED_HOSTS``): a rebinding page's requests carry its own name. ``GET /health`` is exempt (it
  says only "ok", and probes reach it under any name).
- **403** for a POST/PUT/PATCH/DELETE whose ``Origin`` (or, absent, ``Referer``) is another origin and not
  in ``DOCQA_ALLOWED_ORIGINS`` — including ``Origin: null`` (sandboxed frames, ``file:`` pages).
- **403** for a POST that gives no origin at all *and* is a simple request: a ``multipart/form-data``,
  ``application/x-www-form-urlencoded`` or ``text/plain`` body, or one without a Content-Type, and no
  ``X-Requested-With`` or ``X-API-Key`` header. A browser cannot add those headers, nor send
  ``application/json``, to another site without the service's consent (a CORS preflight it never grants
  unless the origin is allowed), so requiring one makes a forged write impossible even from a browser that
  sends no Origin. Programs add the header (``curl -H 'X-Requested-With: curl'``); JSON routes need only
  their JSON content type. A same-origin request (``Origin`` equal to the service's own) needs nothing more:
  it comes from a page this service served (the OpenAPI page at ``/docs``).

With an API key the key does the job: a request without it is 401, and a request with it cannot be forged
by a page that does not know it. The Host check then applies only when hosts are configured explicitly
(a keyed service beyond loopback is reached under names the defaults cannot know).

Browser apps in ``DOCQA_ALLOWED_ORIGINS`` also get CORS headers (Starlette's ``CORSMiddleware``, added by
:func:`docqa.app.server.app.create_app`), so they can send JSON and read the answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from docqa import config
from docqa.app import access
from docqa.app.server.deps import API_KEY_HEADER

REQUESTED_WITH_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# What a web page may POST to another site without a preflight (the CORS "simple" content types).
SIMPLE_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"})
HOST_EXEMPT_PATHS = frozenset({"/health"})
SHOWN_CHARS = 100  # of a Host or Origin value echoed in an error


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"


class CrossSiteGuard:
    """ASGI middleware: the Host check on every request, the Origin and simple-request checks on writes.

    :param allowed_hosts: host names the service answers to (see :func:`docqa.app.access.allowed_hosts`).
    :param allowed_origins: origins of browser apps allowed to write (``https://app.example``).
    :param check_hosts: refuse other hosts (keyless, or hosts configured explicitly).
    :param check_writes: refuse cross-site and simple writes (keyless: with a key the key check does it).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str],
        allowed_origins: Sequence[str] = (),
        check_hosts: bool = True,
        check_writes: bool = True,
    ) -> None:
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)
        self.allowed_origins = tuple(allowed_origins)
        self.check_hosts = check_hosts
        self.check_writes = check_writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope["method"], scope["path"], Headers(scope=scope))
            if refusal is not None:
                status, detail = refusal
                await JSONResponse(status_code=status, content={"detail": detail})(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, method: str, path: str, headers: Headers) -> tuple[int, str] | None:
        """``(status, detail)`` for a request this guard refuses, None for one it lets through."""
        host = headers.get("host")
        exempt = path in HOST_EXEMPT_PATHS
        if self.check_hosts and not exempt and not access.host_allowed(host, self.allowed_hosts):
            shown = "no Host header" if host is None else f"the host '{_shown(host)}'"
            return 400, (
                f"Request for {shown} refused: this service answers only to its own names (a guard against "
                f"DNS rebinding). Reach it as http://127.0.0.1:<port>, or allow the name with --allowed-host "
                f"or {config.ALLOWED_HOSTS}."
            )
        if not self.check_writes or method.upper() in SAFE_METHODS:
            return None
        claimed = headers.get("origin")
        source = "Origin" if claimed is not None else "Referer"
        if claimed is None:
            claimed = headers.get("referer")
        if claimed is not None:
            if access.same_origin(claimed, host) or access.origin_allowed(claimed, self.allowed_origins):
                return None  # sent by a page of this service, or of a browser app the user allowed
            return 403, (
                f"Cross-site request refused: {method} {path} from the {source} '{_shown(claimed)}', which "
                f"is not this service. A browser app that should call the API is allowed with "
                f"--allowed-origin or {config.ALLOWED_ORIGINS}."
            )
        if method.upper() != "POST":
            return None  # PUT/PATCH/DELETE are never simple requests: a browser asks first, and is refused
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type and media_type not in SIMPLE_CONTENT_TYPES:
            return None  # e.g. application/json: a web page cannot send it to another site unasked
        if REQUESTED_WITH_HEADER.lower() in headers or API_KEY_HEADER.lower() in headers:
            return None
        sent = f"Content-Type {media_type}" if media_type else "no Content-Type"
        return 403, (
            f"{method} {path} refused: a request with {sent} must carry the header {REQUESTED_WITH_HEADER} "
            f"(any value, e.g. curl -H '{REQUESTED_WITH_HEADER}: curl') or {API_KEY_HEADER}; JSON bodies "
            f"must say Content-Type: application/json. Web pages cannot send these to another site, so a "
            f"page you visit cannot write to your index."
        )
