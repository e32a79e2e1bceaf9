"""Many questions at once (issue 24): questions/s and latency of ``POST /ask`` at 1, 4 and 8 clients, with the
service's shared reading passes and without them, through HTTP on loopback.

    python benchmarks/throughput.py [--clients 1,4,8] [--duration 20] [--windows-ms 0,5] [--workers 1,2]
                                    [--serve-workers 2,4] [--no-shared] [--no-haystack] [--json]
                                    [--all [--text-copies 8] [--scan-files 2] [--scan-pages 2]]

1. ingests the samples into a temporary index (`docqa ingest`; the runtime choices cached in
   ``DOCQA_CACHE_DIR`` are reused);
2. for each configuration — ``alone`` (``--reading-batch-window-ms -1``: every question reads alone, as
   before) and ``shared`` with each collection window of ``--windows-ms`` and number of passes at once of
   ``--workers`` (reading passes at once, inside one process) — starts ``python -m
   docqa.app.server --port 0`` on that index and waits for ``GET /ready``; ``serve --workers N`` for each N of
   ``--serve-workers`` (N processes serving the index, `docqa serve --workers N`; each question reads alone,
   so ``alone`` is its 1-worker baseline, in the same run) waits until ``/ready`` answered 200 from N
   distinct worker pids, so every worker's models are loaded before the clock starts;
   ``stock haystack`` (``benchmarks/haystack_service.py``: Haystack's embedder → in-memory retriever →
   ``TransformersExtractiveReader`` over the same passages, behind the same FastAPI ``/ask``; skip with
   ``--no-haystack``);
3. per client count, every client asks questions back to back (a fixed list, each client starting at a
   different one) for ``--duration`` seconds; requests in flight at the end are waited for and counted.

``--all`` adds, in the same run, bulk ingestion (``benchmarks/bulk_ingest.py``'s ``measure``: text and
scanned PDFs at ``--jobs 1`` and ``--jobs 2`` and through stock Haystack), cold start
(``benchmarks/cold_start.py``'s ``run_setting``, compact reader) and, where PyTorch sees a GPU,
``benchmarks/gpu_throughput.py``. ``--json`` always has issue 24's headline keys — ``qps`` and ``p95_ms`` per
client count (the default configuration, ``alone``), ``qps_ratio_8_vs_1``, ``qps_ratio_vs_haystack_8``,
``errors``, ``cpu``, ``gpu`` (null without one) — and with ``--all`` ``ingest_text_ratio_vs_haystack``,
``ocr_jobs2_speedup``, ``cold_ask_s``, ``first_ingest_s``, ``warm_ask_s`` and ``gpu_throughput``; the table
ends with each against its target (with ``--json`` the table goes to stderr: one run gives both).

Printed: questions/s, p50 and p95 latency, errors and the 1-minute load average at the end of the row per
configuration and client count, the ratio of questions/s to the same configuration's 1-client rate, and
to ``alone`` (one worker) and ``stock haystack`` at the same count.
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
from typing import TextIO

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # --all imports bulk_ingest, cold_start, gpu_throughput

from docqa.pipelines.components.gpu import gpu_identity  # noqa: E402
from docqa.pipelines.components.measured_choice import cpu_identity  # noqa: E402

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


def server_command(index: Path, window_ms: float | None, workers: int, serve_workers: int = 1) -> list[str]:
    """`docqa serve`'s app (``window_ms`` None: the stock Haystack reference, haystack_service.py);
    ``workers``: shared reading passes at once; ``serve_workers``: processes (`docqa serve --workers`)."""
    if window_ms is None:
        return [sys.executable, str(REPO / "benchmarks" / "haystack_service.py"), "--index", str(index)]
    return [sys.executable, "-m", "docqa.app.server", "--port", "0", "--index", str(index),
            "--reading-batch-window-ms", str(window_ms), "--reading-batch-workers", str(workers),
            "--workers", str(serve_workers)]


def start_server(command: list[str], env: dict[str, str], log_path: Path,
                 processes: int = 1) -> tuple[subprocess.Popen, str]:
    """Start ``command`` and wait until ``GET /ready`` answered 200 from ``processes`` distinct pids (a
    multi-worker service: each worker loads its models on its own)."""
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
    ready_pids: set[object] = set()
    while time.monotonic() < deadline:
        try:
            # A new connection each time: the kernel hands it to any worker waiting on the socket.
            response = httpx.get(f"{url}/ready", headers={"X-Requested-With": "bench"}, timeout=5)
            if response.status_code == 200:
                ready_pids.add(response.json().get("pid"))
                if len(ready_pids) >= processes:
                    return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1 if ready_pids else 0.3)
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
            "p50_s": statistics.median(ordered) if ordered else float("nan"), "p95_s": p95,
            "load_1min": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per client count")
    parser.add_argument("--windows-ms", default="0", help="collection windows of the shared configuration")
    parser.add_argument("--workers", default="1", help="shared passes at once (one configuration each)")
    parser.add_argument("--serve-workers", default="",
                        help="service processes (docqa serve --workers N), e.g. 2 or 2,4: one 'alone' "
                        "configuration each, compared with 'alone' (1 process)")
    parser.add_argument("--no-shared", action="store_true", help="skip the shared-passes configurations")
    parser.add_argument("--no-haystack", action="store_true", help="skip the stock Haystack reference")
    parser.add_argument("--all", action="store_true",
                        help="also bulk ingestion (benchmarks/bulk_ingest.py: --jobs 1 vs 2 vs Haystack), "
                        "cold start (benchmarks/cold_start.py, compact reader) and, with a GPU, "
                        "benchmarks/gpu_throughput.py; their headline figures join the JSON")
    parser.add_argument("--text-copies", type=int, default=8, help="--all: text PDFs (6 pages each)")
    parser.add_argument("--scan-files", type=int, default=2, help="--all: scanned PDFs")
    parser.add_argument("--scan-pages", type=int, default=2, help="--all: pages per scanned PDF")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON on stdout (the table then goes to stderr)")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    # name -> (collection window ms or None for stock Haystack, shared passes at once, service processes)
    configs: dict[str, tuple[float | None, int, int]] = {"alone": (-1.0, 1, 1)}
    for processes in (int(n) for n in args.serve_workers.split(",") if n.strip()):
        if processes > 1:
            configs[f"serve --workers {processes}"] = (-1.0, 1, processes)
    if not args.no_shared:
        for workers in args.workers.split(","):
            for window in args.windows_ms.split(","):
                configs[f"shared {window}ms x{workers}"] = (float(window), int(workers), 1)
    if not args.no_haystack:
        configs["stock haystack"] = (None, 1, 1)
    env = dict(os.environ)
    env.setdefault("DOCQA_READER_MODEL", "compact")
    env.pop("DOCQA_API_KEY", None)
    load_before = os.getloadavg()
    results: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="docqa-throughput-") as tmp:
        index = Path(tmp) / "index"
        subprocess.run([sys.executable, "-m", "docqa.app.cli", "ingest", str(SAMPLES), "--index", str(index)],
                       env=env, cwd=REPO, check=True, capture_output=True)
        for name, (window, workers, processes) in configs.items():
            process, url = start_server(server_command(index, window, workers, processes), env,
                                        Path(tmp) / f"{name}.log", processes)
            try:
                run_clients(url, max(1, processes), 3.0)  # warm: first questions pay lazy initialisation
                results[name] = {}
                for clients in counts:
                    results[name][clients] = run_clients(url, clients, args.duration)
                    r = results[name][clients]
                    log(f"{name:20} {clients} clients: {r['qps']:.2f} q/s, p50 {r['p50_s']:.2f} s, "
                        f"p95 {r['p95_s']:.2f} s, {r['errors']} errors, load {r['load_1min']:.1f}")
            finally:
                process.terminate()
                process.wait(60)
    ratios = {name: {clients: {"qps_vs_alone": r["qps"] / alone[clients]["qps"],
                               "p95_vs_alone": r["p95_s"] / alone[clients]["p95_s"]}
                     for clients, r in rows.items() if alone.get(clients, {}).get("qps")}
              for name, rows in results.items() if name != "alone"
              for alone in [results["alone"]]}
    report = {"cores": len(os.sched_getaffinity(0)), "load_before": load_before,
              "reader": env["DOCQA_READER_MODEL"], "duration_s": args.duration, "results": results,
              "vs_alone": ratios}
    report.update(headline(results, counts))
    if args.all:
        report.update(other_figures(args))
        report["errors"] += report["ingest"]["errors"]  # files that failed to ingest
    report["load_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=1))
    print_table(report, counts, sys.stderr if args.json else sys.stdout)
    return 0


def print_table(report: dict, counts: list[int], out: TextIO) -> None:
    """The rows, then the headline figures against their targets; on stderr with ``--json``, so that one
    run gives both."""
    results = report["results"]
    print(f"POST /ask through HTTP, reader {report['reader']}, {report['cores']} cores, load "
          f"{report['load_before'][0]:.1f} before / {report['load_after'][0]:.1f} after the whole run, "
          f"{report['duration_s']:.0f} s per row", file=out)
    print(f"{'configuration':20} {'clients':>7} {'q/s':>6} {'p50 s':>6} {'p95 s':>6} {'errors':>6} "
          f"{'load':>5} {'vs 1 client':>11} {'vs alone':>8} {'p95 vs alone':>12} {'vs stock':>8}", file=out)
    for name, rows in results.items():
        for clients, r in rows.items():
            one = rows[counts[0]]["qps"]
            alone = results["alone"].get(clients, {}).get("qps")
            vs_alone = f"{r['qps'] / alone:.2f}x" if alone and name != "alone" else "-"
            p95_alone = results["alone"].get(clients, {}).get("p95_s")
            p95_vs = f"{r['p95_s'] / p95_alone:.2f}x" if p95_alone and name != "alone" else "-"
            vs_one = f"{r['qps'] / one:.2f}x" if one else "-"
            stock = results.get("stock haystack", {}).get(clients, {}).get("qps")
            vs_stock = f"{r['qps'] / stock:.2f}x" if stock and name != "stock haystack" else "-"
            print(f"{name:20} {clients:7d} {r['qps']:6.2f} {r['p50_s']:6.2f} {r['p95_s']:6.2f} "
                  f"{r['errors']:6d} {r['load_1min']:5.1f} {vs_one:>11} {vs_alone:>8} {p95_vs:>12} "
                  f"{vs_stock:>8}", file=out)
    print_headline(report, out)


TARGETS = {  # issue 24's CPU targets (2 cores): key -> (lowest, highest) acceptable
    "qps_ratio_8_vs_1": (1.5, None), "qps_ratio_vs_haystack_8": (2.0, None),
    "ingest_text_ratio_vs_haystack": (2.0, None), "ocr_jobs2_speedup": (1.8, None),
    "cold_ask_s": (None, 3.0), "first_ingest_s": (None, 20.0), "errors": (None, 0),
}


def headline(results: dict[str, dict[int, dict[str, float]]], counts: list[int]) -> dict:
    """The service's figures (the default configuration, ``alone``) under the names issue 24 asks for."""
    ours = results["alone"]
    stock = results.get("stock haystack", {})
    first, last = counts[0], counts[-1]
    return {
        "qps": {c: round(r["qps"], 2) for c, r in ours.items()},
        "p95_ms": {c: round(1000 * r["p95_s"], 1) for c, r in ours.items()},
        f"qps_ratio_{last}_vs_{first}": round(ours[last]["qps"] / ours[first]["qps"], 2),
        f"qps_ratio_vs_haystack_{last}": (round(ours[last]["qps"] / stock[last]["qps"], 2)
                                          if stock.get(last, {}).get("qps") else None),
        "errors": sum(int(r["errors"]) for rows in results.values() for r in rows.values()),
        "cpu": cpu_identity().to_dict(),
        "gpu": gpu.to_dict() if (gpu := gpu_identity()) else None,
    }


def other_figures(args: argparse.Namespace) -> dict:
    """``--all``: bulk ingestion, cold start and (with a GPU) GPU throughput, by their benchmarks' code."""
    import bulk_ingest
    import cold_start

    ingest = bulk_ingest.measure(2, args.text_copies, args.scan_files, args.scan_pages,
                                 haystack=not args.no_haystack, quiet=True)
    cold = cold_start.run_setting("compact", repeat=2)
    figures = {"ingest": ingest, "cold_start": cold,
               "ingest_text_ratio_vs_haystack": ingest["ratios"]["ingest_text_ratio_vs_haystack"],
               "ocr_jobs2_speedup": ingest["ratios"]["ocr_jobs2_speedup"],
               "cold_ask_s": round(cold["cold ask"], 2), "first_ingest_s": round(cold["first ingest"], 2),
               "warm_ask_s": round(cold["warm ask"], 2) if "warm ask" in cold else None}
    if gpu_identity() is not None:
        from gpu_throughput import measure_gpu

        figures["gpu_throughput"] = measure_gpu()
    return figures


def print_headline(report: dict, out: TextIO) -> None:
    """The issue's figures against its targets, one line each (errors: failed requests and files)."""
    print(file=out)
    for key, value in report.items():
        if key not in TARGETS and key not in ("qps", "p95_ms", "warm_ask_s"):
            continue
        low, high = TARGETS.get(key, (None, None))
        met = "" if value is None or (low is None and high is None) else (
            " (target met)" if (low is None or value >= low) and (high is None or value <= high)
            else f" (target {'>= ' + str(low) if low is not None else '<= ' + str(high)}: missed)")
        print(f"{key}: {value}{met}", file=out)
    if "ingest" in report:
        ingest = report["ingest"]
        print("ingest pages/s: " + "; ".join(
            f"{name} {run} {f['pages_per_s']} ({f['pages']} pages, load {f['load_before']} / "
            f"{f['load_after']})" for name in ("text", "scanned") for run, f in ingest[name].items())
            + f"; same passages at --jobs 1 and 2: {ingest['passages_equal']}", file=out)
    gpu = report["gpu"]["description"] if report["gpu"] else None
    print(f"cpu: {report['cpu']['description']}; gpu: {gpu}", file=out)
    if report.get("gpu_throughput"):
        print("gpu throughput: " + json.dumps(report["gpu_throughput"]), file=out)


if __name__ == "__main__":
    raise SystemExit(main())
