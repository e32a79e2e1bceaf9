"""The service's audit lines: one per request to a protected or access route, written after the answer.

Why an ASGI middleware rather than a line in each endpoint: a route added later is audited without anyone
remembering to, and refused requests (401, 404, 429) are logged too, with the key's *name* when the key was
recognised (``unknown`` otherwise) — the key itself is never written. Endpoints that know more put it in
``request.state.audit`` (``/ask`` and ``/search``: the question and the result count).
"""

from __future__ import annotations

from typing import Any

import anyio

from docqa.pipelines.api import AuditEvent, AuditLog

UNAUDITED = {"/health", "/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"}


class AuditMiddleware:
    def __init__(self, app: Any, log: AuditLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in UNAUDITED or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        status: dict[str, int] = {}

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # fsync in a worker thread: the event loop keeps serving other requests meanwhile
            await anyio.to_thread.run_sync(self._write, scope, status.get("code", 500))

    def _write(self, scope: dict[str, Any], code: int) -> None:
        state = scope.get("state") or {}
        grant = state.get("grant")
        extra = state.get("audit") or {}
        params = scope.get("path_params") or {}
        self.log.append(AuditEvent(
            key=grant.name if grant is not None else "unknown",
            action=f"{scope.get('method')} {scope.get('path', '')}",
            collection=state.get("collection") or params.get("collection"),
            question=extra.get("question"),
            file=params.get("doc_id"),
            count=extra.get("count"),
            status=code,
        ))
