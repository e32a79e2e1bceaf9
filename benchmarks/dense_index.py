"""Which FAISS index a segment's dense search uses: recall on real vectors, time on a 100k-row segment.

The store's large segments (``segments.py``) are searched one after another per query, and the answer
must stay exact-quality: recall@10 vs exact search >= 0.98 on real MiniLM embeddings. This measures the
candidates on the same data, in one run:

* ``scan``: the float32 scan of the probed IVF lists (numpy; what ``SegmentSearcher._scan`` does);
* ``ivf-sq8`` / ``ivf-pq48``: FAISS IVF over the same k-means lists (and 4x as many) with 8-bit
  scalar-quantised residuals (384 B a row) or 48-byte product codes;
* ``hnsw16`` / ``hnsw32``: FAISS HNSW (M=16 / 32) over 8-bit codes: ``segments.dense_index``.

Every FAISS candidate's shortlist (k x rerank) is re-scored exactly from the float32 rows, as the searcher
does. Recall: the 20k real MiniLM paragraph vectors and 200 question vectors that ``benchmarks/scale.py
--real-recall`` caches (run it first, or pass ``--cache``). Time: one segment of scale.py's stand-in
vectors, each index written to disk and opened with FAISS's mmap flags, wall and CPU milliseconds, FAISS
with 1 thread vs every core, and with 10% of rows tombstoned: FAISS's ``IDSelectorBitmap`` vs over-fetching
and filtering. Run by hand; not a test::

    python benchmarks/dense_index.py [--cache DIR] [--rows 100000] [--data ../shared/data] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
K = 10
SETTINGS = {  # kind: (probe fractions, or efSearch for HNSW; re-rank factors)
    "scan": ((0.1, 0.15, 0.25), (1,)),
    "ivf-sq8": ((0.1, 0.15, 0.25), (1, 2)),
    "ivf-pq48": ((0.15, 0.25), (4, 10)),
    "hnsw16": ((48, 64, 96), (2,)),
    "hnsw32": ((32, 48, 64, 96), (2,)),
}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rss_anon_mb() -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("RssAnon:")) / 1024


def ivf(vectors: np.ndarray, nlist: int) -> tuple[np.ndarray, np.ndarray]:
    """Centroids and each row's list, as ``segments.with_ivf`` makes them."""
    import faiss

    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(len(vectors), size=min(len(vectors), nlist * 30), replace=False)]
    kmeans = faiss.Kmeans(
        vectors.shape[1], nlist, niter=10, spherical=True, seed=1, max_points_per_centroid=30
    )
    kmeans.train(sample)
    _, assign = kmeans.index.search(vectors, 1)
    return np.ascontiguousarray(kmeans.centroids), assign.ravel()


def build(kind: str, vectors: np.ndarray, centroids: np.ndarray, assign: np.ndarray):
    import faiss

    from docqa.pipelines.document_stores.local import segments

    rows, dim = vectors.shape
    if kind.startswith("hnsw"):
        default, segments.HNSW_M = segments.HNSW_M, int(kind[4:])
        try:
            return segments.dense_index(vectors)
        finally:
            segments.HNSW_M = default
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(centroids)
    if kind == "ivf-sq8":
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, len(centroids), faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        index = faiss.IndexIVFPQ(quantizer, dim, len(centroids), 48, 8, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[:50_000])
    ids = np.arange(rows, dtype=np.int64)
    assign = np.ascontiguousarray(assign, dtype=np.int64)
    index.add_core(rows, faiss.swig_ptr(vectors), faiss.swig_ptr(ids), faiss.swig_ptr(assign))
    return index


def open_mapped(kind: str, path: Path):
    """An index written to ``path``, opened as the store would: the HNSW one with the store's own
    function; IVF ones with ``IO_FLAG_MMAP`` (their lists become read-only ``OnDiskInvertedLists``,
    whose default of 32 pre-reading threads per search costs more than the search: turned off)."""
    import faiss

    from docqa.pipelines.document_stores.local.segments import open_dense_index

    if kind.startswith("hnsw"):
        return open_dense_index(path)
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    faiss.downcast_InvertedLists(index.invlists).prefetch_nthread = 0
    return index


class Candidate:
    """One way to search one segment: ``search(query)`` -> the ``K`` best rows."""

    def __init__(self, kind: str, vectors: np.ndarray, centroids: np.ndarray, assign: np.ndarray,
                 index=None) -> None:
        self.kind, self.vectors, self.centroids, self.index = kind, vectors, centroids, index
        self.order = np.argsort(assign, kind="stable")
        self.sorted_vectors = np.ascontiguousarray(vectors[self.order])
        self.ptr = np.searchsorted(assign[self.order], np.arange(len(centroids) + 1))
        self.probe, self.rerank = 0.25, 2
        self.dead: np.ndarray | None = None
        self.selector = None

    def search(self, query: np.ndarray, k: int = K) -> np.ndarray:
        import faiss

        if self.kind == "scan":
            nprobe = max(8, int(np.ceil(len(self.centroids) * self.probe)))
            probes = np.argpartition(-(self.centroids @ query), nprobe - 1)[:nprobe]
            spans = [(self.ptr[p], self.ptr[p + 1]) for p in probes]
            sims = np.concatenate([self.sorted_vectors[lo:hi] @ query for lo, hi in spans])
            rows = np.concatenate([np.arange(lo, hi) for lo, hi in spans])
            if self.dead is not None:
                sims[self.dead[self.order[rows]]] = -np.inf
            top = np.argpartition(-sims, k)[:k]
            return self.order[rows[top[np.argsort(-sims[top])]]]
        fetch = k * self.rerank
        if self.kind.startswith("hnsw"):
            params = faiss.SearchParametersHNSW(efSearch=max(fetch, int(self.probe)))
        else:
            params = faiss.SearchParametersIVF(nprobe=max(8, int(np.ceil(len(self.centroids) * self.probe))))
        overfetch = self.dead is not None and self.selector is None
        if overfetch:  # ask for more, drop the dead ones after
            fetch = int(fetch / max(1e-9, 1 - self.dead.mean())) + k
        elif self.selector is not None:
            params.sel = self.selector
        _, found = self.index.search(query[None], fetch, params=params)
        rows = found[0][found[0] >= 0]
        if overfetch:
            rows = rows[~self.dead[rows]]
        if self.rerank == 1:
            return rows[:k]
        rows = np.sort(rows)
        sims = np.einsum("ij,j->i", self.vectors[rows], query)
        return rows[np.argsort(-sims)[:k]]


def recall(candidate: Candidate, queries: np.ndarray, exact: list[set[int]]) -> float:
    got = [set(candidate.search(q).tolist()) for q in queries]
    return float(np.mean([len(a & b) / K for a, b in zip(got, exact, strict=True)]))


def p50_ms(candidate: Candidate, queries: np.ndarray) -> tuple[float, float]:
    """Median wall and CPU (this process, all threads) milliseconds per query: on a shared machine the
    wall clock also counts the time others ran; the CPU time is the work itself."""
    wall, cpu = [], []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        candidate.search(q)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def candidates(vectors: np.ndarray, workdir: Path | None, lists: tuple[int, ...]):
    """(kind, IVF lists, build seconds, private MB after opening, Candidate) for every kind and list count
    (HNSW and the scan once; FAISS IVF for each count in ``lists``)."""
    import faiss

    from docqa.pipelines.document_stores.local.segments import ivf_lists

    base = ivf_lists(len(vectors))
    for scale_lists in lists:
        centroids, assign = ivf(vectors, base * scale_lists)
        for kind in SETTINGS:
            if scale_lists != lists[0] and not kind.startswith("ivf"):
                continue
            index, build_s, private_mb = None, 0.0, 0.0
            if kind != "scan":
                t0 = time.perf_counter()
                index = build(kind, vectors, centroids, assign)
                build_s = time.perf_counter() - t0
                if workdir is not None:
                    path = workdir / f"{kind}.faiss"
                    faiss.write_index(index, str(path))
                    del index
                    before = rss_anon_mb()
                    index = open_mapped(kind, path)
                    private_mb = rss_anon_mb() - before
            nlist = None if kind.startswith("hnsw") else len(centroids)
            yield kind, nlist, build_s, private_mb, Candidate(kind, vectors, centroids, assign, index)


def sweep_recall(cache: Path) -> list[dict]:
    vectors = np.load(cache / "real-20000.npy")
    queries = np.load(cache / "real-q-200.npy")
    exact = [set(np.argsort(-(vectors @ q))[:K].tolist()) for q in queries]
    out = []
    for kind, nlist, _, _, candidate in candidates(vectors, None, (1, 4)):
        probes, reranks = SETTINGS[kind]
        for probe in probes:
            for rerank in reranks:
                candidate.probe, candidate.rerank = probe, rerank
                row = {"kind": kind, "nlist": nlist, "probe": probe, "rerank": rerank,
                       "recall_real": recall(candidate, queries, exact)}
                _log(f"[recall] {row}")
                out.append(row)
    return out


def sweep_time(rows: int, workdir: Path) -> list[dict]:
    import faiss
    import scale

    vectors = scale.Corpus().vectors(0, rows)
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((200, vectors.shape[1])).astype(np.float32) * 0.03
    queries = vectors[rng.integers(0, rows, 200)] + noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = [set(np.argsort(-(vectors @ q))[:K].tolist()) for q in queries[:50]]
    dead = np.zeros(rows, dtype=bool)
    dead[rng.choice(rows, rows // 10, replace=False)] = True
    bits = np.packbits(~dead, bitorder="little")
    cores = os.cpu_count() or 1
    out = []
    for kind, nlist, build_s, private_mb, candidate in candidates(vectors, workdir, (1, 4)):
        probes, reranks = SETTINGS[kind]
        for probe in probes:
            for rerank in reranks:
                candidate.probe, candidate.rerank = probe, rerank
                row = {"kind": kind, "nlist": nlist, "probe": probe, "rerank": rerank, "build_s": build_s,
                       "private_mb_after_open": private_mb,
                       "recall_stand_in": recall(candidate, queries[:50], exact)}
                for threads in (1, cores):
                    faiss.omp_set_num_threads(threads)
                    row[f"p50_ms_{threads}_thr"], row[f"cpu_ms_{threads}_thr"] = p50_ms(candidate, queries)
                candidate.dead = dead
                row["p50_ms_dead_overfetch"], row["cpu_ms_dead_overfetch"] = p50_ms(candidate, queries)
                if kind != "scan":
                    candidate.selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
                    row["p50_ms_dead_selector"], row["cpu_ms_dead_selector"] = p50_ms(candidate, queries)
                candidate.dead, candidate.selector = None, None
                _log(f"[time] {row}")
                out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=None, help="scale.py's recall cache (real-20000.npy, real-q-200.npy)")
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the timed stand-in segment (0: skip)")
    ap.add_argument("--data", default=None, help="SQuAD files for the stand-in corpus (default: scale.py's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.data:
        import scale

        scale.DATA = Path(args.data)
    result: dict = {}
    if args.cache:
        result["recall"] = sweep_recall(Path(args.cache))
    if args.rows:
        with tempfile.TemporaryDirectory(prefix="docqa-dense-") as tmp:
            result["time"] = sweep_time(args.rows, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name, rows in result.items():
        keys = list(dict.fromkeys(k for row in rows for k in row))
        print(f"\n{name}\n| " + " | ".join(keys) + " |\n" + "|---" * len(keys) + "|")
        for row in rows:
            cells = [f"{row[k]:.3f}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys]
            print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
