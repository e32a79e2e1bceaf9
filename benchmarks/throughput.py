"""Many questions at once (issue 24): questions/s and latency of ``POST /ask`` at 1, 4 and 8 clients, with the
service's shared reading passes and without them, through HTTP on loopback.

    python benchmarks/throughput.py [--clients 1,4,8] [--duration 20] [--windows-ms 0,5] [--workers 1,2]
                                    [--json]

1. ingests the samples into a temporary index (`docqa ingest`; the runtime choices cached in
   ``DOCQA_CACHE_DIR`` are reused);
2. for each configuration — ``alone`` (``--reading-batch-window-ms -1``: every question reads alone, as
   before) and ``shared`` with each collection window of ``--windows-ms`` and number of passes at once of
   ``--workers`` — starts ``python -m
   docqa.app.server --port 0`` on that index and waits for ``GET /ready``;
   ``stock haystack`` (``benchmarks/haystack_service.py``: Haystack's embedder → in-memory retriever →
   ``TransformersExtractiveReader`` over the same passages, behind the same FastAPI ``/ask``; skip with
   ``--no-haystack``);
3. per client count, every client asks questions back to back (a fixed list, each client starting at a
   different one) for ``--duration`` seconds; requests in flight at the end are waited for and counted.

Printed: questions/s, p50 and p95 latency and errors per configuration and client count, the ratio of
questions/s to the same configuration's 1-client rate, and to ``alone`` and ``stock haystack`` at the
same count.
Reader: ``$DOCQA_READER_MODEL``, else the bundled compact reader. Wall-clock numbers on a shared machine
move with its load: the load average is printed with them. Run by hand; not a test.
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
SAMPLES = REPO / "data" / "samples"
READY_LINE = "DocQA service ready: "
QUESTIONS = [
    "When was the Duchy of Normandy founded?",
    "Who did Rollo swear fealty to?",
    "What language did the Normans speak?",
    "Who invented packet switching?",
    "Where did Donald Davies work?",
    "Who coined the term packet switching?",
    "What is the efficiency of a steam engine limited by?",
    "Who invented the atmospheric engine?",
    "What replaced reciprocating engines in power stations?",
    "When did Newcomen build his engine?",
    "Who was the duke in the battle of Hastings?",
    "What is the Rankine cycle?",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def server_command(index: Path, window_ms: float | None, workers: int) -> list[str]:
    """`docqa serve`'s app (``window_ms`` None: the stock Haystack reference, haystack_service.py)."""
    if window_ms is None:
        return [sys.executable, str(REPO / "benchmarks" / "haystack_service.py"), "--index", str(index)]
    return [sys.executable, "-m", "docqa.app.server", "--port", "0", "--index", str(index),
            "--reading-batch-window-ms", str(window_ms), "--reading-batch-workers", str(workers)]


def start_server(command: list[str], env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    out = log_path.open("w")
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    url = None
    while time.monotonic() < deadline and url is None:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log_path.read_text()}")
        for line in log_path.read_text().splitlines():
            if line.startswith(READY_LINE):
                url = line[len(READY_LINE):].split()[0]
        time.sleep(0.2)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", headers={"X-Requested-With": "bench"}, timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server not ready:\n{log_path.read_text()}")


def run_clients(url: str, clients: int, duration: float) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def client(number: int) -> None:
        with httpx.Client(base_url=url, headers={"X-Requested-With": "bench"}, timeout=300) as http:
            i = number * 3
            while time.monotonic() < stop_at:
                question = QUESTIONS[i % len(QUESTIONS)]
                i += 1
                started = time.perf_counter()
                try:
                    response = http.post("/ask", json={"question": question})
                    ok = response.status_code == 200
                    error = None if ok else f"HTTP {response.status_code}"
                except httpx.HTTPError as err:
                    error = type(err).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    (errors.append(error) if error else latencies.append(elapsed))

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else float("nan")
    return {"questions": len(latencies), "qps": len(latencies) / wall, "errors": len(errors),
            "p50_s": statistics.median(ordered) if ordered else float("nan"), "p95_s": p95}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per client count")
    parser.add_argument("--windows-ms", default="0", help="collection windows of the shared configuration")
    parser.add_argument("--workers", default="1", help="shared passes at once (one configuration each)")
    parser.add_argument("--no-haystack", action="store_true", help="skip the stock Haystack reference")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    configs: dict[str, tuple[float | None, int]] = {"alone": (-1.0, 1)}
    for workers in args.workers.split(","):
        for window in args.windows_ms.split(","):
            configs[f"shared {window}ms x{workers}"] = (float(window), int(workers))
    if not args.no_haystack:
        configs["stock haystack"] = (None, 1)
    env = dict(os.environ)
    env.setdefault("DOCQA_READER_MODEL", "compact")
    env.pop("DOCQA_API_KEY", None)
    load_before = os.getloadavg()
    results: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="docqa-throughput-") as tmp:
        index = Path(tmp) / "index"
        subprocess.run([sys.executable, "-m", "docqa.app.cli", "ingest", str(SAMPLES), "--index", str(index)],
                       env=env, cwd=REPO, check=True, capture_output=True)
        for name, (window, workers) in configs.items():
            process, url = start_server(server_command(index, window, workers), env,
                                        Path(tmp) / f"{name}.log")
            try:
                run_clients(url, 1, 3.0)  # warm: first questions pay lazy initialisation
                results[name] = {}
                for clients in counts:
                    results[name][clients] = run_clients(url, clients, args.duration)
                    r = results[name][clients]
                    log(f"{name:18} {clients} clients: {r['qps']:.2f} q/s, p50 {r['p50_s']:.2f} s, "
                        f"p95 {r['p95_s']:.2f} s, {r['errors']} errors")
            finally:
                process.terminate()
                process.wait(60)
    report = {"cores": len(os.sched_getaffinity(0)), "load_before": load_before,
              "load_after": os.getloadavg(), "reader": env["DOCQA_READER_MODEL"],
              "duration_s": args.duration, "results": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"POST /ask through HTTP, reader {report['reader']}, {report['cores']} cores, load "
          f"{load_before[0]:.1f} before / {report['load_after'][0]:.1f} after, {args.duration:.0f} s per row")
    print(f"{'configuration':18} {'clients':>7} {'q/s':>6} {'p50 s':>6} {'p95 s':>6} {'errors':>6} "
          f"{'vs 1 client':>11} {'vs alone':>8} {'vs stock':>8}")
    for name, rows in results.items():
        for clients, r in rows.items():
            one = rows[counts[0]]["qps"]
            alone = results["alone"].get(clients, {}).get("qps")
            vs_alone = f"{r['qps'] / alone:.2f}x" if alone and name != "alone" else "-"
            vs_one = f"{r['qps'] / one:.2f}x" if one else "-"
            stock = results.get("stock haystack", {}).get(clients, {}).get("qps")
            vs_stock = f"{r['qps'] / stock:.2f}x" if stock and name != "stock haystack" else "-"
            print(f"{name:18} {clients:7d} {r['qps']:6.2f} {r['p50_s']:6.2f} {r['p95_s']:6.2f} "
                  f"{r['errors']:6d} {vs_one:>11} {vs_alone:>8} {vs_stock:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
