"""Access control in one place: every protected route resolves the caller's key to a grant, checks the
collection and the role, and only then reaches a store.

Why one dependency rather than checks in the endpoints: an endpoint that forgets a check would leak a
collection. Here :func:`authorize` runs before every protected endpoint (it is a router dependency) and
records the one collection the request may use, and the endpoints' context
(:func:`docqa.app.server.deps.get_context`) carries only that collection's DocQA, so an endpoint cannot
even name another collection.

- **Who**: ``X-API-Key`` is ``DOCQA_API_KEY`` (admin of every collection, compared in constant time) or a
  key from ``<index>/access/keys.json`` (:class:`docqa.pipelines.api.KeyStore`: scrypt hash, constant
  time). With neither configured the service is open, which ``docqa serve`` allows on loopback only.
  Anything else: 401.
- **Where**: ``/collections/{name}/...`` names the collection, the routes without that prefix use the
  service's own (``--collection``, default ``default``). A collection outside the key's scope and one that
  does not exist get the *same* 404, so a key cannot learn which collections exist.
- **What**: reading (ask, search, list, previews, feedback) needs ``read``; uploading, deleting and loading
  the FAQ need ``write``; collections and keys need ``admin`` over every collection (an admin of ``faq``
  alone must not mint a key for ``hr``). Too weak a role on a collection it may see: 403.
- **How often**: ``DOCQA_RATE_LIMIT`` requests per minute per key (token bucket, shared by the workers of
  `docqa serve --workers N`): 429 with ``Retry-After``.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import HTTPException, Request, Security

from docqa import config
from docqa.app.access import key_matches
from docqa.app.server.deps import API_KEY_HEADER, ServiceContext, get_context, header_scheme
from docqa.app.server.rate_buckets import Buckets, LocalBuckets
from docqa.pipelines.api import Grant, Role, collection_exists, validate_collection_name

OPEN = "open"  # the grant's name when no key is configured (loopback only)
MAIN_KEY = "DOCQA_API_KEY"
WRITES = {("POST", "/documents"), ("DELETE", "/documents/{doc_id}"), ("POST", "/faq"),
          ("POST", "/models/improve"), ("POST", "/models/use")}  # the last two: admin (routers/models.py)


class RateLimiter:
    """A token bucket per key name: ``per_minute`` requests a minute, bursts up to ``per_minute``. The
    buckets are this process's, or (``buckets``) shared by every worker of `docqa serve --workers N`
    (:mod:`docqa.app.server.rate_buckets`), so the limit does not grow with the number of workers."""

    def __init__(self, per_minute: float, buckets: Buckets | None = None) -> None:
        self.per_minute = per_minute
        self.buckets = buckets or LocalBuckets()

    def retry_after(self, name: str) -> int | None:
        """None when the request may go ahead (a token is taken), else seconds until the next token."""
        if self.per_minute <= 0:
            return None
        return self.buckets.take(name, self.per_minute, time.monotonic())


def configured_rate_limit() -> float:
    return config.env_float(config.RATE_LIMIT, 120.0, low=0.0)


def unauthorized() -> HTTPException:
    return HTTPException(status_code=401, headers={"WWW-Authenticate": API_KEY_HEADER},
                         detail=f"Missing or wrong API key: send it in the {API_KEY_HEADER} header.")


def no_collection(name: str) -> HTTPException:
    """The one answer for a collection a key may not use *and* one that does not exist."""
    return HTTPException(status_code=404, detail=f"No collection {name!r} (see GET /collections).")


def resolve_grant(ctx: ServiceContext, sent: str | None) -> Grant:
    """The caller's grant; :raises HTTPException: 401 for a missing, wrong or revoked key."""
    if ctx.api_key is not None and key_matches(sent, ctx.api_key):
        return Grant(MAIN_KEY, Role.ADMIN, None)
    if sent:
        grant = ctx.keys.resolve(sent) if ctx.keys is not None else None
        if grant is not None:
            return grant
    if ctx.api_key is None and (ctx.keys is None or not ctx.keys.configured()):
        return Grant(OPEN, Role.ADMIN, None)  # no key configured at all: loopback only (docqa serve)
    raise unauthorized()


def needed_role(request: Request) -> Role:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    prefix = "/collections/{collection}"
    plain = path[len(prefix):] if path.startswith(prefix) else path
    return Role.WRITE if (request.method, plain) in WRITES else Role.READ


def identify(request: Request, sent: str | None) -> tuple[ServiceContext, Grant]:
    """The caller's grant (401 otherwise), recorded for the audit line, and one token of its rate
    limit (429 with ``Retry-After`` when none is left)."""
    ctx = get_context(request)
    grant = resolve_grant(ctx, sent)
    request.state.grant = grant
    assert ctx.rate is not None
    # per key: a keyless loopback service (the grant OPEN) has no caller to tell apart
    wait = None if grant.name == OPEN else ctx.rate.retry_after(grant.name)
    if wait is not None:
        raise HTTPException(status_code=429, headers={"Retry-After": str(wait)},
                            detail=f"Too many requests for this key: at most {ctx.rate.per_minute:g} a "
                                   f"minute ({config.RATE_LIMIT}); retry in {wait} s.")
    return ctx, grant


def authorize(request: Request) -> Grant:
    """The router dependency of every protected route (see the module docstring). The key is read from
    the header directly, not declared as an OpenAPI security scheme: a keyless loopback service needs
    none, and its schema must not demand one."""
    ctx, grant = identify(request, request.headers.get(API_KEY_HEADER))
    raw = request.path_params.get("collection")
    name = ctx.docqa.collection if raw is None else str(raw)
    try:
        name = validate_collection_name(name)
    except Exception:  # noqa: BLE001 - a malformed name is as unknown as any other
        raise no_collection(str(raw)) from None
    if not grant.may_use(name) or not collection_exists(ctx.docqa.root_dir, name):
        raise no_collection(name)
    request.state.collection = name
    if not grant.role.allows(needed_role(request)):
        raise HTTPException(status_code=403, detail="This key may only read this collection.")
    return grant


def require_admin(request: Request) -> Grant:
    """Collections and keys: ``admin`` over every collection."""
    _, grant = identify(request, request.headers.get(API_KEY_HEADER))
    if grant.role is not Role.ADMIN or grant.collections is not None:
        raise HTTPException(status_code=403, detail="Needs an admin key over every collection.")
    return grant


def authorize_keyed(request: Request, sent: Annotated[str | None, Security(header_scheme)] = None) -> Grant:
    """:func:`authorize` for a service started with a key: the same check, with ``X-API-Key`` declared in
    the OpenAPI document (clients generated from it then send the key)."""
    return authorize(request)
