"""Does embedding concurrent questions in shared passes pay on this machine? Queries/s of the packaged MiniLM
query embedder with N threads, each query alone vs in shared passes (``SentenceEncoder.share_queries``, what
``DocQA.share_reading`` switches on), in the same run, per runtime.

    python benchmarks/shared_queries.py [--threads 8] [--seconds 5] [--runtimes onnx,onnx-int8] [--json]

Only batch-independent runtimes share (``onnx-int8`` never does: its vectors depend on their batch-mates, see
``shared_batches.BATCH_DEPENDENT_RUNTIMES``); for those the row shows the unshared rate only. Also printed:
what one query costs alone, to set against a whole question (~150-250 ms through ``POST /ask`` on 2 cores,
``benchmarks/throughput.py``). Wall-clock figures on a shared machine move with its load: the load average
is printed with them. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import QUESTIONS  # noqa: E402 - the service benchmark's questions


def queries_per_s(encode, threads: int, seconds: float) -> float:
    """Queries/s with ``threads`` threads each embedding the questions back to back for ``seconds``."""
    stop_at = time.monotonic() + seconds
    done = [0] * threads

    def client(n: int) -> None:
        i = n * 3
        while time.monotonic() < stop_at:
            encode(QUESTIONS[i % len(QUESTIONS)])
            i += 1
            done[n] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return round(sum(done) / (time.perf_counter() - started), 1)


def measure(runtime: str, threads: int, seconds: float) -> dict:
    from docqa.pipelines.components.embedders.sentence_embedders import SentenceEncoder
    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    encoder = SentenceEncoder(packaged_embedding_model_dir(), backend=runtime)
    one = lambda q: encoder.encode([q])[0]  # noqa: E731 - each query alone, as before
    for question in QUESTIONS:
        one(question)
    started = time.perf_counter()
    for question in QUESTIONS:
        one(question)
    row = {"runtime": runtime, "ms_per_query_alone": round(1000 * (time.perf_counter() - started)
                                                           / len(QUESTIONS), 2),
           "load_before": os.getloadavg()[0], "alone_qps": queries_per_s(one, threads, seconds)}
    if encoder.share_queries():
        row["shared_qps"] = queries_per_s(encoder.encode_query, threads, seconds)
        row["shared_vs_alone"] = round(row["shared_qps"] / row["alone_qps"], 2)
        row["passes_per_query"] = round(encoder._query_passes.passes / encoder._query_passes.calls, 2)  # noqa: SLF001
    row["load_after"] = os.getloadavg()[0]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--runtimes", default="onnx,onnx-int8")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(r, args.threads, args.seconds) for r in args.runtimes.split(",")]
    report = {"cores": len(os.sched_getaffinity(0)), "threads": args.threads, "rows": rows}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"query embedding, {args.threads} threads, {report['cores']} cores, "
          f"{args.seconds:.0f} s per figure")
    print(f"{'runtime':10} {'ms alone':>8} {'alone q/s':>9} {'shared q/s':>10} {'ratio':>6} {'passes/q':>8} "
          f"{'load':>9}")
    for r in rows:
        print(f"{r['runtime']:10} {r['ms_per_query_alone']:8.2f} {r['alone_qps']:9.1f} "
              f"{r.get('shared_qps', '-'):>10} {r.get('shared_vs_alone', '-'):>6} "
              f"{r.get('passes_per_query', '-'):>8} {r['load_before']:4.1f}-{r['load_after']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
