"""Reaching Milvus: the store address DocQA accepts, one client per address per process, and the errors a
user sees when Milvus cannot be used — each one line, never a traceback.

Addresses (``DOCQA_STORE`` or ``--store``):

- ``milvus-lite:///abs/path/docqa.db`` or ``milvus-lite://relative/docqa.db`` — Milvus Lite, the embedded
  engine (``pip install "docqa[milvus]"``): a local file, no server. One process at a time may open it.
- ``milvus://host:19530`` (``milvus+https://`` for TLS) — a Milvus standalone server or cluster;
  ``DOCQA_MILVUS_TOKEN`` carries ``user:password`` or an API key when the server checks credentials.

``?collection=name`` picks the collection (default ``docqa``), so several indexes can share one server.

Why pymilvus is imported late: the local store must work without the optional ``milvus`` extra, and
importing pymilvus costs about a second.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from docqa.errors import BusyError, ConfigError, StorageError, UnavailableError

DEFAULT_COLLECTION = "docqa"
CONNECT_TIMEOUT_S = 10.0
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")


class MilvusUnavailableError(UnavailableError):
    """Milvus cannot be reached, refused our credentials, or its client is not installed (HTTP 503)."""


class MilvusBusyError(BusyError, MilvusUnavailableError):
    """A Milvus Lite file is open in another process (Lite allows one at a time; HTTP 423)."""


class MilvusStoreError(StorageError):
    """Milvus answered, but refused an operation (``str(err)`` has its reason)."""


@dataclass(frozen=True)
class MilvusAddress:
    """A parsed Milvus store address. ``uri`` is what pymilvus is given."""

    spec: str
    uri: str
    collection: str
    lite: bool
    hybrid: str = ""  # "" (DocQA fuses), "milvus" (RRF ranker) or "milvus-weighted" (Weighted ranker)

    @property
    def shown(self) -> str:
        """The address as users wrote it, without the query string (for messages)."""
        return self.spec.split("?", 1)[0]


def parse_milvus_address(spec: str) -> MilvusAddress:
    """Parse ``milvus-lite://...`` / ``milvus://host:port`` / ``milvus+https://host:port``.

    :raises ConfigError: naming the address and what a valid one looks like.
    """
    raw = spec.strip()
    base, _, query = raw.partition("?")
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    collection = params.pop("collection", DEFAULT_COLLECTION)
    hybrid = params.pop("hybrid", "")
    if hybrid not in ("", "milvus", "milvus-weighted"):
        raise ConfigError(f"store address {spec!r}: hybrid must be 'milvus' or 'milvus-weighted'")
    unknown = sorted(params)
    if unknown:
        raise ConfigError(
            f"store address {spec!r}: unknown option(s) {', '.join(unknown)}; use ?collection=NAME"
        )
    if not _NAME.match(collection):
        raise ConfigError(
            f"store address {spec!r}: collection {collection!r} must be letters, digits and underscores"
        )
    if base.startswith("milvus-lite://"):
        path = base[len("milvus-lite://") :]
        if not path or not path.endswith(".db"):
            raise ConfigError(
                f"store address {spec!r}: a Milvus Lite address names a .db file, "
                "e.g. milvus-lite:///var/lib/docqa/docqa.db"
            )
        return MilvusAddress(
            raw, str(Path(path).expanduser().resolve()), collection, lite=True, hybrid=hybrid
        )
    for scheme, http in (("milvus://", "http://"), ("milvus+https://", "https://")):
        if base.startswith(scheme):
            host = base[len(scheme) :].rstrip("/")
            if not host or "/" in host:
                raise ConfigError(
                    f"store address {spec!r}: expected {scheme}HOST:PORT, e.g. {scheme}localhost:19530"
                )
            return MilvusAddress(raw, http + host, collection, lite=False, hybrid=hybrid)
    raise ConfigError(
        f"unknown store address {spec!r}: use 'local', 'milvus-lite:///path/docqa.db' or 'milvus://host:19530'"
    )


def _reason(err: BaseException) -> str:
    message = getattr(err, "message", None) or str(err)
    return " ".join(str(message).split())


def _is_auth_failure(reason: str) -> bool:
    lowered = reason.lower()
    return any(
        word in lowered
        for word in (
            "auth",
            "credential",
            "unauthenticated",
            "permission denied",
            "invalid token",
            "password",
        )
    )


def translate(err: BaseException, address: MilvusAddress) -> Exception:
    """A DocQA error for an exception raised by pymilvus / milvus-lite (see the module docstring)."""
    reason = _reason(err)
    if address.lite and "open local milvus failed" in reason.lower():
        return MilvusBusyError(
            f"The Milvus Lite file {address.uri} is open in another process (Milvus Lite allows one process "
            "at a time): stop the other DocQA (page, service, ingest) or use a Milvus server (milvus://)."
        )
    if "milvus-lite is required" in reason or "milvus_lite" in reason:
        return MilvusUnavailableError(
            'Milvus Lite is not installed: pip install "docqa[milvus]" (or use DOCQA_STORE=local).'
        )
    if _is_auth_failure(reason):
        return MilvusUnavailableError(
            f"Milvus at {address.shown} refused the credentials ({reason}): set DOCQA_MILVUS_TOKEN to "
            "'user:password' or an API key."
        )
    if any(w in reason.lower() for w in ("fail connecting", "unavailable", "deadline", "connect", "timeout")):
        return MilvusUnavailableError(
            f"Cannot reach Milvus at {address.shown} ({reason}). Start the server (README: 'Milvus') "
            "or fix DOCQA_STORE."
        )
    return MilvusStoreError(f"Milvus at {address.shown} refused the operation: {reason}")


def _milvus_exception_types() -> tuple[type[BaseException], ...]:
    from pymilvus.exceptions import MilvusException

    return (MilvusException,)


@contextmanager
def milvus_errors(address: MilvusAddress) -> Iterator[None]:
    """Turn pymilvus exceptions inside the block into DocQA errors with one-line messages."""
    try:
        yield
    except ImportError as err:
        raise MilvusUnavailableError(
            f'The Milvus client is not installed ({err}): pip install "docqa[milvus]".'
        ) from None
    except Exception as err:
        try:
            kinds = _milvus_exception_types()
        except ImportError:
            raise err from None
        if isinstance(err, kinds):
            raise translate(err, address) from None
        raise


_CLIENTS: dict[tuple[str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(address: MilvusAddress, token: str | None) -> Any:
    """One ``MilvusClient`` per (uri, token) per process: Milvus Lite cannot open one file twice, and a
    server connection is worth reusing.

    :raises MilvusUnavailableError: server unreachable, credentials refused, client not installed.
    :raises MilvusBusyError: the Lite file is open in another process.
    """
    key = (address.uri, token or "")
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            return client
        with milvus_errors(address):
            from pymilvus import MilvusClient

            if address.lite:
                Path(address.uri).parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"uri": address.uri, "timeout": CONNECT_TIMEOUT_S}
            if token:
                kwargs["token"] = token
            client = MilvusClient(**kwargs)
            if not address.lite:
                client.list_collections()  # a server may accept the connection and refuse the token later
        _CLIENTS[key] = client
        return client


def close_client(address: MilvusAddress) -> None:
    """Close this process's clients of ``address`` (tests hand a Lite file to a subprocess this way)."""
    with _CLIENTS_LOCK:
        for key in [k for k in _CLIENTS if k[0] == address.uri]:
            client = _CLIENTS.pop(key)
            # Closing a broken connection must not mask the caller's work.
            with contextlib.suppress(Exception):
                client.close()


def literal(value: str) -> str:
    """A Milvus filter string literal (double quotes, backslash escapes: the JSON rules)."""
    return json.dumps(value, ensure_ascii=False)


def in_list(values: Iterable[str]) -> str:
    """A Milvus filter list literal of strings."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
