"""DocQA's one error hierarchy: every error a user can act on derives from :class:`DocQAError`.

Why: the CLI and the HTTP service each map errors in one place (``app/cli/errors.py`` and
``app/server/errors.py``) by these kinds instead of listing every concrete class; a new error only has to
pick its kind. ``str(err)`` is always a one-line message that says what went wrong and what to do — the
CLI prints it without a traceback, the service returns it as ``detail``.

The kinds also derive from the matching built-in (``ValueError``, ``LookupError``, ``RuntimeError``) so
code that caught those before keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence


class DocQAError(Exception):
    """Base class of every DocQA error that a user can fix or should be told about in one line."""


class InvalidInputError(DocQAError, ValueError):
    """A file, field or argument the user gave is unusable (CLI exit 2, HTTP 400/422).

    Two optional details let a front end point at the fault without knowing the concrete class:
    ``field`` names the request field at fault (the service answers 422 naming it, FastAPI's shape);
    ``problems`` holds one line per bad row or field of a file (the service returns them as ``errors``).
    """

    field: str | None = None
    problems: Sequence[str] = ()


class ConfigError(DocQAError, ValueError):
    """A setting (environment variable, config file, flag combination) is invalid."""


class NotFoundError(DocQAError, LookupError):
    """The thing the user named does not exist (a document, an FAQ entry; HTTP 404)."""


class BusyError(DocQAError):
    """Another process holds what we need (the index writer lock; HTTP 423).

    ``retry_after``: seconds after which trying again is worth it (the service's ``Retry-After``). A
    hint, not a promise: the holder may be an ingest of minutes (a big file) or of a second.
    """

    retry_after: int = 10


class UnavailableError(DocQAError, RuntimeError):
    """Something needed at run time is missing (a model that is not installed; HTTP 503)."""


class StorageError(DocQAError, RuntimeError):
    """The index on disk cannot be used as it is (corrupt, unreadable; HTTP 500)."""


class ConflictError(StorageError):
    """The index is fine but in a state that conflicts with the request (built by another embedding model;
    HTTP 409): re-ingest or ask with the model it was built with."""
