"""Scoped API keys and the audit log as stored: only salted hashes on disk, constant-time checks, a revoke
seen by another process's store at once, last-used throttled, audit lines fsynced, filtered and rotated."""

from __future__ import annotations

import hmac
import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docqa.errors import InvalidInputError, NotFoundError
from docqa.pipelines.access import keys as keys_module
from docqa.pipelines.api import AuditEvent, AuditLog, KeyStore, Role, parse_since


def test_the_key_is_shown_once_and_only_its_salted_hash_is_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    record, secret = store.create("billing-app", ["faq", "manuals"], "read")
    other, second = store.create("hr-bot", ["hr"], Role.WRITE)
    stored = (tmp_path / "access" / "keys.json").read_text()
    assert secret not in stored and second not in stored
    assert secret.split("_", 2)[2] not in stored  # the random part, which may itself hold "_"
    data = json.loads(stored)["keys"]
    assert {k["salt"] for k in data} and len({k["salt"] for k in data}) == 2  # a salt per key
    assert (tmp_path / "access" / "keys.json").stat().st_mode & 0o077 == 0
    grant = store.resolve(secret)
    assert grant is not None and grant.name == "billing-app" and grant.role is Role.READ
    assert grant.collections == frozenset({"faq", "manuals"}) and not grant.may_use("hr")
    assert [r.name for r in store.list()] == ["billing-app", "hr-bot"]
    assert "hash" not in store.list()[0].public() and "salt" not in store.list()[0].public()


@pytest.mark.parametrize("sent", [None, "", "nope", "dqa_000000000000_" + "x" * 43])
def test_malformed_or_unknown_keys_resolve_to_nothing(tmp_path: Path, sent) -> None:
    store = KeyStore(tmp_path)
    store.create("a", ["*"], "admin")
    assert store.resolve(sent) is None


def test_a_wrong_secret_for_a_real_key_id_is_refused_with_a_constant_time_compare(tmp_path, monkeypatch):
    store = KeyStore(tmp_path)
    _, secret = store.create("a", ["faq"], "read")
    compared: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert store.resolve(forged) is None and compared


def test_revoke_by_another_store_object_takes_effect_on_the_next_resolve(tmp_path: Path) -> None:
    serving, cli = KeyStore(tmp_path), KeyStore(tmp_path)
    _, secret = cli.create("app", ["faq"], "read")
    assert serving.resolve(secret) is not None  # now cached as verified
    cli.revoke("app")
    assert serving.resolve(secret) is None
    with pytest.raises(NotFoundError, match="No active key named 'app'"):
        cli.revoke("app")
    assert not serving.exists() and serving.configured()  # revoking the last key locks, never opens


def test_names_roles_and_scopes_are_checked(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.create("app", ["faq"], "read")
    with pytest.raises(InvalidInputError, match="exists already"):
        store.create("app", ["faq"], "read")
    with pytest.raises(InvalidInputError, match="role"):
        store.create("b", ["faq"], "owner")
    with pytest.raises(InvalidInputError, match="collection name"):
        store.create("c", ["HR"], "read")
    with pytest.raises(InvalidInputError, match="key name"):
        store.create("bad name", ["faq"], "read")


def test_last_used_is_written_at_most_once_a_minute(tmp_path: Path, monkeypatch) -> None:
    store = KeyStore(tmp_path)
    _, secret = store.create("app", ["faq"], "read")
    path = tmp_path / "access" / "keys.json"
    store.resolve(secret)
    first = path.stat().st_mtime_ns
    assert store.list()[0].last_used is not None
    for _ in range(20):
        store.resolve(secret)
    assert path.stat().st_mtime_ns == first


def test_audit_lines_are_appended_filtered_and_rotated(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, max_bytes=400)
    for n in range(12):
        log.append(AuditEvent(key="app" if n % 2 else "cli", action="POST /ask", collection="faq",
                              question=f"question {n}?", count=n))
    assert (tmp_path / "audit.jsonl.1").exists()
    lines = list(log.read())
    assert [r["count"] for r in lines] == list(range(12))  # oldest first, across rotated files
    assert [r["count"] for r in log.read(key="app")] == [1, 3, 5, 7, 9, 11]
    assert list(log.read(since=datetime.now(UTC) + timedelta(minutes=1))) == []
    private = AuditLog(tmp_path / "private", questions=False)
    private.append(AuditEvent(key="app", action="POST /ask", question="salary of Bob?", count=1))
    assert "salary" not in (tmp_path / "private" / "audit.jsonl").read_text()


def _append_lines(index_dir: str, writer: int, count: int) -> None:
    log = AuditLog(index_dir, max_bytes=3000)
    for n in range(count):
        log.append(AuditEvent(key=f"worker{writer}", action="POST /ask", count=n))


def test_audit_lines_from_several_processes_survive_rotation(tmp_path: Path) -> None:
    """Service workers append to one log: rotations racing between processes must lose no line."""
    context = multiprocessing.get_context("fork")  # plain file appends: no model, no threads to copy
    writers = [context.Process(target=_append_lines, args=(str(tmp_path), w, 30)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
    assert all(p.exitcode == 0 for p in writers)
    assert (tmp_path / "audit.jsonl.2").exists()  # it rotated several times while they wrote
    lines = list(AuditLog(tmp_path).read())
    for writer in range(4):  # ~9 KB of lines in files of 3 KB: all of them fit in the 5 kept
        assert sorted(r["count"] for r in lines if r["key"] == f"worker{writer}") == list(range(30))


def test_since_accepts_durations_and_iso_times() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert parse_since("10m", now) == now - timedelta(minutes=10)
    assert parse_since("2026-01-01T00:00:00", now) == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInputError, match="--since 'yesterday'"):
        parse_since("yesterday", now)
