"""Scoped API keys: who may read or change which collections of an index.

Why stored like passwords: a key is a bearer secret, so ``<index>/access/keys.json`` holds only a salted
``hashlib.scrypt`` hash per key (n=2**14, r=8, p=1: ~40 ms to check one guess on these cores, so a stolen
file cannot be brute-forced cheaply), and a key is compared in constant time (``hmac.compare_digest``). The
secret is shown once, by :meth:`KeyStore.create`, and never written or logged.

A key reads ``dqa_<id>_<secret>``: the public ``id`` finds the record without trying every hash, so one
request costs one scrypt at most; verified keys are remembered in memory by a SHA-256 of the key (never
the key) for :data:`VERIFIED_TTL_S`, and the file's identity (mtime, size, inode) is checked on every
resolve, so a key revoked by another process (`docqa keys revoke` while `docqa serve` runs) stops working
on the next request.

``last_used`` is written at most once a minute per key (:data:`LAST_USED_EVERY_S`): a write per request
would make every question wait for an fsync and a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docqa.atomic import atomic_write_json
from docqa.choices import Choice
from docqa.errors import ConfigError, InvalidInputError, NotFoundError

ACCESS_DIR = "access"
KEYS_FILE = "keys.json"
ALL_COLLECTIONS = "*"
PREFIX = "dqa"
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
VERIFIED_TTL_S = 300.0
LAST_USED_EVERY_S = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^dqa_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


class Role(Choice):
    """What a key may do in its collections: ``read`` (ask, search, list, previews, feedback), ``write``
    (also upload and delete documents, load the FAQ), ``admin`` (also manage collections and keys)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @classmethod
    def option_name(cls) -> str:
        return "role"

    def allows(self, needed: Role) -> bool:
        order = [Role.READ, Role.WRITE, Role.ADMIN]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Grant:
    """What a request may do: the key's name (never the key), role and collections (``None``: all)."""

    name: str
    role: Role
    collections: frozenset[str] | None

    def may_use(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def may(self, needed: Role, collection: str | None = None) -> bool:
        return self.role.allows(needed) and (collection is None or self.may_use(collection))


@dataclass
class KeyRecord:
    """One key as stored: no secret, only its salted hash."""

    name: str
    key_id: str
    role: str
    collections: list[str]
    created: str
    salt: str
    hash: str
    last_used: str | None = None
    revoked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def grant(self) -> Grant:
        scope = None if ALL_COLLECTIONS in self.collections else frozenset(self.collections)
        return Grant(self.name, Role.from_str(self.role), scope)

    def public(self) -> dict[str, Any]:
        """What `docqa keys list` and ``GET /keys`` show: never the salt or hash."""
        return {"name": self.name, "role": self.role, "collections": self.collections,
                "created": self.created, "last_used": self.last_used}


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, **SCRYPT).hex()


def validate_key_name(name: str) -> str:
    """:raises InvalidInputError: names a bad key name and the rule."""
    cleaned = (name or "").strip()
    if not _NAME.match(cleaned):
        raise InvalidInputError(f"key name {name!r}: use 1-64 letters, digits, '_', '.' or '-'")
    return cleaned


class KeyStore:
    """The keys of one index (``<index>/access/keys.json``); safe across threads and processes."""

    def __init__(self, index_dir: str | Path) -> None:
        self.directory = Path(index_dir).expanduser() / ACCESS_DIR
        self.path = self.directory / KEYS_FILE
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[int, int, int] | None, dict[str, KeyRecord]] = (None, {})
        self._verified: dict[str, tuple[float, str]] = {}  # sha256(key) -> (when, key name)
        self._touched: dict[str, float] = {}

    # ----- reading -----
    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _records(self) -> dict[str, KeyRecord]:
        """The stored records by key id, re-read whenever the file changed."""
        identity = self._identity()
        with self._lock:
            if identity == self._loaded[0]:
                return self._loaded[1]
            records: dict[str, KeyRecord] = {}
            if identity is not None:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                for item in data.get("keys", []):
                    record = KeyRecord(**item)
                    records[record.key_id] = record
            self._loaded = (identity, records)
            self._verified.clear()  # a revoke or re-create must be seen by the next request
            return records

    def exists(self) -> bool:
        """True when at least one key is active."""
        return any(not r.revoked for r in self._records().values())

    def configured(self) -> bool:
        """True once any key was created, revoked ones included: the front ends then require a key.
        (Revoking the last key must lock the service, not open it.)"""
        return bool(self._records())

    def list(self) -> list[KeyRecord]:
        return sorted((r for r in self._records().values() if not r.revoked), key=lambda r: r.name)

    def resolve(self, secret: str | None) -> Grant | None:
        """The grant of an active key, or None for anything else (malformed, unknown, revoked, wrong)."""
        match = _KEY.match((secret or "").strip())
        if match is None:
            return None
        records = self._records()
        record = records.get(match.group(1))
        if record is None or record.revoked:
            return None
        digest = hashlib.sha256(secret.strip().encode("utf-8")).hexdigest()
        now = time.monotonic()
        with self._lock:
            seen = self._verified.get(digest)
        if seen is None or now - seen[0] > VERIFIED_TTL_S or seen[1] != record.name:
            expected = _hash(secret.strip(), bytes.fromhex(record.salt))
            if not hmac.compare_digest(expected, record.hash):
                return None
            with self._lock:
                self._verified[digest] = (now, record.name)
        self._touch(record)
        return record.grant()

    # ----- writing -----
    @contextmanager
    def _writing(self) -> Iterator[dict[str, KeyRecord]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".keys.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._loaded = (None, {})
                records = dict(self._records())
                yield records
                atomic_write_json(self.path, {"version": 1, "keys": [asdict(r) for r in records.values()]})
                os.chmod(self.path, 0o600)
                self._loaded = (None, {})
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def create(self, name: str, collections: Sequence[str], role: str | Role) -> tuple[KeyRecord, str]:
        """A new key: returns its record and the secret, which is shown this once and never stored.

        :raises InvalidInputError: a bad or taken name, an unknown role, no collections.
        """
        from docqa.pipelines.collections import validate_collection_name

        name = validate_key_name(name)
        try:
            chosen = Role.from_str(str(role.value if isinstance(role, Role) else role))
        except ConfigError as err:  # a request's or a flag's value, not a setting
            raise InvalidInputError(str(err)) from None
        scope = [c.strip() for c in collections if c.strip()]
        if not scope:
            raise InvalidInputError("a key needs at least one collection (or '*' for all)")
        scope = [c if c == ALL_COLLECTIONS else validate_collection_name(c) for c in dict.fromkeys(scope)]
        with self._writing() as records:
            if any(r.name == name and not r.revoked for r in records.values()):
                raise InvalidInputError(f"a key named {name!r} exists already (revoke it first)")
            key_id = secrets.token_hex(6)
            secret = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
            salt = os.urandom(16)
            record = KeyRecord(name, key_id, chosen.value, scope, _utc_now(), salt.hex(), _hash(secret, salt))
            records[key_id] = record
        return record, secret

    def revoke(self, name: str) -> KeyRecord:
        """Revoke the key ``name`` (kept, marked revoked, so the audit log's names stay meaningful).

        :raises NotFoundError: no active key of that name.
        """
        with self._writing() as records:
            for record in records.values():
                if record.name == name and not record.revoked:
                    record.revoked = True
                    return record
        raise NotFoundError(f"No active key named {name!r} (see `docqa keys list`).")

    def _touch(self, record: KeyRecord) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(record.key_id, -LAST_USED_EVERY_S) < LAST_USED_EVERY_S:
                return
            self._touched[record.key_id] = now
        try:
            with self._writing() as records:
                current = records.get(record.key_id)
                if current is not None:
                    current.last_used = _utc_now()
        except OSError:
            pass  # a read-only index: last_used is a convenience, never a reason to refuse a request
