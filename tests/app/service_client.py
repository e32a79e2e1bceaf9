"""The HTTP service's test client, sending what a program on this machine sends.

``Host: 127.0.0.1`` — the keyless service answers only to its own names (a DNS-rebinding guard; TestClient's
default ``testserver`` is not one) — and ``X-Requested-With`` on every request, which uploads (multipart
bodies a web page could forge) must carry: see ``docqa.app.server.crosssite``.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

REQUESTED_WITH = {"X-Requested-With": "pytest"}


def service_client(app: Any, **kwargs: Any) -> TestClient:
    """``TestClient(app)`` as a loopback program: base URL http://127.0.0.1, X-Requested-With sent."""
    kwargs.setdefault("base_url", "http://127.0.0.1")
    kwargs["headers"] = {**REQUESTED_WITH, **kwargs.get("headers", {})}
    return TestClient(app, **kwargs)
