"""Loopback load test of `docqa serve`: concurrent clients, mixed /ask and /search, against a real uvicorn.

    python benchmarks/load.py [--clients 50] [--duration 30] [--ask-share 0.5] [--reader DIR] [--json]

What it does, all on 127.0.0.1:

1. starts ``python -m docqa.app.server --port 0`` (the same app `docqa serve` runs; it takes a free
   loopback port and prints its URL) with a fresh index in a temporary directory, and uploads the
   bundled samples through ``POST /documents``;
2. waits for ``GET /ready`` (embedder and reader loaded);
3. single-client baseline: each question once through /search and once through /ask, one at a time;
4. load: ``--clients`` concurrent clients, each sending requests back to back for ``--duration`` seconds,
   /ask with probability ``--ask-share`` and /search otherwise, questions drawn from a fixed list (seeded).
   Requests still in flight when the time is up are waited for and counted.

Reported: throughput, p50/p95/p99 latency per endpoint and overall, errors (any status other than 200,
or a transport error) by kind, and the ratio of the p95 under load to the single-client median. The goal
is 0 errors; latency under load is mostly queueing on a small CPU and is reported, not asserted.

The reader defaults to ``$DOCQA_READER_MODEL``, else the shared test reader (``../shared/models/
minilm-squad2-test``) when present. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SHARED_READER = ROOT.parent / "shared" / "models" / "minilm-squad2-test"

QUESTIONS = [
    "Who founded the Duchy of Normandy?",
    "When was the Duchy of Normandy founded?",
    "Who did Rollo swear fealty to?",
    "Where did the Normans come from?",
    "What language did the Normans speak?",
    "Who invented packet switching?",
    "Where did Donald Davies work?",
    "What is circuit switching?",
    "Who coined the term packet switching?",
    "What is the efficiency of a steam engine limited by?",
    "Who invented the atmospheric engine?",
    "What replaced reciprocating engines in power stations?",
    "What is the Rankine cycle?",
    "When did Newcomen build his engine?",
    "How does a steam engine do mechanical work?",
    "What is the capital of Mongolia?",  # not in the documents: a no-answer question
]


READY_LINE = "DocQA service ready: "


def server_url(process: subprocess.Popen, log_path: Path, timeout: float = 300.0) -> str:
    """The URL the server printed once it was listening (it runs with ``--port 0``: any free port)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if READY_LINE in text:
            return text.split(READY_LINE, 1)[1].split()[0]
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{text}")
        time.sleep(0.25)
    raise SystemExit(f"server did not start in {timeout:.0f} s:\n{log_path.read_text(errors='replace')}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "n": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1) if latencies else float("nan"),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else float("nan"),
    }


def start_server(index: Path, reader: str, log_path: Path, slots: int | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DOCQA_API_KEY"}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    log = open(log_path, "w")  # noqa: SIM115 - the child writes to it for its whole life
    return subprocess.Popen(
        [sys.executable, "-m", "docqa.app.server", "--host", "127.0.0.1", "--port", "0",
         "--index", str(index), "--reader", reader, "--log-level", "warning",
         *(["--max-concurrent-asks", str(slots)] if slots is not None else [])],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def wait_until_ready(base: str, process: subprocess.Popen, log_path: Path, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            response = httpx.get(f"{base}/ready", timeout=5)
            body = response.json()
            if response.status_code == 200:
                return body
            if body.get("reader") in ("unavailable", "error") or body.get("embedder") == "error":
                raise SystemExit(f"server is not ready: {json.dumps(body, indent=2)}")
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server not ready after {timeout:.0f} s:\n{log_path.read_text()}")


def request_for(kind: str, question: str) -> tuple[str, dict]:
    if kind == "ask":
        return "/ask", {"question": question, "top_k": 5, "max_answers": 3}
    return "/search", {"query": question, "top_k": 5}


def single_client(base: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"ask": [], "search": []}
    with httpx.Client(base_url=base, timeout=120) as client:
        for kind in ("search", "ask"):
            for question in QUESTIONS:
                path, body = request_for(kind, question)
                started = time.perf_counter()
                response = client.post(path, json=body)
                elapsed = (time.perf_counter() - started) * 1000.0
                if response.status_code != 200:
                    detail = response.text[:300]
                    raise SystemExit(f"single-client {path} failed: {response.status_code} {detail}")
                out[kind].append(elapsed)
    return out


async def load(base: str, clients: int, duration: float, ask_share: float, seed: int) -> dict:
    latencies: dict[str, list[float]] = {"ask": [], "search": []}
    errors: Counter[str] = Counter()
    finished_at: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        started = time.perf_counter()
        stop_at = started + duration

        async def one_client(number: int) -> None:
            rng = random.Random(seed * 1000 + number)
            while time.perf_counter() < stop_at:
                kind = "ask" if rng.random() < ask_share else "search"
                path, body = request_for(kind, rng.choice(QUESTIONS))
                t0 = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                    status = response.status_code
                except httpx.HTTPError as err:
                    errors[f"{kind}: {type(err).__name__}"] += 1
                    continue
                elapsed = (time.perf_counter() - t0) * 1000.0
                if status == 200:
                    latencies[kind].append(elapsed)
                else:
                    errors[f"{kind}: HTTP {status}"] += 1
                finished_at.append(time.perf_counter())

        await asyncio.gather(*(one_client(n) for n in range(clients)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "errors": dict(errors), "wall_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--ask-share", type=float, default=0.5, help="fraction of requests that are /ask")
    parser.add_argument("--reader", default=os.environ.get("DOCQA_READER_MODEL") or str(SHARED_READER))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-concurrent-asks", type=int, default=None,
                        help="the server's limit on questions read at once (default: its own; 0: none)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.clients <= 500 or not 1 <= args.duration <= 600:
        raise SystemExit("keep it bounded: 1..500 clients, 1..600 seconds")

    with tempfile.TemporaryDirectory(prefix="docqa-load-") as tmp:
        tmp_path = Path(tmp)
        log_path = tmp_path / "server.log"
        process = start_server(tmp_path / "index", args.reader, log_path, args.max_concurrent_asks)
        try:
            base = server_url(process, log_path)
            print(f"server on {base} (reader {args.reader}); waiting for /ready ...", file=sys.stderr)
            wait_until_ready(base, process, log_path)
            samples = sorted(SAMPLES.iterdir())
            files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in samples]
            # A multipart upload must say it is not a web page's form post (docqa.app.server.crosssite).
            upload = httpx.post(
                f"{base}/documents", files=files, headers={"X-Requested-With": "benchmark"}, timeout=600
            )
            if upload.status_code != 200:
                raise SystemExit(f"upload failed: {upload.status_code} {upload.text[:500]}")
            passages = sum(f["passages"] for f in upload.json()["files"])
            print(f"indexed {len(files)} sample files ({passages} passages); single-client baseline ...",
                  file=sys.stderr)
            single = single_client(base)
            print(f"load: {args.clients} clients for {args.duration:.0f} s ...", file=sys.stderr)
            loaded = asyncio.run(load(base, args.clients, args.duration, args.ask_share, args.seed))
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            server_log = log_path.read_text(errors="replace")

    lat = loaded["latencies"]
    everything = lat["ask"] + lat["search"]
    n_ok = len(everything)
    n_err = sum(loaded["errors"].values())
    result = {
        "clients": args.clients,
        "duration_s": args.duration,
        "ask_share": args.ask_share,
        "reader": args.reader,
        "max_concurrent_asks": args.max_concurrent_asks,  # None: the server's default (its CPU cores)
        "cpu_cores": os.cpu_count(),
        "single_client": {kind: summary(values) for kind, values in single.items()},
        "load": {
            "wall_s": round(loaded["wall_s"], 1),
            "requests_ok": n_ok,
            "errors": n_err,
            "error_kinds": loaded["errors"],
            "throughput_rps": round(n_ok / loaded["wall_s"], 2),
            "throughput_by_kind_rps": {k: round(len(v) / loaded["wall_s"], 2) for k, v in lat.items()},
            "ask": summary(lat["ask"]),
            "search": summary(lat["search"]),
            "all": summary(everything),
        },
    }
    for kind in ("ask", "search"):
        single_p50 = result["single_client"][kind]["p50_ms"]
        result["load"][kind]["p95_over_single_p50"] = round(result["load"][kind]["p95_ms"] / single_p50, 1)
    tracebacks = server_log.count("Traceback")
    result["server_log_tracebacks"] = tracebacks
    if args.json:
        print(json.dumps(result, indent=2))
        return 0 if n_err == 0 else 1
    s, ld = result["single_client"], result["load"]
    print(f"\nsingle client ({len(QUESTIONS)} questions each):")
    for kind in ("search", "ask"):
        print(f"  {kind:6s}: p50 {s[kind]['p50_ms']:8.1f} ms  p95 {s[kind]['p95_ms']:8.1f} ms")
    print(f"\n{args.clients} clients for {args.duration:.0f} s (ask share {args.ask_share:.0%}), "
          f"{ld['wall_s']:.1f} s wall incl. draining:")
    print(f"  {n_ok} requests OK, {n_err} errors {ld['error_kinds'] or ''}; "
          f"throughput {ld['throughput_rps']:.2f} req/s (ask {ld['throughput_by_kind_rps']['ask']:.2f}, "
          f"search {ld['throughput_by_kind_rps']['search']:.2f})")
    for kind in ("search", "ask", "all"):
        m = ld[kind]
        ratio = f"  p95 = {m['p95_over_single_p50']}x single-client p50" if "p95_over_single_p50" in m else ""
        print(f"  {kind:6s}: n {m['n']:5d}  p50 {m['p50_ms']:8.1f}  p95 {m['p95_ms']:8.1f}  "
              f"p99 {m['p99_ms']:8.1f}  max {m['max_ms']:8.1f} ms{ratio}")
    print(f"server log: {tracebacks} tracebacks")
    return 0 if n_err == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
