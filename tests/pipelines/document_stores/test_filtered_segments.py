"""Filters on the local store's large segments (those carrying a FAISS index): the result is the exact
filtered top 10, also when the filter rejects the query's own neighbourhood (where HNSW through an ID
selector starves), and a deleted passage never comes back through a filter."""

from __future__ import annotations

import numpy as np
import pytest
from haystack import Document

from docqa.ingest.records import SourceFile, utc_now
from docqa.pipelines.document_stores.local import searcher as searcher_module
from docqa.pipelines.document_stores.local import segments
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.document_stores.local.store import LocalDocumentStore

MODEL, DIM, FILES, PER_FILE = "test-model", 384, 60, 40


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[LocalDocumentStore, np.ndarray, np.ndarray]:
    """2,400 passages in one FAISS segment; one topic (cluster) per file; file i tagged bucket = i % 10."""
    patch = pytest.MonkeyPatch()
    patch.setattr(segments, "IVF_MIN_ROWS", 400)
    directory = tmp_path_factory.mktemp("filtered") / "index"
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((FILES, DIM)).astype(np.float32)
    files, all_vectors, buckets = [], [], []
    for f in range(FILES):
        key = f"/docs/f{f:03d}.txt"
        docs = [Document(id=f"f{f:03d}-{i}", content=f"file {f} part {i}", meta={"source_key": key})
                for i in range(PER_FILE)]  # fmt: skip
        vectors = centres[f] + 0.4 * rng.standard_normal((PER_FILE, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        source = SourceFile(key=key, file_name=f"f{f:03d}.txt", title="", kind="text", sha256=str(f), size=1,
                            mtime_ns=1, page_lengths=[1], passage_ids=[d.id for d in docs],
                            ingested_at=utc_now(), tags={"bucket": f % 10})  # fmt: skip
        files.append((source, docs, vectors))
        all_vectors.append(vectors)
        buckets += [f % 10] * PER_FILE
    index = LocalIndex(directory)
    with index.transaction(MODEL, DIM) as tx:
        tx.put_files(files)
        tx.commit()
    patch.undo()
    opened = LocalDocumentStore(directory, embedding_model=MODEL)
    assert opened._state().segments[0].data.dense is not None, "the segment must carry a FAISS index"
    return opened, np.concatenate(all_vectors), np.array(buckets)


def test_a_filter_rejecting_the_query_neighbourhood_still_finds_the_exact_top_10(store, monkeypatch) -> None:
    search, vectors, buckets = store
    monkeypatch.setattr(searcher_module, "EXACT_FILTERED_ROWS", 0)  # 50% of 2,400: the FAISS codes path
    monkeypatch.setattr(searcher_module, "EXACT_FILTERED_SHARE", 0.0)
    keep = {"field": "meta.bucket", "operator": ">=", "value": 5}
    rng = np.random.default_rng(9)
    hits = 0
    for row in rng.choice(np.flatnonzero(buckets < 5), 30):  # queries from files the filter rejects
        query = vectors[row] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        sims = np.where(buckets >= 5, vectors @ query, -np.inf)
        exact = {f"f{i // PER_FILE:03d}-{i % PER_FILE}" for i in np.argsort(-sims)[:10]}
        got = search.embedding_retrieval(query.tolist(), top_k=10, filters=keep)
        assert len(got) == 10 and all(int(d.id[1:4]) % 10 >= 5 for d in got)
        hits += len({d.id for d in got} & exact)
    assert hits / 300 >= 0.98


def test_a_selective_filter_is_scanned_exactly(store) -> None:
    search, vectors, buckets = store
    only = {"field": "meta.bucket", "operator": "==", "value": 7}  # 10%: under the exact-scan threshold
    query = vectors[0]
    sims = np.where(buckets == 7, vectors @ query, -np.inf)
    exact = [f"f{i // PER_FILE:03d}-{i % PER_FILE}" for i in np.argsort(-sims)[:10]]
    got = search.embedding_retrieval(query.tolist(), top_k=10, filters=only)
    assert [d.id for d in got] == exact
