"""The per-key rate limit is one limit however many processes serve: buckets shared through memory by
spawned processes give out exactly ``per_minute`` tokens between them, as one process's buckets do."""

from __future__ import annotations

import multiprocessing
import time

from docqa.app.server.rate_buckets import SLOTS, LocalBuckets, SharedBuckets, key_id


def _spend(buckets: SharedBuckets, name: str, tries: int, now: float, results) -> None:
    results.put(sum(buckets.take(name, 6.0, now) is None for _ in range(tries)))


def test_processes_sharing_the_buckets_get_one_limit_between_them() -> None:
    context = multiprocessing.get_context("spawn")
    buckets = SharedBuckets.create(context)
    results = context.Queue()
    now = time.monotonic()
    workers = [context.Process(target=_spend, args=(buckets, "billing-app", 10, now, results))
               for _ in range(3)]
    for process in workers:
        process.start()
    granted = sum(results.get(timeout=60) for _ in workers)
    for process in workers:
        process.join(30)
    assert [p.exitcode for p in workers] == [0, 0, 0]  # ended, none left behind
    assert granted == 6  # not 3 x 6: the three processes drew from one bucket
    assert buckets.take("billing-app", 6.0, now) == 10  # and the next token is 10 s away (6 a minute)
    assert buckets.take("hr-app", 6.0, now) is None  # another key has its own bucket
    assert buckets.take("billing-app", 6.0, now + 10.0) is None  # refilled at 6 a minute


def test_shared_and_local_buckets_limit_alike_and_a_full_table_still_limits() -> None:
    local, shared = LocalBuckets(), SharedBuckets.create(multiprocessing.get_context("spawn"))
    for buckets in (local, shared):
        waits = [buckets.take("k", 3.0, 100.0) for _ in range(4)]
        assert waits[:3] == [None, None, None] and waits[3] == 20
    for i in range(SLOTS):  # fill every row with other keys
        shared.take(f"key-{i}", 3.0, 100.0)
    overflow = [shared.take("one-too-many", 3.0, 100.0) for _ in range(4)]
    assert overflow[:3] == [None, None, None] and overflow[3] == 20  # limited in this process instead
    assert key_id("k") != key_id("K") and key_id("k") > 0
