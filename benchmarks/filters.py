"""What a filter costs on the local store, and what it keeps of dense recall (issue #21's targets).

Data: ``benchmarks/scale.py``'s synthetic corpus (SQuAD sentence windows, 55 passages per "file",
clustered stand-in vectors), with every file tagged ``bucket = file number % 100``: ``bucket == 7``
passes 1% of the passages, ``bucket < 50`` 50%. Queries: SQuAD dev questions (BM25 text) and noisy copies
of indexed vectors (dense), as in scale.py. For each filter (none, 1%, 50%): p50 of hybrid, dense and BM25
search, the ratio to the unfiltered p50 measured in the same run, and recall@10 of the filtered dense
search against an exact filtered search (every vector of every allowed row scored: the searcher's float32
scan with every IVF list probed). Also the first query after opening, which builds the per-generation
filter table. Targets: 1% filter hybrid p50 <= 2x unfiltered, recall@10 >= 0.98; 50% filter <= 1.5x.
Run by hand; not a test::

    python benchmarks/filters.py [--passages 100000] [--queries 200] [--json] [--dir DIR (kept)]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scale import DIM, MODEL, PER_FILE, Corpus  # noqa: E402

FILTERS = {
    "none": None,
    "1%": {"field": "meta.bucket", "operator": "==", "value": 7},
    "50%": {"field": "meta.bucket", "operator": "<", "value": 50},
}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(directory: Path, corpus: Corpus, passages: int, step: int = 1000) -> float:
    """The index, grown in commits of ``step`` passages as an ingest does; every file tagged."""
    from dataclasses import replace

    from haystack import Document

    from docqa.pipelines.document_stores.local.index import LocalIndex

    index = LocalIndex(directory)
    t0 = time.perf_counter()
    with index.transaction(MODEL, DIM, timeout=60) as tx:
        for lo in range(0, passages, step):
            batch = []
            for source, docs, vectors in corpus.files(lo, min(step, passages - lo)):
                source = replace(source, tags={"bucket": (int(source.key.split("-")[1]) % 100)})
                meta = source.metadata()
                docs = [Document(id=d.id, content=d.content, meta={**d.meta, **meta}) for d in docs]
                batch.append((source, docs, vectors))
            tx.put_files(batch)
            tx.commit()
            if (lo // step) % 20 == 0:
                _log(f"built {lo + step} passages")
    return time.perf_counter() - t0


def measure(directory: Path, corpus: Corpus, queries: int) -> dict:
    import numpy as np

    from docqa.pipelines.document_stores.local.store import LocalDocumentStore

    store = LocalDocumentStore(directory, embedding_model=MODEL)
    n = store.count_documents()
    rng = np.random.default_rng(1)
    picks = rng.integers(0, n, size=queries)
    qvecs = np.stack([corpus.vectors(int(p), 1)[0] for p in picks])
    qvecs += rng.standard_normal(qvecs.shape).astype(np.float32) * 0.03
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    texts = [corpus.questions[i % len(corpus.questions)] for i in range(queries)]
    out: dict = {"passages": n, "files": len(store.index.files()), "filters": {}}
    t0 = time.perf_counter()
    store.hybrid_retrieval(texts[0], qvecs[0].tolist(), top_k=10, filters=FILTERS["1%"])
    out["first_filtered_query_s"] = time.perf_counter() - t0  # builds the generation's filter table
    for name, filters in FILTERS.items():
        rows = store.row_filter(filters)
        share = 1.0 if rows is None else sum(int(m.sum()) for m in rows.allowed.values()) / n
        times: dict[str, list[float]] = {"hybrid": [], "dense": [], "bm25": []}
        dense_hits = []
        for text, vec in zip(texts, qvecs, strict=True):
            for mode in times:
                t0 = time.perf_counter()
                if mode == "hybrid":
                    store.hybrid_retrieval(text, vec.tolist(), top_k=10, filters=filters)
                elif mode == "dense":
                    dense_hits.append([d.id for d in store.embedding_retrieval(vec.tolist(), 10, filters)])
                else:
                    store.bm25_retrieval(text, top_k=10, filters=filters)
                times[mode].append((time.perf_counter() - t0) * 1000)
        searcher = store._searcher
        fraction, dense = searcher.probe_fraction, searcher.dense_search
        searcher.probe_fraction, searcher.dense_search = 1.0, "numpy"  # every list, float32: exact
        exact = [[d.id for d in store.embedding_retrieval(v.tolist(), 10, filters)] for v in qvecs]
        searcher.probe_fraction, searcher.dense_search = fraction, dense
        recall = float(
            np.mean([len(set(a) & set(e)) / max(len(e), 1) for a, e in zip(dense_hits, exact, strict=True)])
        )
        full = float(np.mean([len(a) == 10 for a in dense_hits]))
        out["filters"][name] = {
            "share": share,
            "p50_ms": {m: statistics.median(t) for m, t in times.items()},
            "dense_recall_at_10": recall,
            "full_top_10": full,
        }
        _log(
            f"{name:>5}: share {share:.3f}  "
            + "  ".join(f"{m} {statistics.median(t):.2f} ms" for m, t in times.items())
            + f"  recall {recall:.3f}"
        )
    base = out["filters"]["none"]["p50_ms"]
    for name in ("1%", "50%"):
        p50 = out["filters"][name]["p50_ms"]
        out["filters"][name]["ratio_to_unfiltered"] = {m: p50[m] / base[m] for m in p50}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", type=Path, help="build here and keep it (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    corpus = Corpus()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="docqa-filters-"))
    try:
        built = None
        if not (workdir / "index.sqlite").exists():
            built = build(workdir, corpus, args.passages)
        result = {"build_s": built, "per_file": PER_FILE, **measure(workdir, corpus, args.queries)}
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['passages']} passages in {result['files']} files; first filtered query (builds the "
        f"filter table) {result['first_filtered_query_s'] * 1000:.0f} ms"
    )
    print(
        f"{'filter':>6} {'share':>6} {'hybrid p50':>11} {'x':>5} {'dense p50':>10} {'x':>5} "
        f"{'bm25 p50':>9} {'x':>5} {'recall@10':>9}"
    )
    for name, row in result["filters"].items():
        p50, ratio = row["p50_ms"], row.get("ratio_to_unfiltered", {"hybrid": 1, "dense": 1, "bm25": 1})
        print(
            f"{name:>6} {row['share']:>6.3f} {p50['hybrid']:>9.2f}ms {ratio['hybrid']:>5.2f} "
            f"{p50['dense']:>8.2f}ms {ratio['dense']:>5.2f} {p50['bm25']:>7.2f}ms {ratio['bm25']:>5.2f} "
            f"{row['dense_recall_at_10']:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
