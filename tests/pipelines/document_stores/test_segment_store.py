"""The catalog + segments store: migration, tombstones and compaction, catch-up, merges, BM25 parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from docqa.ingest.records import SourceFile, utc_now
from docqa.pipelines.document_stores.local import segments
from docqa.pipelines.document_stores.local import writer as index_writer
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.document_stores.local.store import LocalDocumentStore
from tests.bm25_reference import BM25Index
from tests.conftest import hash_embed

MODEL, DIM = "test-model", 384
TOPICS = {
    "steam": "The steam engine uses a condenser and a piston to turn heat into work.",
    "normans": "The Normans founded the duchy of Normandy in the tenth century under Rollo.",
    "harvard": "Harvard is the oldest university in the United States, founded in 1636.",
    "rhine": "The Rhine flows from the Alps through Germany to the North Sea near Rotterdam.",
    "oxygen": "Oxygen is a chemical element with symbol O that forms oxides with most elements.",
}
# A keyword-stuffed passage (analysis.repetitive): BM25 leaves it out of its terms' document frequency too.
STUFFED = {"stuffed": "steam engine condenser work " * 20}


def file_of(name: str, n: int = 3) -> tuple[SourceFile, list[Document], np.ndarray]:
    key = f"/docs/{name}.txt"
    docs = [
        Document(id=f"{name}-{i}", content=f"{(TOPICS | STUFFED)[name]} Part {i} of {name}.",
                 meta={"title": name.title(), "source_key": key, "file_name": f"{name}.txt"})
        for i in range(n)
    ]
    source = SourceFile(key=key, file_name=f"{name}.txt", title=name.title(), kind="text", sha256=name,
                        size=1, mtime_ns=1, page_lengths=[1], passage_ids=[d.id for d in docs],
                        ingested_at=utc_now())
    return source, docs, hash_embed(docs)


def commit(index: LocalIndex, *names: str, remove: tuple[str, ...] = ()) -> None:
    with index.transaction(MODEL, DIM) as tx:
        if names:
            tx.put_files([file_of(n) for n in names])
        tx.remove_files([f"/docs/{n}.txt" for n in remove])
        tx.commit()


def test_each_commit_adds_one_segment_and_search_sees_all_of_them(index_dir: Path) -> None:
    index = LocalIndex(index_dir)
    for name in TOPICS:
        commit(index, name)
    assert len(index.live_segments()) == len(TOPICS)
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    assert store.count_documents() == 15
    assert store.bm25_retrieval("duchy of Normandy", top_k=1)[0].id.startswith("normans")
    query = hash_embed([file_of("rhine")[1][2]])[0]
    assert store.embedding_retrieval(query.tolist(), top_k=1)[0].id == "rhine-2"


def test_bm25_over_many_segments_scores_exactly_like_one_index_over_all_passages(index_dir: Path) -> None:
    index = LocalIndex(index_dir)
    for name in (*TOPICS, *STUFFED):
        commit(index, name)
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    reference = BM25Index([d for n in (*TOPICS, *STUFFED) for d in file_of(n)[1]])
    for question in ("oldest university founded", "steam engine condenser work", "Rhine Alps sea"):
        got = [(d.id, d.score) for d in store.bm25_retrieval(question, top_k=6)]
        want = [(d.id, d.score) for d in reference.retrieve(question, top_k=6)]
        assert [i for i, _ in got] == [i for i, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)


def test_segments_written_before_distinct_term_counts_score_the_same(index_dir: Path) -> None:
    """An index written before ``distinct.npy`` existed (BM25's stuffing rule needs each passage's distinct
    terms) counts them from its postings when first searched: same ids, same scores."""
    index = LocalIndex(index_dir)
    for name in TOPICS:
        commit(index, name)
    question = "steam engine condenser work"
    fresh = [(d.id, d.score) for d in
             LocalDocumentStore(index_dir, embedding_model=MODEL).bm25_retrieval(question, top_k=6)]
    written = {p.parent.name: np.load(p) for p in index_dir.rglob("distinct.npy")}
    assert len(written) == len(TOPICS)
    for name in written:
        next(index_dir.rglob(f"{name}/distinct.npy")).unlink()
        counted = segments.open_segment(next(index_dir.rglob(name))).distinct_terms()
        assert counted.tolist() == written[name].tolist() and counted.min() > 0
    old = [(d.id, d.score) for d in
           LocalDocumentStore(index_dir, embedding_model=MODEL).bm25_retrieval(question, top_k=6)]
    assert old == fresh and old


def test_deleted_and_replaced_passages_disappear_at_once_and_compaction_drops_them(index_dir: Path) -> None:
    index = LocalIndex(index_dir)
    commit(index, "steam", "normans")
    commit(index, "harvard")
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    assert store.bm25_retrieval("Normandy", top_k=3)
    removed = index.delete_files(["/docs/normans.txt"])
    assert [s.file_name for s in removed] == ["normans.txt"]
    assert store.bm25_retrieval("Normandy duchy Rollo", top_k=3) == [], "a live searcher drops them at once"
    assert store.count_documents() == 6
    commit(index, "steam")  # re-ingesting a file replaces its passages (old ones become tombstones)
    assert sorted(d.id for d in store.bm25_retrieval("steam condenser", top_k=10)) == [
        "steam-0", "steam-1", "steam-2"]
    before = [d.id for d in store.bm25_retrieval("founded university", top_k=5)]
    result = index.compact()
    assert result["tombstones_dropped"] == 6 and result["segments_after"] == 1
    assert [d.id for d in store.bm25_retrieval("founded university", top_k=5)] == before
    assert store.count_documents() == 6
    assert [p.name for p in (index_dir / "segments").iterdir()] == [index.live_segments()[0][0]]
    snapshot = index.load(MODEL, DIM)
    assert sorted(snapshot.files) == ["/docs/harvard.txt", "/docs/steam.txt"]
    assert np.allclose(snapshot.embeddings, hash_embed(snapshot.passages))


def test_a_live_searcher_catches_up_with_new_segments_only(index_dir: Path) -> None:
    index = LocalIndex(index_dir)
    commit(index, "steam")
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    store.warm_up()
    first = store._searcher.state.segments[0]
    commit(LocalIndex(index_dir), "oxygen")  # another writer (a separate connection and lock)
    assert store.bm25_retrieval("chemical element oxides", top_k=1)[0].id.startswith("oxygen")
    state = store._searcher.state
    assert len(state.segments) == 2 and state.segments[0] is first, "the old segment was not reopened"


def test_merges_keep_results_and_large_segments_use_an_ivf_with_high_recall(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_writer, "MERGE_FACTOR", 3)
    monkeypatch.setattr(segments, "IVF_MIN_ROWS", 400)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, DIM)).astype(np.float32)
    index = LocalIndex(index_dir)
    with index.transaction(MODEL, DIM) as tx:
        for batch in range(9):  # 9 commits of 60 passages: merged 3 by 3, then into one of 540 rows
            files = []
            for f in range(3):
                source, docs, _ = file_of("steam", 20)
                key = f"/docs/b{batch}-f{f}.txt"
                docs = [Document(id=f"{key}-{i}", content=d.content, meta=d.meta) for i, d in enumerate(docs)]
                vecs = centres[rng.integers(0, 20, len(docs))] + 0.3 * rng.standard_normal((len(docs), DIM))
                vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
                files.append((SourceFile(**{**source.__dict__, "key": key,
                                            "passage_ids": [d.id for d in docs]}), docs, vecs))
            tx.put_files(files)
            tx.commit()
    assert [s[2] for s in index.live_segments()] == [540], "merged 3+3+3, then 180+180+180"
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    assert store.count_documents() == 540
    snapshot = index.load(MODEL, DIM)
    hits = 0
    for row in rng.integers(0, 540, 30):
        query = snapshot.embeddings[row] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        exact = np.argsort(-(snapshot.embeddings @ query))[:10]
        got = {d.id for d in store.embedding_retrieval(query.tolist(), top_k=10)}
        hits += len(got & {snapshot.passages[i].id for i in exact})
    assert hits / 300 >= 0.95


def _write_format_1(index_dir: Path) -> list[Document]:
    """An index as DocQA wrote it before the catalog: CURRENT naming one snap-* folder."""
    folder = index_dir / "snap-000003-abcdef12"
    folder.mkdir(parents=True)
    files, passages, vectors = {}, [], []
    for name in ("steam", "harvard"):
        source, docs, vecs = file_of(name)
        files[source.key] = source.__dict__
        passages += docs
        vectors.append(vecs)
    (folder / "passages.json").write_text(json.dumps(
        [{"id": d.id, "content": d.content, "meta": d.meta} for d in passages]))
    (folder / "files.json").write_text(json.dumps(files))
    np.save(folder / "embeddings.npy", np.concatenate(vectors))
    (folder / "meta.json").write_text(json.dumps({"format": 1, "embedding_model": MODEL, "dim": DIM,
                                                  "created": utc_now()}))
    (index_dir / "CURRENT").write_text(folder.name)
    return passages


def test_an_index_in_the_old_snapshot_format_is_migrated_on_first_open(
    index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    passages = _write_format_1(index_dir)
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    assert store.bm25_retrieval("oldest university", top_k=1)[0].id.startswith("harvard")
    assert "Migrated the index" in caplog.text
    assert not (index_dir / "CURRENT").exists() and not list(index_dir.glob("snap-*"))
    snapshot = LocalIndex(index_dir).load(MODEL, DIM)
    assert [d.id for d in snapshot.passages] == [d.id for d in passages]
    assert np.allclose(snapshot.embeddings, hash_embed(passages))


def test_a_migration_killed_before_its_commit_is_redone(index_dir: Path) -> None:
    passages = _write_format_1(index_dir)
    # What a kill mid-migration leaves: an empty catalog (generation 0) beside the old snapshot.
    from docqa.pipelines.document_stores.local import catalog

    con = catalog.connect(index_dir / "index.sqlite", create=True)
    catalog.write_meta(con, {"format": 2, "generation": 0, "next_vid": 1})
    con.close()
    snapshot = LocalIndex(index_dir).load(MODEL, DIM)
    assert [d.id for d in snapshot.passages] == [d.id for d in passages]


# ----- dense search on the segments' FAISS indexes -----
def _clustered_index(index_dir: Path, monkeypatch: pytest.MonkeyPatch, files: int = 12, per_file: int = 50):
    """One IVF segment (with its FAISS index) of ``files`` files of clustered unit vectors: 20 centres, as
    real embeddings cluster by topic. Returns the index and every file's (key, passage ids, vectors)."""
    monkeypatch.setattr(segments, "IVF_MIN_ROWS", 400)
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((20, DIM)).astype(np.float32)
    source, template, _ = file_of("steam", per_file)
    batch = []
    for f in range(files):
        key = f"/docs/c{f}.txt"
        docs = [Document(id=f"c{f}-{i}", content=d.content, meta=d.meta) for i, d in enumerate(template)]
        vecs = centres[rng.integers(0, 20, per_file)] + 0.3 * rng.standard_normal((per_file, DIM))
        vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
        batch.append((SourceFile(**{**source.__dict__, "key": key, "passage_ids": [d.id for d in docs]}),
                      docs, vecs))
    index = LocalIndex(index_dir)
    with index.transaction(MODEL, DIM) as tx:
        tx.put_files(batch)
        tx.commit()
    return index, [(source.key, [d.id for d in docs], vecs) for source, docs, vecs in batch]


def _exact(files: list, query: np.ndarray, k: int, skip: frozenset = frozenset()) -> list[tuple[str, float]]:
    ids = [i for key, pids, _ in files if key not in skip for i in pids]
    vecs = np.concatenate([v for key, _, v in files if key not in skip])
    sims = vecs @ query
    return [(ids[i], float(sims[i])) for i in np.argsort(-sims)[:k]]


def test_large_segments_are_searched_with_their_faiss_index_and_find_the_exact_top_hits(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faiss

    index, files = _clustered_index(index_dir, monkeypatch)
    (name, _, rows), = index.live_segments()
    assert rows == 600 and (index_dir / "segments" / name / segments.DENSE_FILE).exists()
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    store.warm_up()
    dense = store._searcher.state.segments[0].data.dense
    codes = faiss.downcast_index(dense.storage).codes
    assert not dense.hnsw.neighbors.is_owned and not codes.is_owned, \
        "the graph and the codes are views of the mapped file, not copies in memory"
    calls = []
    search = store._searcher._faiss
    monkeypatch.setattr(store._searcher, "_faiss", lambda *a: calls.append(1) or search(*a))
    rng = np.random.default_rng(6)
    all_vecs = np.concatenate([v for _, _, v in files])
    for row in rng.integers(0, 600, 40):
        query = all_vecs[row] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        query /= np.linalg.norm(query)
        got = [(d.id, d.score) for d in store.embedding_retrieval(query.tolist(), top_k=5)]
        want = _exact(files, query, 5)
        assert got[0][0] == want[0][0], "the exact nearest passage is the first hit"
        assert got[0][1] == pytest.approx(want[0][1], abs=1e-5), "scores are exact cosines (re-ranked)"
    assert len(calls) == 40, "every search went through FAISS"


def test_faiss_search_never_returns_a_deleted_passage(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, files = _clustered_index(index_dir, monkeypatch)
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    key, ids, vecs = files[3]
    query = vecs[0]
    assert store.embedding_retrieval(query.tolist(), top_k=1)[0].id == ids[0]
    index.delete_files([key])  # a tombstone: the segment's FAISS index still holds the rows
    for top_k in (1, 10, 100):
        got = [d.id for d in store.embedding_retrieval(query.tolist(), top_k=top_k)]
        assert len(got) == top_k and not set(got) & set(ids), f"top_k={top_k}: a deleted passage came back"
    assert got[0] == _exact(files, query, 1, frozenset({key}))[0][0]
    state = store._searcher.sync()
    assert state.segments[0].live is not None, "FAISS is given the live rows"
    dead_vids = set(np.asarray(state.segments[0].data.vids)[state.segments[0].dead].tolist())
    assert len(dead_vids) == 50
    for k in (10, 600):  # 600: more than the 550 live rows; FAISS must skip the dead ones, not pad with them
        hits = store._searcher.dense(state, query, k)
        assert hits and not {v for v, _ in hits} & dead_vids
    hybrid = [d.id for d in store.hybrid_retrieval("steam engine", query.tolist(), top_k=50)]
    assert len(hybrid) == 50 and not set(hybrid) & set(ids)


def test_an_index_written_before_segments_had_a_faiss_file_still_searches_and_compaction_adds_it(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, files = _clustered_index(index_dir, monkeypatch)
    (name, _, _), = index.live_segments()
    folder = index_dir / "segments" / name
    (folder / segments.DENSE_FILE).unlink()  # what the writer before FAISS indexes left: the .npy files only
    assert segments.lacks_dense_index(folder)
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    query = files[7][2][4]
    before = [(d.id, d.score) for d in store.embedding_retrieval(query.tolist(), top_k=5)]
    assert before[0][0] == files[7][1][4] and before[0][0] == _exact(files, query, 1)[0][0]
    assert store._searcher.state.segments[0].data.dense is None, "searched with the float32 list scan"
    index.delete_files([files[7][0]])
    assert files[7][1][4] not in [d.id for d in store.embedding_retrieval(query.tolist(), top_k=20)]
    index.compact()  # rewrites the segment: now with its FAISS index
    (name, _, _), = index.live_segments()
    assert (index_dir / "segments" / name / segments.DENSE_FILE).exists()
    assert store._searcher.sync().segments[0].data.dense is not None
    got = [d.id for d in store.embedding_retrieval(query.tolist(), top_k=5)]
    assert got == [i for i, _ in _exact(files, query, 5, frozenset({files[7][0]}))]


def test_compaction_rewrites_a_lone_segment_without_a_faiss_file(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, _ = _clustered_index(index_dir, monkeypatch)
    (name, _, _), = index.live_segments()
    (index_dir / "segments" / name / segments.DENSE_FILE).unlink()
    result = index.compact()
    (new, _, rows), = index.live_segments()
    assert new != name and rows == 600 and result["segments_after"] == 1
    assert (index_dir / "segments" / new / segments.DENSE_FILE).exists()
    assert index.compact()["segments_after"] == 1 and index.live_segments()[0][0] == new, \
        "a segment that has its FAISS file is left alone"


def test_concurrent_faiss_searches_agree_with_one_at_a_time(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    index, files = _clustered_index(index_dir, monkeypatch)
    index.delete_files([files[0][0]])  # with a selector in play
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    queries = [v for _, _, vecs in files[1:] for v in vecs[:8]]
    alone = [[d.id for d in store.embedding_retrieval(q.tolist(), top_k=10)] for q in queries]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: [d.id for d in store.embedding_retrieval(q.tolist(), top_k=10)],
                                 queries))
    assert together == alone


def test_a_killed_merge_leaves_a_segment_with_a_faiss_file_that_is_never_read_and_is_swept(
    index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, files = _clustered_index(index_dir, monkeypatch)
    folder = index_dir / "segments"
    (live, _, _), = index.live_segments()
    # A merge killed after writing its segment but before the catalog commit; another killed mid-write.
    segments.write_segment(folder, "seg-99999999-dead00", segments.open_segment(folder / live))
    (folder / "seg-99999998-dead00.tmp").mkdir()
    (folder / "seg-99999998-dead00.tmp" / segments.DENSE_FILE).write_bytes(b"truncated")
    store = LocalDocumentStore(index_dir, embedding_model=MODEL)
    query = files[2][2][1]
    assert store.embedding_retrieval(query.tolist(), top_k=1)[0].id == files[2][1][1]
    assert [s.name for s in store._searcher.state.segments] == [live]
    commit(index, "oxygen")  # the next writer sweeps what no generation names
    assert not any(p.name.startswith("seg-9999999") for p in folder.iterdir())
    assert store.embedding_retrieval(query.tolist(), top_k=1)[0].id == files[2][1][1]
