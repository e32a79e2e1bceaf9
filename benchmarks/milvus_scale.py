"""Scale on Milvus Lite vs the local store: add N passages (random unit vectors, synthetic text) and time
searches, both stores in the same run.

    python benchmarks/milvus_scale.py --passages 100000 --db /tmp/milvus-scale.db [--queries 200]

Also run as ``python benchmarks/scale.py --store milvus-lite:///path.db [--passages N]``. It measures the
stores, not the embedder: vectors are random 384-d unit
vectors and the text is drawn from a Zipf-distributed 5,000-word vocabulary (60 words a passage).
Prints seconds to add, passages/s, p50/p95 per search mode and Milvus's ratio to the local store.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIM = 384
WORDS = 60


def corpus(n: int, seed: int = 0):
    from haystack import Document

    from docqa.ingest.records import SourceFile, utc_now

    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    ranks = np.minimum(rng.zipf(1.3, size=(n, WORDS)) - 1, len(vocabulary) - 1)
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    files = []
    per_file = 100
    for start in range(0, n, per_file):
        key = f"/synthetic/file{start // per_file}.txt"
        docs = [
            Document(
                content=" ".join(vocabulary[ranks[i]]), meta={"source_key": key, "title": f"file {start}"}
            )
            for i in range(start, min(n, start + per_file))
        ]
        source = SourceFile(key, Path(key).name, key, "text", "", 0, 0, [1], [d.id for d in docs], utc_now())
        files.append((source, docs, vectors[start : start + len(docs)]))
    return files, rng


def timed(fn, queries) -> tuple[float, float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - started) * 1000.0)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--db", default="/tmp/milvus-scale.db")
    args = parser.parse_args()

    from docqa.pipelines.document_stores.factory import open_store

    files, rng = corpus(args.passages)
    queries = [
        (f"w{rng.integers(0, 50)} w{rng.integers(0, 500)} w{rng.integers(0, 3000)}", v)
        for v in rng.standard_normal((args.queries, DIM)).astype(np.float32)
    ]
    results = {}
    for kind, spec in (("local", "local"), ("milvus-lite", f"milvus-lite://{args.db}?collection=scale")):
        index_dir = Path(args.db).with_suffix(f".{kind}-index")
        store = open_store(spec, index_dir, "synthetic-model")
        if kind != "local":
            store.search.drop()  # type: ignore[attr-defined]
        else:
            import shutil

            shutil.rmtree(index_dir, ignore_errors=True)
        started = time.perf_counter()
        with store.index.transaction("synthetic-model", DIM, timeout=5) as transaction:
            for i in range(0, len(files), 100):  # commit every 10,000 passages, as an ingest checkpoints
                transaction.put_files(files[i : i + 100])
                transaction.commit()
        add_s = time.perf_counter() - started
        started = time.perf_counter()
        store.search.warm_up()
        store.search.count_documents()
        load_s = time.perf_counter() - started
        search = store.search
        row = {"add_s": add_s, "load_s": load_s}
        row["dense"] = timed(lambda q, s=search: s.embedding_retrieval(q[1].tolist(), 10), queries)
        row["bm25"] = timed(lambda q, s=search: s.bm25_retrieval(q[0], 10), queries)
        row["hybrid"] = timed(lambda q, s=search: s.hybrid_retrieval(q[0], q[1].tolist(), 10), queries)
        results[kind] = row
        print(kind, "done", {k: v for k, v in row.items()}, flush=True)

    local, milvus = results["local"], results["milvus-lite"]
    print(f"\n{args.passages} passages, {args.queries} queries (ms: p50 / p95)")
    print(f"{'':12} {'add s':>8} {'pass/s':>8} {'load s':>7} {'dense':>15} {'bm25':>15} {'hybrid':>15}")
    for kind, r in results.items():
        cells = " ".join(f"{r[m][0]:7.1f}/{r[m][1]:7.1f}" for m in ("dense", "bm25", "hybrid"))
        print(f"{kind:12} {r['add_s']:8.1f} {args.passages / r['add_s']:8.0f} {r['load_s']:7.1f} {cells}")
    ratios = " ".join(f"{m} {milvus[m][0] / local[m][0]:.2f}x" for m in ("dense", "bm25", "hybrid"))
    print(f"milvus-lite / local: add {milvus['add_s'] / local['add_s']:.2f}x, p50 {ratios}")


if __name__ == "__main__":
    main()
