"""How the store scales: today's snapshot design (old) vs the catalog + segments design (new), same run.

Synthetic passages: windows of sentences of the SQuAD articles in ``../shared/data`` (train + dev), 55 per
"file" as a real bulk ingest has; titles are the article titles. The stand-in embedder draws random unit
vectors around one random centre per article (cosine ~0.5 to it), so only storage and search are timed and
dense recall is measured on clustered vectors, as real embeddings are, not on structureless noise.
Queries: SQuAD dev questions (BM25 text) and noisy copies of indexed vectors (dense).

Each design grows its index in one writer transaction, committing every ``--step`` (1,000) passages, as
``docqa ingest`` does with its checkpoints. Per milestone it prints the mean seconds to add 1,000 passages
(merges included, amortised), bytes written (``/proc/self/io`` wchar) and index size. Then, in a fresh
process: open + first search, search p50/p95 per mode, ANN recall@10 vs exact search, peak RSS; a live
searcher's catch-up after another process commits 1,000 passages; deleting one file. Each phase runs in its
own process so that one design's memory never counts against the other. Run by hand; not a test::

    python benchmarks/scale.py [--passages 100000] [--full] [--json] [--design old|new|both]
                               [--dense numpy|faiss|both] [--data ../shared/data]

``--dense both`` searches the *same* built new-design index twice, each in its own process: with the float32
list scan every segment used before (``numpy``) and with the segments' FAISS indexes (``faiss``); catch-up
and delete run once, after both. ``--real-recall`` reports recall on real MiniLM vectors for both.

The old design rewrites everything per commit (quadratic): it is measured up to ``--old-max`` passages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data"
MODEL, DIM, PER_FILE = "stand-in-random", 384, 55


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_split_mb() -> dict[str, float]:
    """Current RSS split into anonymous (private heap) and file-backed (mmapped index pages) memory."""
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("RssAnon:", "RssFile:")):
                name, value = line.split(":")
                fields[f"rss_{name[3:].lower()}_mb"] = int(value.split()[0]) / 1024
    return fields


def wchar() -> int:
    with open("/proc/self/io") as handle:
        return int(next(line for line in handle if line.startswith("wchar")).split()[1])


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name != "writer.lock")


# ---------------- synthetic corpus ----------------
class Corpus:
    """Deterministic passages, vectors and queries (the same for both designs)."""

    def __init__(self) -> None:
        import numpy as np

        articles: list[tuple[str, list[str]]] = []
        questions: list[str] = []
        for name in ("qa-train-squad11-shifts.json.gz", "squad2-dev-public.json"):
            with gzip.open(DATA / name) if name.endswith(".gz") else open(DATA / name) as handle:
                for art in json.load(handle)["data"]:
                    sents: list[str] = []
                    for para in art["paragraphs"]:
                        sents += re.split(r"(?<=[.!?])\s+", para["context"])
                        questions += [q["question"] for q in para.get("qas", [])]
                    articles.append((art["title"].replace("_", " "), [s for s in sents if len(s) > 20]))
        self.articles = [a for a in articles if len(a[1]) >= 8]
        self.questions = questions[-2000:]  # dev questions come last
        rng = np.random.default_rng(7)
        centres = rng.standard_normal((len(self.articles), DIM)).astype(np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)

    def article_of(self, i: int) -> int:
        return (i // PER_FILE) % len(self.articles)

    def passage(self, i: int) -> tuple[str, str]:
        title, sents = self.articles[self.article_of(i)]
        k = len(sents)
        start = (i * 7 + i // (PER_FILE * len(self.articles))) % k
        return title, " ".join(sents[(start + j) % k] for j in range(5))

    def vectors(self, start: int, n: int):
        import numpy as np

        rng = np.random.default_rng(start)
        arts = [self.article_of(i) for i in range(start, start + n)]
        v = self.centres[arts] + rng.standard_normal((n, DIM)).astype(np.float32) * 0.09
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def files(self, start: int, n: int):
        """(SourceFile, docs, vectors) for passages start..start+n, ``PER_FILE`` passages per file."""
        from haystack import Document

        from docqa.ingest.records import SourceFile, utc_now

        vectors = self.vectors(start, n)
        out = []
        for lo in range(start, start + n, PER_FILE):
            hi = min(lo + PER_FILE, start + n)
            key = f"/synthetic/file-{lo // PER_FILE:07d}-{lo}.txt"
            docs = []
            for i in range(lo, hi):
                title, text = self.passage(i)
                meta = {"source_key": key, "file": key, "file_name": key[11:], "title": title, "page": 1}
                docs.append(Document(id=f"p{i:08d}", content=text, meta=meta))
            source = SourceFile(
                key=key, file_name=key[11:], title=docs[0].meta["title"], kind="text", sha256="", size=0,
                mtime_ns=0, page_lengths=[sum(len(d.content) for d in docs)],
                passage_ids=[d.id for d in docs], ingested_at=utc_now(),
            )
            out.append((source, docs, vectors[lo - start : hi - start]))
        return out


def index_class(design: str):
    if design == "old":
        from legacy.snapshots import LocalIndex
    else:
        from docqa.pipelines.document_stores.local.index import LocalIndex
    return LocalIndex


def store_class(design: str):
    if design == "old":
        from legacy.local_store import LocalDocumentStore
    else:
        from docqa.pipelines.document_stores.local.store import LocalDocumentStore
    return LocalDocumentStore


# ---------------- phases (each in its own process) ----------------
def phase_grow(design: str, directory: Path, passages: int, step: int, start: int = 0) -> dict:
    corpus = Corpus()
    index = index_class(design)(directory)
    steps, w0 = [], wchar()
    with index.transaction(MODEL, DIM, timeout=60) as tx:
        for lo in range(start, start + passages, step):
            batch = corpus.files(lo, min(step, start + passages - lo))
            t0 = time.perf_counter()
            tx.put_files(batch)
            tx.commit()
            steps.append(time.perf_counter() - t0)
            done = lo + step - start
            if done % (step * 10) == 0 or done >= passages:
                _log(f"[{design}] {lo + step:>8} passages  add 1k {statistics.mean(steps[-10:]):.3f} s  "
                     f"written {(wchar() - w0) / 1e6:.0f} MB  index {dir_bytes(directory) / 1e6:.0f} MB")
    return {"steps": steps, "bytes_written": wchar() - w0, "index_bytes": dir_bytes(directory),
            "peak_rss_mb": rss_mb()}


def drop_page_cache(directory: Path) -> None:
    """Evict the index's files from the page cache (``POSIX_FADV_DONTNEED``; works on files no process
    maps, as between two phases): the next open reads from disk, as after a reboot."""
    import os

    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def open_and_search(design: str, directory: Path, dense: str, corpus: Corpus):
    """Open the index and run one hybrid search: (store, seconds)."""
    store_cls = store_class(design)  # imports (haystack, numpy) are not part of opening; faiss's is (lazy)
    if design == "new":
        from docqa.pipelines.document_stores.local import searcher as searcher_module

        searcher_module.DENSE_SEARCH = dense  # read when the store opens its searcher
    t0 = time.perf_counter()
    store = store_cls(directory, embedding_model=MODEL)
    store.count_documents()
    qvec = corpus.vectors(0, 1)[0]
    store.hybrid_retrieval(corpus.questions[0], qvec.tolist(), top_k=10)
    return store, time.perf_counter() - t0


def phase_open_cold(design: str, directory: Path, dense: str) -> dict:
    corpus = Corpus()
    drop_page_cache(directory)
    _, took = open_and_search(design, directory, dense, corpus)
    return {"open_first_search_cold_s": took}


def phase_search(design: str, directory: Path, queries: int, catch_up: bool, dense: str = "faiss") -> dict:
    import numpy as np

    corpus = Corpus()
    store, took = open_and_search(design, directory, dense, corpus)
    n = store.count_documents()
    out: dict = {"open_first_search_s": took, "passages": n}
    rng = np.random.default_rng(1)
    picks = rng.integers(0, n, size=queries)
    qvecs = np.stack([corpus.vectors(int(p), 1)[0] for p in picks])
    qvecs += rng.standard_normal(qvecs.shape).astype(np.float32) * 0.03
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    texts = [corpus.questions[i % len(corpus.questions)] for i in range(queries)]
    times: dict[str, list[float]] = {"bm25": [], "dense": [], "hybrid": []}
    cpu: dict[str, list[float]] = {mode: [] for mode in times}  # this process's CPU: the load-free cost
    dense_hits = []
    for text, vec in zip(texts, qvecs, strict=True):
        for mode in times:
            t0, c0 = time.perf_counter(), time.process_time()
            if mode == "bm25":
                store.bm25_retrieval(text, top_k=10)
            elif mode == "dense":
                dense_hits.append([d.id for d in store.embedding_retrieval(vec.tolist(), top_k=10)])
            else:
                store.hybrid_retrieval(text, vec.tolist(), top_k=10)
            times[mode].append((time.perf_counter() - t0) * 1000)
            cpu[mode].append((time.process_time() - c0) * 1000)
    out["p50_ms"] = {m: statistics.median(t) for m, t in times.items()}
    out["p50_cpu_ms"] = {m: statistics.median(t) for m, t in cpu.items()}
    out["p95_ms"] = {m: float(np.percentile(t, 95)) for m, t in times.items()}
    # Before the exact check below, which maps every vector page (file-backed pages count in RSS).
    out["peak_rss_mb"] = rss_mb()
    out.update(rss_split_mb())  # now: private memory vs mapped index pages (page cache, reclaimable)
    if design == "new":  # exact search: every IVF list probed
        searcher = store._searcher

        def dense_p50() -> float:
            took = []
            for vec in qvecs:
                t0 = time.perf_counter()
                store.embedding_retrieval(vec.tolist(), top_k=10)
                took.append((time.perf_counter() - t0) * 1000)
            return statistics.median(took)

        fraction, ef = searcher.probe_fraction, searcher.ef_search
        if dense == "numpy":  # the speed side of the probe-fraction trade-off
            for other in (0.15, 0.35):
                searcher.probe_fraction = other
                out[f"p50_dense_ms_probe_{other}"] = dense_p50()
            searcher.probe_fraction = fraction
        else:  # and of HNSW's candidate list
            for other in (32, 128):
                searcher.ef_search = other
                out[f"p50_dense_ms_ef_{other}"] = dense_p50()
            searcher.ef_search = ef
        if dense == "faiss":  # FAISS's OpenMP threads: 1 vs every core (the default)
            import os

            import faiss

            faiss.omp_set_num_threads(1)
            out["p50_dense_ms_faiss_1_thread"] = dense_p50()
            faiss.omp_set_num_threads(os.cpu_count() or 1)
            out["p50_dense_ms_faiss_all_threads"] = dense_p50()
        searcher.probe_fraction, searcher.dense_search = 1.0, "numpy"  # every list, float32: exact
        exact = [[d.id for d in store.embedding_retrieval(v.tolist(), top_k=10)] for v in qvecs]
        searcher.probe_fraction, searcher.dense_search = fraction, dense
        out["ann_recall_at_10"] = float(np.mean([len(set(a) & set(e)) / 10 for a, e in
                                                 zip(dense_hits, exact, strict=True)]))
    else:
        out["ann_recall_at_10"] = 1.0  # exact flat search
    out["peak_rss_mb_after_exact_check"] = rss_mb()
    if catch_up:  # another process commits 1,000 passages; this live searcher follows
        proc = subprocess.run([sys.executable, __file__, "--data", str(DATA), "--_phase", "grow", "--design",
                               design, "--dir", str(directory), "--passages", "1000", "--start", str(n)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(proc.stderr)
        t0 = time.perf_counter()
        store.refresh()
        store.hybrid_retrieval(texts[0], qvecs[0].tolist(), top_k=10)
        out["catch_up_s"] = time.perf_counter() - t0
        out["after_catch_up"] = store.count_documents()
        index = index_class(design)(directory)
        key = next(iter(index.load_any().files)) if design == "old" else next(iter(index.files()))
        t0 = time.perf_counter()
        index.delete_files([key], lock_timeout=60)
        out["delete_one_file_s"] = time.perf_counter() - t0
    return out


def real_recall(passages: int, questions: int, cache: Path, dense: str = "faiss") -> dict:
    """ANN recall@10 vs exact on real embeddings (the packaged MiniLM) of SQuAD paragraphs and questions:
    what the stand-in vectors cannot tell, since they have no local structure beyond their article.
    One segment with its FAISS index, searched with ``dense`` (faiss or the numpy list scan)."""
    import numpy as np

    from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
    from docqa.pipelines.document_stores.local.searcher import SegmentSearcher
    from docqa.pipelines.document_stores.local.segments import build_segment, with_ivf

    cache.mkdir(parents=True, exist_ok=True)
    vec_file, q_file = cache / f"real-{passages}.npy", cache / f"real-q-{questions}.npy"
    if not vec_file.exists() or not q_file.exists():
        from haystack import Document

        texts, qs = [], []
        with gzip.open(DATA / "qa-train-squad11-shifts.json.gz") as handle:
            for art in json.load(handle)["data"]:
                for para in art["paragraphs"]:
                    texts.append(para["context"])
                    qs += [q["question"] for q in para["qas"][:1]]
        texts = texts[:passages]
        embedder = PassageEmbedder()
        embedder.warm_up()
        _log(f"[recall] embedding {len(texts)} real passages with the packaged MiniLM ...")
        docs = embedder.run(documents=[Document(content=t) for t in texts])["documents"]
        np.save(vec_file, np.asarray([d.embedding for d in docs], dtype=np.float32))
        query_embedder = QueryEmbedder()
        query_embedder.warm_up()
        rng = np.random.default_rng(3)
        picked = [qs[i] for i in rng.choice(min(len(qs), passages), size=questions, replace=False)]
        embedded = [query_embedder.run(text=q)["embedding"] for q in picked]
        np.save(q_file, np.asarray(embedded, dtype=np.float32))
    vectors, queries = np.load(vec_file), np.load(q_file)
    segment = with_ivf(build_segment(np.arange(len(vectors)), vectors, [["x"]] * len(vectors), ivf=False))
    searcher = SegmentSearcher(None, segments=[segment], dim=vectors.shape[1])
    searcher.dense_search = dense
    exact = [set(np.argsort(-(vectors @ q))[:10].tolist()) for q in queries]

    def recall() -> float:
        got = [{v for v, _ in searcher.dense(searcher.state, q, 10)} for q in queries]
        return float(np.mean([len(a & b) / 10 for a, b in zip(got, exact, strict=True)]))

    out = {"dense": dense, "passages": len(vectors), "ivf_lists": len(segment.centroids),
           "probe_fraction": searcher.probe_fraction, "ef_search": searcher.ef_search,
           "recall_at_10": recall()}
    if dense == "faiss":
        for ef in (32, 48, 128):
            searcher.ef_search = ef
            out[f"recall_at_10_ef_{ef}"] = recall()
        return out
    default = searcher.probe_fraction
    for fraction in (0.1, 0.15, 0.35):
        searcher.probe_fraction = fraction
        out[f"recall_at_10_probe_{fraction}"] = recall()
    searcher.probe_fraction = default
    return out


def run_phase(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--data", str(DATA), *args], stdout=subprocess.PIPE,
                          text=True)
    if proc.returncode:
        raise SystemExit(f"phase {args} failed ({proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(design: str, passages: int, step: int, workdir: Path, queries: int,
            denses: list[str]) -> list[dict]:
    """Grow one index, then search it once per dense backend (each in its own process; the last one also
    measures catch-up and delete, which change the index). One result per backend ("" for the old design:
    its flat search)."""
    directory = workdir / f"index-{design}"
    shutil.rmtree(directory, ignore_errors=True)
    grow = run_phase(["--_phase", "grow", "--design", design, "--dir", str(directory),
                      "--passages", str(passages), "--step", str(step)])
    searches = {}
    for i, dense in enumerate(denses):
        phase = "search" if i == len(denses) - 1 else "search-only"
        mode = ["--dense", dense] if dense else []
        cold = run_phase(["--_phase", "open-cold", "--design", design, "--dir", str(directory), *mode])
        searches[dense] = run_phase(["--_phase", phase, "--design", design, "--dir", str(directory),
                                     "--queries", str(queries), *mode]) | cold
    last = searches[denses[-1]]
    steps = grow["steps"]
    # Amortised costs: the first 10 commits (one small-merge cycle) vs the last 100 (a whole cycle of the
    # largest automatic merge), or the last half of a shorter run.
    first = max(1, min(10, len(steps) // 2))
    tail = max(1, min(100, len(steps) // 2))
    results = []
    for dense, search in searches.items():
        result = {
            "design": f"{design} {dense}".strip(),
            "dense": dense or "flat",
            "passages": passages,
            "add_1k_s_first": statistics.mean(steps[:first]) * 1000 / step,
            "add_1k_s_last": statistics.mean(steps[-tail:]) * 1000 / step,
            "add_1k_s_median_last": statistics.median(steps[-tail:]) * 1000 / step,
            "open_first_search_s": search["open_first_search_s"],
            "open_first_search_cold_s": search["open_first_search_cold_s"],
            "catch_up_s": last["catch_up_s"],
            "p50_ms": search["p50_ms"],
            "p95_ms": search["p95_ms"],
            "p50_cpu_ms": search["p50_cpu_ms"],
            "ann_recall_at_10": search["ann_recall_at_10"],
            **{k: v for k, v in search.items() if k.startswith(("p50_dense_ms_", "rss_"))},
            "peak_rss_mb": search["peak_rss_mb"],
            "peak_rss_mb_writer": grow["peak_rss_mb"],
            "bytes_written_total": grow["bytes_written"],
            "index_bytes": grow["index_bytes"],
            "delete_one_file_s": last["delete_one_file_s"],
            "add_1k_s_max": max(steps) * 1000 / step,
        }
        result["add_1k_ratio_last_first"] = result["add_1k_s_last"] / result["add_1k_s_first"]
        result["written_over_index"] = result["bytes_written_total"] / result["index_bytes"]
        results.append(result)
    return results


def print_table(results: list[dict]) -> None:
    rows = [
        ("passages", "passages", "{:,}"),
        ("add 1k, first steps (s)", "add_1k_s_first", "{:.3f}"),
        ("add 1k, last steps (s)", "add_1k_s_last", "{:.3f}"),
        ("add 1k, median of last steps (s)", "add_1k_s_median_last", "{:.3f}"),
        ("add 1k, worst step (s)", "add_1k_s_max", "{:.2f}"),
        ("ratio last/first", "add_1k_ratio_last_first", "{:.2f}"),
        ("bytes written / index", "written_over_index", "{:.2f}"),
        ("index size (MB)", "index_bytes", "{:.0f}"),
        ("open + first search (s)", "open_first_search_s", "{:.2f}"),
        ("open + first search, index evicted from the page cache (s)", "open_first_search_cold_s", "{:.2f}"),
        ("catch-up after 1k commit (s)", "catch_up_s", "{:.3f}"),
        ("delete one file (s)", "delete_one_file_s", "{:.3f}"),
        ("p50 bm25 (ms)", ("p50_ms", "bm25"), "{:.1f}"),
        ("p50 dense (ms)", ("p50_ms", "dense"), "{:.1f}"),
        ("p50 hybrid (ms)", ("p50_ms", "hybrid"), "{:.1f}"),
        ("p95 dense (ms)", ("p95_ms", "dense"), "{:.1f}"),
        ("p50 CPU per query, bm25 / dense / hybrid (ms)", ("p50_cpu_ms",), "{:.1f}"),
        ("p95 hybrid (ms)", ("p95_ms", "hybrid"), "{:.1f}"),
        ("p50 dense, scan of 15% / 35% of lists (ms)", ("p50_dense_ms_probe_0.15", "p50_dense_ms_probe_0.35"),
         "{:.1f}"),
        ("p50 dense, HNSW efSearch 32 / 128 (ms)", ("p50_dense_ms_ef_32", "p50_dense_ms_ef_128"), "{:.1f}"),
        ("p50 dense, FAISS on 1 thread / every core (ms)",
         ("p50_dense_ms_faiss_1_thread", "p50_dense_ms_faiss_all_threads"), "{:.1f}"),
        ("ANN recall@10 vs exact (stand-in vectors)", "ann_recall_at_10", "{:.3f}"),
        ("ANN recall@10 vs exact (20k real MiniLM)", "ann_recall_at_10_real", "{:.3f}"),
        ("peak RSS searcher (MB)", "peak_rss_mb", "{:.0f}"),
        ("searcher RSS private / mapped files (MB)", ("rss_anon_mb", "rss_file_mb"), "{:.0f}"),
        ("peak RSS writer (MB)", "peak_rss_mb_writer", "{:.0f}"),
    ]
    labels = [f"{r['design']} @ {r['passages']:,}" for r in results]
    pair = len(results) == 2 and results[0]["passages"] == results[1]["passages"]
    ratio_head = f"{results[1]['design']}/{results[0]['design']}" if pair else ""
    print("| metric | " + " | ".join(labels) + f" | {ratio_head} |")
    print("|---" * (len(results) + 2) + "|")
    for label, key, fmt in rows:
        if key == ("p50_cpu_ms",):
            cells = [" / ".join(fmt.format(r["p50_cpu_ms"][m]) for m in ("bm25", "dense", "hybrid"))
                     for r in results]
            print(f"| {label} | " + " | ".join(cells) + " | |")
            continue
        if isinstance(key, tuple) and key[0].startswith(("p50_dense", "rss_")):  # two figures in one cell
            cells = [" / ".join("—" if r.get(k) is None else fmt.format(r[k]) for k in key) for r in results]
            print(f"| {label} | " + " | ".join(cells) + " | |")
            continue
        vals = [(r[key[0]][key[1]] if isinstance(key, tuple) else r.get(key)) for r in results]
        if any(v is None for v in vals):
            print(f"| {label} | " + " | ".join("—" if v is None else fmt.format(v) for v in vals) + " | |")
            continue
        vals = [v / 1e6 if key == "index_bytes" else v for v in vals]
        ratio = ""
        if len(results) == 2 and results[0]["passages"] == results[1]["passages"] and vals[0]:
            ratio = f"{vals[1] / vals[0]:.2f}"
        print(f"| {label} | " + " | ".join(fmt.format(v) for v in vals) + f" | {ratio} |")


def milvus_lite(spec: str, passages: int, queries: int) -> int:
    """``--store milvus-lite:///path.db``: Milvus Lite and the local store grown and searched in one run.

    Milvus has its own script because its store is driven through the store factory (no segment files,
    no legacy design to compare); this hands over to it."""
    from docqa.errors import DocQAError
    from docqa.pipelines.document_stores.milvus.client import parse_milvus_address

    try:
        address = parse_milvus_address(spec)
    except DocQAError as err:
        raise SystemExit(str(err)) from None
    if not address.lite:
        raise SystemExit(f"--store {spec!r}: this benchmark runs Milvus Lite only (milvus-lite:///path.db)")
    db = address.uri
    command = [sys.executable, str(ROOT / "benchmarks" / "milvus_scale.py"), "--passages", str(passages),
               "--queries", str(queries), "--db", db]
    return subprocess.run(command).returncode


def main(argv: list[str] | None = None) -> int:
    global DATA
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--full", action="store_true", help="grow the new design to 1,000,000 passages")
    ap.add_argument("--design", choices=("old", "new", "both"), default="both")
    ap.add_argument("--dense", choices=("numpy", "faiss", "both"), default="faiss",
                    help="the new design's dense search: the float32 list scan, the segments' FAISS indexes, "
                         "or both on the same built index (each in its own process)")
    ap.add_argument("--data", default=str(DATA), help="SQuAD files (default: ../shared/data)")
    ap.add_argument("--old-max", type=int, default=100_000, help="largest size the old design is grown to")
    ap.add_argument("--step", type=int, default=1000, help="passages per commit")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--workdir", default=None, help="where the indexes are built (default: a temp dir)")
    ap.add_argument("--real-recall", type=int, default=20_000, metavar="N",
                    help="also measure ANN recall on N real MiniLM-embedded paragraphs (0: skip)")
    ap.add_argument("--store", default="local",
                    help="local (this benchmark) or milvus-lite:///path.db: Milvus Lite against the "
                         "local store in the same run (benchmarks/milvus_scale.py)")
    ap.add_argument("--json", action="store_true")
    phases = ("grow", "search", "search-only", "open-cold")
    ap.add_argument("--_phase", choices=phases, help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    DATA = Path(args.data)
    if args._phase == "grow":
        print(json.dumps(phase_grow(args.design, Path(args.dir), args.passages, args.step, args.start)))
        return 0
    if args._phase == "open-cold":
        print(json.dumps(phase_open_cold(args.design, Path(args.dir), args.dense)))
        return 0
    if args._phase in ("search", "search-only"):
        catch_up = args._phase == "search"
        print(json.dumps(phase_search(args.design, Path(args.dir), args.queries, catch_up, args.dense)))
        return 0
    passages = 1_000_000 if args.full else args.passages
    if args.store != "local":
        return milvus_lite(args.store, passages, args.queries)
    designs = ["old", "new"] if args.design == "both" else [args.design]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="docqa-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    denses = ["numpy", "faiss"] if args.dense == "both" else [args.dense]
    results = []
    for design in designs:
        size = min(passages, args.old_max) if design == "old" else passages
        if size < passages:
            _log(f"[old] measured up to {size:,} passages (--old-max): each commit rewrites the whole index")
        per_design = denses if design == "new" else [""]
        results += measure(design, size, args.step, workdir, args.queries, per_design)
        shutil.rmtree(workdir / f"index-{design}", ignore_errors=True)
    if args.real_recall:
        for dense in denses:
            real = real_recall(args.real_recall, 200, workdir / "recall-cache", dense)
            for r in results:
                if r["dense"] == dense:
                    r["ann_recall_at_10_real"] = real["recall_at_10"]
            _log(f"[recall] real embeddings: {real}")
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
