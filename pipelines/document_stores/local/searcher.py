"""Searching segments: exact or FAISS dense search and BM25 over mmapped postings, with live catch-up.

A :class:`SegmentSearcher` holds an immutable :class:`SearchState` (the open segments, their tombstone
masks and the corpus statistics) and swaps in a new one when the catalog's generation moves on. Catching
up costs what the commit changed: new segments are mapped (a few ``np.load(mmap_mode="r")`` calls and one
``faiss.read_index`` with FAISS's mmap flags, no data read), new tombstones are applied, merged-away
segments are dropped. Nothing is rebuilt from Python lists.

Dense search, per segment: small segments (< ``IVF_MIN_ROWS``) are scanned exactly (one float32 product);
large ones are searched with their FAISS index (HNSW over 8-bit codes, ``segments.dense_index``), whose
shortlist of ``k * RERANK_FACTOR`` rows is re-scored exactly from ``vectors.npy``, so every score is an
exact cosine. Tombstoned rows are skipped inside the FAISS search (an ``IDSelectorBitmap`` of the live
rows, built once per generation): on a 100k segment with 10% dead, 0.14 ms a query against 0.18 ms for
over-fetching and filtering. A segment without a FAISS file (written before segments carried one) is
searched with the float32 scan of 25% of its IVF lists, as before, until a merge or ``docqa compact``
rewrites it. Measured per 100k-row segment (``benchmarks/dense_index.py``): HNSW 0.13 ms a query, recall@10
vs exact 0.99 on 20k real MiniLM vectors; the float32 scan 2.6 ms of CPU, recall 0.98.

BM25 (terms from ``analysis.py``: Lucene idf, k1/b length normalisation against the token-weighted average
length (:func:`weighted_average_length`), title tokens counted in, stem bigrams; keyword-stuffed passages,
``analysis.repetitive``, left to dense search and out of df) is computed over all segments' postings at
query time: df is the sum of the segments' dfs and the average length the corpus's, so a multi-segment
index scores exactly like one BM25 index over the same passages (the tests compare with
``tests/bm25_reference.py``). As in Lucene, tombstoned passages still count in df and length statistics
until compaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from docqa.pipelines.document_stores.analysis import repetitive
from docqa.pipelines.document_stores.local import catalog
from docqa.pipelines.document_stores.local.segments import Analyzer, SegmentData, hash_terms, open_segment

DEFAULT_PROBE_FRACTION = 0.25  # the float32 scan: share of IVF lists scanned per segment; recall@10 vs exact
# on 20k real MiniLM embeddings 0.98 (0.15: 0.957, 0.10: 0.936; benchmarks/scale.py --real-recall)
MIN_PROBES = 8
DENSE_SEARCH = "faiss"  # or "numpy": the float32 scan for every segment (benchmarks/scale.py --dense)
EF_SEARCH = 64  # HNSW candidate list: recall@10 0.99 on 20k real MiniLM vectors (48: 0.986, 32: 0.98)
RERANK_FACTOR = 2  # FAISS shortlists k * this many rows per segment, re-scored exactly from vectors.npy
# (IVF over 8-bit codes, same lists: re-scoring 1x gave recall 0.977, 2x 0.9805 = the float32 scan's, 4x too)
EXACT_FILTERED_ROWS = 20_000  # a filter allowing at most this many rows of a segment: exact scan of them
EXACT_FILTERED_SHARE = 0.1  # ... or under this share of the segment (benchmarks/filters.py)


@dataclass
class OpenSegment:
    name: str
    data: SegmentData
    dead: np.ndarray  # bool per row: tombstoned
    sorted_vids: np.ndarray
    sorted_rows: np.ndarray
    live: Any = None  # faiss.IDSelectorBitmap of the live rows when some are dead (its bitmap: live_bits)
    live_bits: np.ndarray | None = None

    @classmethod
    def of(cls, name: str, data: SegmentData) -> OpenSegment:
        vids = np.asarray(data.vids)
        if len(vids) < 2 or bool(np.all(vids[1:] > vids[:-1])):
            order = np.arange(len(vids))
        else:
            order = np.argsort(vids, kind="stable")
        return cls(name, data, np.zeros(len(vids), dtype=bool), vids[order], order)

    def rows_of(self, vids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which of ``vids`` are here, their rows)."""
        pos = np.searchsorted(self.sorted_vids, vids)
        pos_c = np.minimum(pos, max(len(self.sorted_vids) - 1, 0))
        found = (
            (pos < len(self.sorted_vids)) & (self.sorted_vids[pos_c] == vids)
            if len(self.sorted_vids)
            else np.zeros(len(vids), dtype=bool)
        )
        return found, self.sorted_rows[pos_c[found]]

    def with_dead(self, vids: np.ndarray) -> OpenSegment:
        found, rows = self.rows_of(vids)
        if not found.any():
            return self
        dead = self.dead.copy()
        dead[rows] = True
        live, bits = None, None
        if self.data.dense is not None:  # FAISS skips tombstoned rows while it scans (IDSelector)
            import faiss

            bits = np.packbits(~dead, bitorder="little")
            live = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # n: bytes
        return OpenSegment(self.name, self.data, dead, self.sorted_vids, self.sorted_rows, live, bits)


@dataclass
class SearchState:
    generation: int = 0
    segments: tuple[OpenSegment, ...] = ()
    rows: int = 0  # including tombstoned rows (BM25 statistics)
    tokens: float = 0.0
    token_squares: float = 0.0  # sum of squared lengths (robust average length)
    live: int = 0
    dim: int = 0
    tombstone_gen: int = 0
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, generation: int, segments: Sequence[OpenSegment], dim: int) -> SearchState:
        rows = sum(s.data.rows for s in segments)
        tokens = sum(s.data.token_total for s in segments)
        squares = sum(s.data.token_square_total for s in segments)
        live = rows - sum(int(s.dead.sum()) for s in segments)
        return cls(generation, tuple(segments), rows, tokens, squares, live, dim)

    @property
    def average_length(self) -> float:
        """BM25's average passage length, weighted by length: see :func:`weighted_average_length`."""
        return weighted_average_length(self.tokens, self.token_squares, self.rows)


AVERAGE_LENGTH = "weighted"  # or "mean": the plain mean of Lucene and Okapi BM25


def weighted_average_length(tokens: float, squares: float, rows: int) -> float:
    """BM25's average passage length, taken over the corpus's *tokens* rather than its passages:
    ``sum(len²) / sum(len)``, the length of the passage a random token sits in.

    Why not the plain mean (Lucene's, Okapi's): any flood of near-empty passages pulls it down, and BM25
    then divides every real passage's term counts as if it were many times too long. Measured: the three
    sample documents plus a 5 MB file of one 5-million-letter "word" (4,167 passages of one token each)
    took the plain mean from 205 to 6 analysed terms (the weighted one: 207 to 143); the passages that
    answer then scored a tenth of a 1 KB keyword-stuffed file's BM25 (2.7 against 27.3). On the dev
    articles with 4,000 such passages added (``benchmarks/retrieval_attacks.py --split dev``, 314
    questions) hybrid R@1 fell from 0.885 to 0.828 with the plain mean and stayed at 0.898 weighted; on the
    clean index the weighted average gave 0.892 against 0.885. When passages are about equally long the
    two agree (``mean + variance / mean``).
    """
    if rows <= 0 or tokens <= 0:
        return 1.0
    if AVERAGE_LENGTH == "mean":
        return tokens / rows
    return squares / tokens


def _top(scores: np.ndarray, vids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if k <= 0 or not len(scores):
        return scores[:0], vids[:0]
    if len(scores) > k:
        idx = np.argpartition(-scores, k - 1)[:k]
        return scores[idx], vids[idx]
    return scores, vids


def best(pairs: list[tuple[np.ndarray, np.ndarray]], k: int) -> list[tuple[int, float]]:
    """The ``k`` best (vid, score) over per-segment candidates; ties by vid (insertion order)."""
    if not pairs:
        return []
    scores = np.concatenate([p[0] for p in pairs])
    vids = np.concatenate([p[1] for p in pairs])
    order = np.lexsort((vids, -scores))[:k]
    return [(int(vids[i]), float(scores[i])) for i in order]


class SegmentSearcher:
    """BM25, dense and vector look-ups over a set of segments, swapped atomically on catch-up.

    :param directory: an index directory to follow (its catalog and ``segments/``), or None with
        ``segments`` for a fixed, in-memory set (an evaluation snapshot).
    """

    def __init__(
        self,
        directory: Path | None,
        *,
        segments: Sequence[SegmentData] = (),
        analyzer: Analyzer | None = None,
        k1: float = 1.2,
        b: float = 0.75,
        probe_fraction: float = DEFAULT_PROBE_FRACTION,
        dim: int = 0,
    ) -> None:
        self.directory = directory
        self.k1, self.b = float(k1), float(b)
        self.probe_fraction = probe_fraction  # the float32 scan's
        self.ef_search = EF_SEARCH
        self.dense_search = DENSE_SEARCH
        self.analyzer = analyzer or Analyzer()
        self._tokenizer = self.analyzer.tokenizer()
        self._lock = threading.Lock()
        self._con = None
        self.state = SearchState.of(0, [OpenSegment.of(f"mem-{i}", s) for i, s in enumerate(segments)], dim)

    # ----- following the catalog -----
    @property
    def catalog_path(self) -> Path | None:
        return self.directory / catalog.CATALOG if self.directory is not None else None

    def _connection(self):
        if self._con is None:
            self._con = catalog.connect(self.catalog_path)
        return self._con

    def read(self, fn: Callable) -> object:
        """Run ``fn(connection)`` in one read transaction on the catalog (serialised per searcher)."""
        with self._lock:
            con = self._connection()
            con.execute("BEGIN")
            try:
                return fn(con)
            finally:
                con.execute("COMMIT")

    def sync(self) -> SearchState:
        """The state of the catalog's live generation; catches up first if another process committed."""
        if self.directory is None or not self.catalog_path.exists():
            return self.state
        for attempt in range(3):
            try:
                return self._sync_once()
            except OSError:  # a segment listed a moment ago was merged away and deleted: read again
                if attempt == 2:
                    raise
        return self.state

    def _sync_once(self) -> SearchState:
        state = self.state

        def read(con):
            gen = catalog.generation(con)
            if gen == state.generation:
                return gen, None, None, None
            segs = [tuple(r) for r in con.execute("SELECT name, gen FROM segments ORDER BY gen, name")]
            tomb = np.fromiter(
                (
                    r[0]
                    for r in con.execute("SELECT vid FROM tombstones WHERE gen > ?", (state.tombstone_gen,))
                ),
                dtype=np.int64,
            )
            meta = catalog.read_meta(con)
            return gen, segs, tomb, meta

        gen, segs, tomb, meta = self.read(read)
        if segs is None:
            return state
        known = {s.name: s for s in state.segments}
        opened = []
        for name, _ in segs:
            # A new segment never has older tombstones: its rows are new, or a merge left its dead ones out.
            seg = known.get(name)
            if seg is None:
                seg = OpenSegment.of(name, open_segment(self.directory / catalog.SEGMENTS / name))
            opened.append(seg)
        tomb = np.sort(tomb)
        if len(tomb):
            opened = [s.with_dead(tomb) for s in opened]
        new = SearchState.of(gen, opened, int(meta.get("dim") or 0))
        new.tombstone_gen = gen
        with self._lock:
            if self.state.generation < gen:
                self.state = new
            return self.state

    def documents(self, vids: Iterable[int]):
        vids = list(vids)
        if not vids:
            return {}
        return self.read(lambda con: catalog.documents_by_vid(con, vids))

    # ----- dense -----
    def dense(
        self, state: SearchState, query: np.ndarray, k: int, allow: Mapping[str, np.ndarray] | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest live rows by inner product (cosine for unit vectors): (vid, score).

        Per segment: small ones (no IVF) are scanned exactly; IVF ones are searched with their FAISS index
        (:meth:`_faiss`), or with the float32 list scan (:meth:`_scan`) when the segment has no FAISS file
        (written before segments carried one) or ``dense_search`` is ``"numpy"``. Scores are exact.

        :param allow: a filter's rows per segment (``filtering.RowFilter``): only those are ranked, so the
            result is the top ``k`` among them. Few allowed rows (:data:`EXACT_FILTERED_ROWS`, or under
            :data:`EXACT_FILTERED_SHARE` of a segment) are scanned exactly in float32; more on the 8-bit
            codes (:meth:`_filtered_codes`, which says why not HNSW with an ID selector).
        """
        query = np.ascontiguousarray(query, dtype=np.float32)
        use_faiss = self.dense_search == "faiss"
        pairs = []
        for seg in state.segments:
            data = seg.data
            if allow is not None:
                mask = allow.get(seg.name)
                if mask is None or not mask.any():
                    continue
                mask = mask & ~seg.dead
                count = int(mask.sum())
                if data.centroids is None or count <= max(
                    EXACT_FILTERED_ROWS, EXACT_FILTERED_SHARE * data.rows
                ):
                    rows = np.flatnonzero(mask)
                    sims = np.einsum("ij,j->i", np.asarray(data.vectors[rows]), query)
                    top_sims, top_rows = _top(sims, rows, k)
                    pairs.append((top_sims, np.asarray(data.vids)[top_rows]))
                elif use_faiss and data.dense is not None:
                    pairs.append(self._filtered_codes(seg, query, k, mask))
                else:  # the float32 list scan misses allowed rows far from the query's lists: exact
                    rows = np.flatnonzero(mask)
                    sims = np.asarray(data.vectors[rows]) @ query
                    top_sims, top_rows = _top(sims, rows, k)
                    pairs.append((top_sims, np.asarray(data.vids)[top_rows]))
                continue
            if data.centroids is None:
                sims = np.asarray(data.vectors) @ query
                if seg.dead.any():
                    sims[seg.dead] = -np.inf
                pairs.append(_top(sims, np.asarray(data.vids), k))
            elif use_faiss and data.dense is not None:
                pairs.append(self._faiss(seg, query, k))
            else:
                pairs.append(self._scan(seg, query, k))
        hits = best(pairs, k)
        return [(v, s) for v, s in hits if s > -np.inf]

    @staticmethod
    def _nprobe(nlist: int, fraction: float) -> int:
        return min(nlist, max(MIN_PROBES, int(np.ceil(nlist * fraction))))

    def _faiss(self, seg: OpenSegment, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The segment's FAISS index shortlists ``k * RERANK_FACTOR`` live rows (tombstoned ones are skipped
        inside the search, by ``seg.live``); they are re-scored exactly from the float32 vectors.

        One query's HNSW search runs in the calling thread (FAISS opens no OpenMP region for a single
        query: p50 at 100k rows 0.133 ms with 1 thread, 0.134 ms with 2), so concurrent queries scale with
        the server's threads and no thread pool is woken per query.
        """
        import faiss

        data = seg.data
        shortlist = max(k, k * RERANK_FACTOR)
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, shortlist))
        if seg.live is not None:
            params.sel = seg.live
        _, found = data.dense.search(query[None], shortlist, params=params)
        rows = np.sort(found[0][found[0] >= 0])  # in file order: the re-rank reads rows front to back
        sims = np.einsum("ij,j->i", data.vectors[rows], query)  # one thread: BLAS would wake its pool
        top_sims, top_rows = _top(sims, rows, k)
        return top_sims, np.asarray(data.vids)[top_rows]

    def _filtered_codes(self, seg: OpenSegment, query: np.ndarray, k: int, mask: np.ndarray) -> tuple:
        """Filtered search over a large segment: every allowed row is scored on the 8-bit codes of the
        segment's FAISS index (its flat storage with an ID selector: only selected rows are computed) and
        the ``k * RERANK_FACTOR`` best are re-scored exactly from the float32 vectors.

        Why every allowed row: when a filter rejects the query's neighbourhood (filters follow topics: a
        folder, a file type) the nearest allowed rows can be anywhere. On 100k clustered passages with a
        50% filter (``benchmarks/filters.py``), recall@10 vs exact: HNSW through an ID selector 0.58 (ef
        64) to 0.92 (ef 2048, 6.3 ms); IVF lists nearest first until they hold 35% / 60% / 80% of the
        allowed rows 0.78 / 0.90 / 0.98; all allowed rows on the codes 1.0, 2.7 ms on one thread.
        """
        import faiss

        data = seg.data
        bits = np.packbits(mask, bitorder="little")
        params = faiss.SearchParameters()
        params.sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        storage = faiss.downcast_index(faiss.downcast_index(data.dense).storage)
        shortlist = max(k, k * RERANK_FACTOR)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # this thread's setting (an OpenMP ICV): a flat scan of one query
        try:  # with 2 threads took 11 ms against 2.7 ms with 1 (the region's start-up, on 2 busy cores)
            _, found = storage.search(query[None], shortlist, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        rows = np.sort(found[0][found[0] >= 0])
        sims = np.einsum("ij,j->i", data.vectors[rows], query)
        top_sims, top_rows = _top(sims, rows, k)
        return top_sims, np.asarray(data.vids)[top_rows]

    def _scan(self, seg: OpenSegment, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The float32 scan of the probed IVF lists (row ranges of ``vectors.npy``)."""
        data = seg.data
        nprobe = self._nprobe(len(data.centroids), self.probe_fraction)
        probes = np.argpartition(-(data.centroids @ query), nprobe - 1)[:nprobe]
        ptr, vectors, vids = data.list_ptr, data.vectors, data.vids
        spans = [(int(ptr[lst]), int(ptr[lst + 1])) for lst in probes]
        sims = np.concatenate([vectors[lo:hi] @ query for lo, hi in spans if hi > lo])
        rows = np.concatenate([np.arange(lo, hi) for lo, hi in spans if hi > lo])
        if seg.dead.any():
            sims[seg.dead[rows]] = -np.inf
        top_sims, top_rows = _top(sims, rows, k)
        return top_sims, np.asarray(vids)[top_rows]

    def vectors_of(self, state: SearchState, vids: Sequence[int]) -> dict[int, np.ndarray]:
        wanted = np.asarray(sorted(set(int(v) for v in vids)), dtype=np.int64)
        out: dict[int, np.ndarray] = {}
        for seg in state.segments:
            found, rows = seg.rows_of(wanted)
            for vid, row in zip(wanted[found], rows, strict=True):
                out[int(vid)] = np.asarray(seg.data.vectors[row])
        return out

    # ----- BM25 -----
    def bm25(
        self,
        state: SearchState,
        query: str,
        k: int,
        also: Iterable[int] = (),
        allow: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[list[tuple[int, float]], dict[int, float]]:
        """The ``k`` best (vid, BM25 score) with score > 0, and the scores of the ``also`` vids.

        :param allow: a filter's rows per segment: the others score 0 (so are never returned); corpus
            statistics (df, average length) stay the whole index's, so a passage scores as it does
            unfiltered."""
        terms = sorted(set(self._tokenizer(query)))
        also = np.asarray(sorted(set(int(v) for v in also)), dtype=np.int64)
        if not terms or not state.rows:
            return [], {}
        hashes = hash_terms(terms)
        located = []
        df = np.zeros(len(hashes), dtype=np.float64)
        for seg in state.segments:
            data = seg.data
            t = data.terms
            pos = np.searchsorted(t, hashes)
            pos_c = np.minimum(pos, len(t) - 1) if len(t) else pos
            hit = (pos < len(t)) & (t[pos_c] == hashes) if len(t) else np.zeros(len(hashes), dtype=bool)
            ptr = data.term_ptr
            spans = []
            for j, p in enumerate(pos_c):
                if not hit[j]:
                    continue
                lo, hi = int(ptr[p]), int(ptr[p + 1])
                rows = np.asarray(data.post_rows[lo:hi])
                # keyword stuffing (analysis.repetitive) is left to dense search: not scored, and not
                # counted in df either, as in tests/bm25_reference.py and the Milvus store
                kept = ~repetitive(np.asarray(data.lengths[rows]), np.asarray(data.distinct_terms()[rows]))
                df[j] += int(kept.sum())
                spans.append((j, lo, hi, rows, kept))
            located.append(spans)
        n = float(state.rows)
        avgdl = state.average_length
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        k1, b = self.k1, self.b
        pairs, extra = [], {}
        for seg, spans in zip(state.segments, located, strict=True):
            if not spans:
                continue
            data = seg.data
            scores = np.zeros(data.rows, dtype=np.float32)
            lengths = data.lengths
            for j, lo, hi, rows, kept in spans:
                tf = np.asarray(data.post_tf[lo:hi], dtype=np.float32)
                if not kept.all():
                    rows, tf = rows[kept], tf[kept]
                norm = k1 * (1.0 - b + b * np.asarray(lengths[rows]) / avgdl)
                scores[rows] += (idf[j] * tf * (k1 + 1.0) / (tf + norm)).astype(np.float32)
            if seg.dead.any():
                scores[seg.dead] = 0.0
            mask = None if allow is None else allow.get(seg.name)
            if allow is not None and mask is None:
                continue
            if len(also):  # the dense candidates: already filtered
                found, rows = seg.rows_of(also)
                extra.update(zip(also[found].tolist(), scores[rows].astype(float).tolist(), strict=True))
            nz = np.flatnonzero(scores > 0)
            if mask is not None:  # masking the scored rows only: a fraction of the segment
                nz = nz[mask[nz]]
            pairs.append(_top(scores[nz], np.asarray(data.vids)[nz], k))
        return best(pairs, k), extra
