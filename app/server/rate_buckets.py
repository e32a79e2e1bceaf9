"""Token buckets per API key, in one process or shared by every worker of `docqa serve --workers N`.

Why shared: each worker is its own process, and a client's connections land on whichever worker accepts
them. With a bucket per worker, a key could make N times ``DOCQA_RATE_LIMIT`` requests a minute — the
limit would depend on how many processes serve, which no operator setting it expects. So the supervisor
creates one table of buckets in shared memory (``multiprocessing`` ``Array`` of doubles with its lock,
inherited by every worker it spawns, replacements included) and every worker takes its tokens there.

Layout: :data:`SLOTS` rows of ``(key id, tokens, last refill)``. A key's row is found by open addressing
from a 48-bit hash of its name (exact in a float64); the clock is ``time.monotonic()``, which on Linux is
the same clock in every process. Should the table ever fill (more than :data:`SLOTS` distinct key names
since the service started), further keys fall back to a bucket in their worker — still limited, only
per worker.
"""

from __future__ import annotations

import hashlib
import math
import threading
from typing import Any, Protocol

SLOTS = 1024
_FIELDS = 3  # key id, tokens, last refill


def key_id(name: str) -> float:
    """A key name's row id: 48 bits of its SHA-256 (never 0, which marks a free row)."""
    return float(int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:6], "big") or 1)


def take(tokens: float, last: float, now: float, per_minute: float) -> tuple[float, float, int | None]:
    """Refill a bucket of ``per_minute`` tokens to ``now`` and take one: ``(tokens, last, retry_after)``;
    ``retry_after`` is None when a token was taken, else seconds until the next one."""
    rate = per_minute / 60.0
    tokens = min(per_minute, tokens + (now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, now, None
    return tokens, now, max(1, math.ceil((1.0 - tokens) / rate))


class Buckets(Protocol):
    def take(self, name: str, per_minute: float, now: float) -> int | None:
        """None when ``name`` may make a request now (a token is taken), else seconds to wait."""


class LocalBuckets:
    """One process's buckets (a service with one worker, tests)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, per_minute: float, now: float) -> int | None:
        with self._lock:
            tokens, last = self._buckets.get(name, (per_minute, now))
            tokens, last, wait = take(tokens, last, now, per_minute)
            self._buckets[name] = (tokens, last)
            return wait


class SharedBuckets:
    """Buckets in a ``multiprocessing`` ``Array('d')`` shared by the workers (see the module docstring).

    Create it in the supervisor with :meth:`create` and pass it to each worker process as an argument of
    ``Process`` (it is inherited, not copied); pickled any other way it would not be shared.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self._fallback = LocalBuckets()

    @classmethod
    def create(cls, context: Any) -> SharedBuckets:
        """A zeroed table from a ``multiprocessing`` context (the supervisor's ``spawn`` context)."""
        return cls(context.Array("d", SLOTS * _FIELDS, lock=True))

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedBuckets, (self.table,))

    def take(self, name: str, per_minute: float, now: float) -> int | None:
        wanted = key_id(name)
        start = int(wanted) % SLOTS
        with self.table.get_lock():
            rows = self.table.get_obj()
            for probe in range(SLOTS):
                row = ((start + probe) % SLOTS) * _FIELDS
                if rows[row] == 0.0:  # a free row: this key's first request since the service started
                    rows[row], rows[row + 1], rows[row + 2] = wanted, per_minute, now
                if rows[row] == wanted:
                    tokens, last, wait = take(rows[row + 1], rows[row + 2], now, per_minute)
                    rows[row + 1], rows[row + 2] = tokens, last
                    return wait
        return self._fallback.take(name, per_minute, now)
