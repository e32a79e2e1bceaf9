"""Immutable index segments: a batch of passages' vectors and BM25 postings in ``.npy`` files, and for
large segments a FAISS index of the vectors.

A segment is written once (by one commit, or by a merge of older segments), every file fsynced, the folder
renamed into place, and only then named by the catalog (``index.sqlite``): a writer killed before the
catalog commit leaves an unreferenced folder that the next writer sweeps. Readers open every array with
``mmap`` and the FAISS index with FAISS's own zero-copy mapping, so opening a segment costs a few system
calls whatever its size, and memory is the page cache, shared by processes.

Dense search (``searcher.py``): segments under ``IVF_MIN_ROWS`` rows are scanned exactly; larger ones carry
``dense.faiss``, an HNSW graph over 8-bit codes (:func:`dense_index`), built when the segment is (a merge
rebuilds it from the merged rows). They also keep the IVF layout (rows grouped by k-means list,
``centroids.npy``, ``list_ptr.npy``) that the float32 scan reads: for segments written before segments
carried a FAISS file, for ``benchmarks/scale.py --dense numpy``, and for an older DocQA opening the index.

Files of ``segments/<name>/``::

    vids.npy          int64 (n,)   passage row ids (the catalog's ``passages.vid``), in row order
    vectors.npy       float32 (n, dim), L2-normalised; rows grouped by IVF list when ``centroids.npy`` exists
    centroids.npy     float32 (nlist, dim)  IVF coarse centroids (only in segments of >= IVF_MIN_ROWS rows)
    list_ptr.npy      int64 (nlist+1,)       row range of each IVF list
    dense.faiss       the FAISS index (HNSW over 8-bit codes, ids = rows; :func:`dense_index`), in IVF
                      segments; mapped by FAISS itself (:func:`open_dense_index`)
    terms.npy         uint64 (t,)  sorted 64-bit hashes of the analysed terms (stems and stem bigrams)
    term_ptr.npy      int64 (t+1,) posting range of each term
    post_rows.npy     int32 (p,)   row of each posting
    post_tf.npy       uint16 (p,)  term frequency of each posting
    lengths.npy       float32 (n,) analysed length of each row (BM25 length normalisation)
    distinct.npy      int32 (n,)   distinct terms of each row (BM25's keyword-stuffing rule); segments
                      written before it existed count them from ``post_rows`` when first searched

Why hashed terms: a vocabulary of millions of bigrams as Python strings would cost gigabytes and seconds to
load; sorted hashes are searched with ``np.searchsorted`` straight from the mapped file (64 bits: a
collision among 10^8 terms has probability ~3e-4, and would only merge two terms' postings).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from docqa.atomic import fsync_dir
from docqa.pipelines.document_stores.analysis import ENGLISH_STOPWORDS, Tokenizer

HNSW_M = 32  # graph degree (M=16: recall@10 0.98 at efSearch 64 on real MiniLM vectors, M=32: 0.99)
HNSW_EF_CONSTRUCTION = 40
SQ_TRAIN_ROWS = 50_000  # rows sampled to fit the 8-bit quantiser's per-dimension ranges
IVF_MIN_ROWS = 20_000  # below this a segment is scanned exactly (a 20k x 384 product is ~1 ms)
_ARRAYS = ("vids", "vectors", "terms", "term_ptr", "post_rows", "post_tf", "lengths")
DENSE_FILE = "dense.faiss"  # the segment's FAISS index (dense_index)


@dataclass(frozen=True)
class Analyzer:
    """How passages become BM25 terms (fixed per index: the postings are built with it)."""

    language: str | None = "english"
    remove_stopwords: bool = True
    title_field: str | None = "title"
    title_weight: int = 1
    bigrams: bool = True

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_parameters(cls, parameters: dict | None) -> Analyzer:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (parameters or {}).items() if k in fields})

    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.language, ENGLISH_STOPWORDS if self.remove_stopwords else None, self.bigrams)

    def counts(self, tokenizer: Tokenizer, content: str, meta: dict | None) -> list[str]:
        """The terms of one passage, repeated as often as they count: its content plus ``title_weight``
        times its title (as the reference BM25 in ``tests/bm25_reference.py``)."""
        tokens = tokenizer(content or "")
        if self.title_field and self.title_weight > 0:
            title = (meta or {}).get(self.title_field)
            if title:
                tokens = tokens + tokenizer(str(title)) * self.title_weight
        return tokens


def term_hash(term: str) -> int:
    """A stable 64-bit hash of an analysed term (Python's ``hash`` is salted per process)."""
    return int(hash_terms([term])[0])


def hash_terms(terms: Sequence[str]) -> np.ndarray:
    blake = hashlib.blake2b
    raw = b"".join(blake(t.encode("utf-8"), digest_size=8).digest() for t in terms)
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


@dataclass
class SegmentData:
    """A segment's arrays (in memory while being built, mmapped once opened)."""

    vids: np.ndarray
    vectors: np.ndarray
    terms: np.ndarray
    term_ptr: np.ndarray
    post_rows: np.ndarray
    post_tf: np.ndarray
    lengths: np.ndarray
    centroids: np.ndarray | None = None
    list_ptr: np.ndarray | None = None
    dense: Any = None  # faiss.IndexHNSWSQ (ids = rows), or None: no FAISS file (the float32 scan)
    distinct: np.ndarray | None = None  # distinct terms per row (None: count them on first use)

    @property
    def rows(self) -> int:
        return len(self.vids)

    @property
    def token_total(self) -> float:
        return float(np.asarray(self.lengths, dtype=np.float64).sum())

    def distinct_terms(self) -> np.ndarray:
        """Distinct terms per row: ``distinct.npy``, or (a segment being built, or written before that file
        existed) counted once from the postings, one ``bincount`` over them."""
        if self.distinct is None:
            self.distinct = np.bincount(np.asarray(self.post_rows), minlength=self.rows).astype(np.int32)
        return self.distinct

    @property
    def token_square_total(self) -> float:
        """Sum of squared lengths: with :attr:`token_total`, the token-weighted average length (BM25)."""
        lengths = np.asarray(self.lengths, dtype=np.float64)
        return float(lengths @ lengths)


def _postings(rows: np.ndarray, hashes: np.ndarray, tfs: np.ndarray) -> tuple[np.ndarray, ...]:
    """(terms, term_ptr, post_rows, post_tf) from unsorted (row, term hash, tf) triples."""
    order = np.lexsort((rows, hashes))
    hashes, rows, tfs = hashes[order], rows[order], tfs[order]
    if len(hashes):
        starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    else:
        starts = np.zeros(0, dtype=np.int64)
    terms = hashes[starts]
    term_ptr = np.append(starts, len(hashes)).astype(np.int64)
    return terms, term_ptr, rows.astype(np.int32), np.minimum(tfs, 65535).astype(np.uint16)


def build_segment(
    vids: np.ndarray, vectors: np.ndarray, counts: Sequence[Sequence[str]], *, ivf: bool = True
) -> SegmentData:
    """A segment from passages' vectors and analysed terms (row i: ``vids[i]``, terms ``counts[i]``)."""
    vocab: dict[str, int] = {}
    setdefault = vocab.setdefault
    lens = np.fromiter((len(c) for c in counts), dtype=np.int64, count=len(counts))
    ids = np.fromiter(
        (setdefault(t, len(vocab)) for c in counts for t in c), dtype=np.int64, count=int(lens.sum())
    )
    rows_all = np.repeat(np.arange(len(counts), dtype=np.int64), lens)
    keys, tfs = np.unique(rows_all * max(len(vocab), 1) + ids, return_counts=True)
    rows = keys // max(len(vocab), 1)
    hashes = hash_terms(list(vocab))[keys % max(len(vocab), 1)]
    terms, term_ptr, post_rows, post_tf = _postings(rows.astype(np.int32), hashes, tfs.astype(np.int64))
    lengths = lens.astype(np.float32)
    data = SegmentData(
        vids=np.asarray(vids, dtype=np.int64),
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        terms=terms,
        term_ptr=term_ptr,
        post_rows=post_rows,
        post_tf=post_tf,
        lengths=lengths,
    )
    return with_ivf(data) if ivf and data.rows >= IVF_MIN_ROWS else data


def merge_segments(parts: Sequence[tuple[SegmentData, np.ndarray | None]]) -> SegmentData:
    """One segment with the live rows of ``parts`` ((segment, dead-row mask or None) each), in vid order."""
    vids, vectors, lengths, p_rows, p_hash, p_tf = [], [], [], [], [], []
    offset = 0
    for seg, dead in parts:
        keep = np.ones(seg.rows, dtype=bool) if dead is None else ~dead
        new_row = np.cumsum(keep) - 1 + offset
        vids.append(np.asarray(seg.vids)[keep])
        vectors.append(np.asarray(seg.vectors)[keep])
        lengths.append(np.asarray(seg.lengths)[keep])
        rows = np.asarray(seg.post_rows)
        per_term = np.diff(np.asarray(seg.term_ptr))
        hashes = np.repeat(np.asarray(seg.terms), per_term)
        live = keep[rows]
        p_rows.append(new_row[rows[live]].astype(np.int32))
        p_hash.append(hashes[live])
        p_tf.append(np.asarray(seg.post_tf)[live])
        offset += int(keep.sum())
    all_vids = np.concatenate(vids)
    order = np.argsort(all_vids, kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    terms, term_ptr, post_rows, post_tf = _postings(
        inverse[np.concatenate(p_rows)].astype(np.int32), np.concatenate(p_hash), np.concatenate(p_tf)
    )
    data = SegmentData(
        vids=all_vids[order],
        vectors=np.concatenate(vectors)[order],
        terms=terms,
        term_ptr=term_ptr,
        post_rows=post_rows,
        post_tf=post_tf,
        lengths=np.concatenate(lengths)[order],
    )
    return with_ivf(data) if data.rows >= IVF_MIN_ROWS else data


def ivf_lists(rows: int) -> int:
    return int(np.clip(round(np.sqrt(rows)), 16, 4096))


def with_ivf(data: SegmentData) -> SegmentData:
    """Reorder ``data``'s rows by IVF list (k-means centroids from FAISS), so a list is a row range (the
    float32 scan's layout, which older DocQA versions read), and build the segment's FAISS index
    (:func:`dense_index`)."""
    import faiss

    nlist = ivf_lists(data.rows)
    vectors = np.ascontiguousarray(data.vectors, dtype=np.float32)
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(data.rows, size=min(data.rows, nlist * 30), replace=False)]
    kmeans = faiss.Kmeans(
        vectors.shape[1], nlist, niter=10, spherical=True, seed=1, max_points_per_centroid=30
    )
    kmeans.train(sample)
    _, assign = kmeans.index.search(vectors, 1)
    assign = assign.ravel()
    order = np.argsort(assign, kind="stable")
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    list_ptr = np.searchsorted(assign[order], np.arange(nlist + 1)).astype(np.int64)
    centroids = np.ascontiguousarray(kmeans.centroids, dtype=np.float32)
    vectors = np.ascontiguousarray(vectors[order])
    return SegmentData(
        vids=data.vids[order],
        vectors=vectors,
        terms=data.terms,
        term_ptr=data.term_ptr,
        post_rows=inverse[data.post_rows].astype(np.int32),
        post_tf=data.post_tf,
        lengths=np.asarray(data.lengths)[order],
        distinct=data.distinct_terms()[order],
        centroids=centroids,
        list_ptr=list_ptr,
        dense=dense_index(vectors),
    )


def dense_index(vectors: np.ndarray) -> Any:
    """The segment's FAISS index: an HNSW graph (M=32) over 8-bit scalar-quantised rows; ids = rows.

    Chosen by ``benchmarks/dense_index.py`` over IVF-SQ8 and IVF-PQ48 on the same k-means lists: per
    100k-row segment 0.13 ms a query at recall@10 0.99 on 20k real MiniLM vectors (efSearch 64), where
    IVF-SQ8 needed 1.0 ms for 0.98 (0.8 ms with 4x the lists), IVF-PQ48 1.1 ms for 0.97 and the float32
    scan 2.6 ms for 0.98. Its cost is building: 19.5 s per 100k rows on two shared cores (k-means: 0.9 s),
    paid by the merge that makes the segment (small segments, scanned exactly, have none). The 8-bit codes
    only pick the shortlist: the searcher re-scores it from ``vectors.npy``, so the scores stay exact.
    """
    import faiss

    rows, dim = vectors.shape
    index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    rng = np.random.default_rng(2)
    index.train(vectors[np.sort(rng.choice(rows, size=min(rows, SQ_TRAIN_ROWS), replace=False))])
    index.add(vectors)  # ids: insertion order = rows
    return index


def write_segment(directory: Path, name: str, data: SegmentData) -> int:
    """Write ``data`` as ``directory/name`` (via ``.tmp``, fsynced, renamed). Returns bytes written."""
    final = directory / name
    tmp = directory / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    written = 0
    arrays = {k: getattr(data, k) for k in _ARRAYS}
    arrays["distinct"] = data.distinct_terms()
    if data.centroids is not None:
        arrays["centroids"], arrays["list_ptr"] = data.centroids, data.list_ptr
    for key, array in arrays.items():
        path = tmp / f"{key}.npy"
        with open(path, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
            handle.flush()
            os.fsync(handle.fileno())
            written += handle.tell()
    if data.dense is not None:
        import faiss

        path = tmp / DENSE_FILE
        faiss.write_index(data.dense, str(path))
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        written += path.stat().st_size
    fsync_dir(tmp)
    os.rename(tmp, final)
    fsync_dir(directory)
    return written


def open_segment(path: Path, *, dense: bool = True) -> SegmentData:
    """Map a segment's arrays and, with ``dense``, its FAISS index (read-only; nothing is read until
    searched). A merge reads the rows only: it opens with ``dense=False``.

    :raises OSError: when missing.
    """
    # np.asarray: plain ndarray views of the maps (np.memmap's subclass overhead costs per slice)
    arrays = {k: np.asarray(np.load(path / f"{k}.npy", mmap_mode="r", allow_pickle=False)) for k in _ARRAYS}
    if (path / "distinct.npy").exists():  # absent in segments written before the stuffing rule
        arrays["distinct"] = np.asarray(np.load(path / "distinct.npy", mmap_mode="r", allow_pickle=False))
    if (path / "centroids.npy").exists():
        arrays["centroids"] = np.load(path / "centroids.npy", allow_pickle=False)
        arrays["list_ptr"] = np.load(path / "list_ptr.npy", allow_pickle=False)
    if dense and (path / DENSE_FILE).exists():
        arrays["dense"] = open_dense_index(path / DENSE_FILE)
    return SegmentData(**arrays)


def open_dense_index(path: Path) -> Any:
    """A segment's FAISS index, mapped by FAISS itself: with ``IO_FLAG_MMAP_IFC`` the graph's arrays and
    the codes are views of the file (zero-copy; ``IO_FLAG_MMAP`` alone copies an HNSW index into memory:
    +63 MB private per 100k rows, 100 ms to open, against 0 MB and 7 ms). Pages are shared by every
    process through the page cache.

    FAISS checks every neighbour id of the graph when it opens one (``validate_HNSW``) and maps the file
    with ``MADV_RANDOM``, so on a cold page cache each 4 KB page of the graph was a separate disk read:
    0.43-0.67 s for a 100k-row segment here. Asking the kernel to read the file ahead first
    (:func:`_read_ahead`, asynchronous) brings that to 0.06 s, and costs 1.5 ms when the file is cached.
    """
    import faiss

    _read_ahead(path)
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError as err:  # FAISS reports a truncated or foreign file as a RuntimeError
        raise OSError(f"{path}: {err}") from err


def _read_ahead(path: Path, chunk: int = 128 << 10) -> None:
    """``POSIX_FADV_WILLNEED`` over the whole file, in chunks of Linux's default read-ahead window (the
    kernel reads at most that much per call); a no-op where ``posix_fadvise`` does not exist."""
    if not hasattr(os, "posix_fadvise"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset in range(0, os.fstat(fd).st_size, chunk):
            os.posix_fadvise(fd, offset, chunk, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)


def lacks_dense_index(path: Path) -> bool:
    """A segment written before segments carried a FAISS index: IVF arrays but no ``dense.faiss`` (it is
    searched with the float32 list scan until a merge or ``docqa compact`` rewrites it)."""
    return (path / "centroids.npy").exists() and not (path / DENSE_FILE).exists()


def segment_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.suffix in (".npy", ".faiss"))
