"""Many teams on one service (issue 22): 8 clients with 8 different scoped keys hammer a real `docqa serve`
for N seconds, and nothing of a collection outside a key's scope may come back.

    python benchmarks/access_load.py [--seconds 60] [--clients 8] [--upload] [--json]

Builds an index with one collection per client (each with a document carrying a marker word of its own, from
the bundled samples plus the marker), one read key per collection, starts `docqa serve --port 0` on
loopback (compact reader) and runs the clients: each asks and searches its own collection (the prefixed
routes), and every 5th request tries another collection (must be 404). With ``--upload`` a writer uploads
files into the first collection all along. Reports requests, leaked responses (a marker of another
collection in a response: must be 0), 5xx (must be 0), refused-as-expected 404s, p50/p95 latency, and
the load average. Rate limiting is switched off (DOCQA_RATE_LIMIT=0): the point is concurrency.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "samples" / "normans.txt"
DOCQA = [sys.executable, "-m", "docqa.app.cli"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(index: Path, clients: int, env: dict[str, str]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Collections t0..tN with marker documents and one read key each: (names, keys, markers)."""
    from docqa.pipelines.api import DocQA, KeyStore, create_collection

    names, keys, markers = [], {}, {}
    text = SAMPLE.read_text(encoding="utf-8")
    store = KeyStore(index)
    for n in range(clients):
        name = f"t{n}"
        marker = f"markerword{n}x"
        create_collection(index, name)
        folder = index.parent / "docs" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.txt").write_text(f"{text}\n\nThe {name} team's code word is {marker}.", "utf-8")
        assert DocQA(index, collection=name).ingest([folder]).ok
        keys[name] = store.create(f"client-{name}", [name], "write" if n == 0 else "read")[1]
        names.append(name)
        markers[name] = marker
    return names, keys, markers


def start(index: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    serve = subprocess.Popen([*DOCQA, "serve", "--port", "0", "--index", str(index)], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert serve.stdout is not None
    line = ""
    while "ready: " not in line:
        line = serve.stdout.readline()
        if not line and serve.poll() is not None:
            raise SystemExit("docqa serve exited before it was ready")
    url = line.split("ready: ")[1].split()[0]
    threading.Thread(target=serve.stdout.read, daemon=True).start()  # drain the log
    return serve, url


def run(url: str, names: list[str], keys: dict[str, str], markers: dict[str, str], seconds: float,
        upload: bool) -> dict[str, float]:
    latencies: list[float] = []
    counts = {"requests": 0, "leaks": 0, "5xx": 0, "refused_404": 0, "unexpected": 0, "uploads": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    question = "What was the team's code word?"

    def client(n: int) -> None:
        name = names[n]
        own = {"X-API-Key": keys[name], "X-Requested-With": "bench"}
        with httpx.Client(base_url=url, headers=own, timeout=120) as http:
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                target = names[(n + 1) % len(names)] if i % 5 == 0 else name
                route = "/ask" if i % 2 else "/search"
                body = {"question": question} if route == "/ask" else {"query": question}
                started = time.perf_counter()
                response = http.post(f"/collections/{target}{route}", json=body)
                elapsed = time.perf_counter() - started
                leaked = any(m in response.text for other, m in markers.items() if other != name)
                with lock:
                    counts["requests"] += 1
                    latencies.append(elapsed)
                    counts["leaks"] += leaked
                    counts["5xx"] += response.status_code >= 500 and response.status_code != 503
                    if target != name:
                        counts["refused_404" if response.status_code == 404 else "unexpected"] += 1
                    elif response.status_code != 200:
                        counts["unexpected"] += 1

    def uploader() -> None:
        headers = {"X-API-Key": keys[names[0]], "X-Requested-With": "bench"}
        with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                data = f"Upload {n} of the t0 team. The t0 team's code word is {markers[names[0]]}.".encode()
                response = http.post(f"/collections/{names[0]}/documents",
                                     files={"files": (f"upload-{n}.txt", data, "text/plain")})
                with lock:
                    counts["uploads"] += response.status_code == 200
                    counts["5xx"] += response.status_code >= 500

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(names))]
    if upload:
        threads.append(threading.Thread(target=uploader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {**counts, "seconds": seconds, "qps": counts["requests"] / seconds,
            "p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * ordered[max(0, int(0.95 * len(ordered)) - 1)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--upload", action="store_true", help="also upload into one collection all along")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docqa-access-") as tmp:
        index = Path(tmp) / "index"
        env = {**os.environ, "DOCQA_READER_MODEL": "compact", "DOCQA_RATE_LIMIT": "0",
               "DOCQA_CACHE_DIR": os.environ.get("DOCQA_CACHE_DIR", str(Path(tmp) / "cache"))}
        os.environ.update({k: env[k] for k in ("DOCQA_READER_MODEL", "DOCQA_CACHE_DIR")})
        os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
        env.pop("DOCQA_API_KEY", None)
        names, keys, markers = build(index, args.clients, env)
        serve, url = start(index, env)
        try:
            results = {"plain": run(url, names, keys, markers, args.seconds, upload=False)}
            log(f"[plain] {results['plain']}")
            if args.upload:
                results["with_upload"] = run(url, names, keys, markers, args.seconds, upload=True)
                log(f"[with upload] {results['with_upload']}")
        finally:
            serve.terminate()
            serve.wait(60)
        results["load_average"] = list(os.getloadavg())
        results["cores"] = len(os.sched_getaffinity(0))
    for name, r in results.items():
        if isinstance(r, dict):
            print(f"{name}: {r['requests']} requests in {r['seconds']:.0f} s ({r['qps']:.1f}/s), "
                  f"leaks {r['leaks']}, 5xx {r['5xx']}, refused 404 {r['refused_404']}, unexpected "
                  f"{r['unexpected']}, p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
                  f"uploads {r['uploads']}")
    if args.json:
        print(json.dumps(results))
    return 1 if any(isinstance(r, dict) and (r["leaks"] or r["5xx"]) for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
