"""Index snapshots: atomic commits, single writer, clear errors, nothing lost on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from haystack import Document, component

from docqa.ingest.ingestor import FAILED, Ingestor
from docqa.pipelines.document_stores.errors import (
    EmbeddingModelMismatchError,
    IndexCorruptError,
    IndexLockedError,
)
from docqa.pipelines.document_stores.local.index import InMemoryIndex, LocalIndex
from docqa.pipelines.document_stores.local.store import LocalDocumentStore
from docqa.pipelines.indexing import IndexingPipeline
from tests.conftest import hash_embed

MODEL = "test-model"


@component
class HashEmbedder:
    """Stands in for PassageEmbedder in store mechanics tests: deterministic vectors, no model to load."""

    model = MODEL

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document], progress=None) -> dict:
        vectors = hash_embed(documents)
        if progress is not None:
            progress(len(documents), len(documents))
        return {
            "documents": [
                Document(id=d.id, content=d.content, meta=d.meta, embedding=v.tolist())
                for d, v in zip(documents, vectors, strict=True)
            ]
        }


def make_ingestor(index_dir: Path, checkpoint_every: int = 512) -> Ingestor:
    index = LocalIndex(index_dir)
    return Ingestor(
        index,
        IndexingPipeline(index, HashEmbedder()),
        embedding_model=MODEL,
        dim=384,
        checkpoint_every=checkpoint_every,
    )


def ingest(index_dir: Path, *paths: Path, prune: bool = False, checkpoint_every: int = 512):
    return make_ingestor(index_dir, checkpoint_every).run(list(paths), prune=prune)


def load(index_dir: Path) -> InMemoryIndex:
    return LocalIndex(index_dir).load(MODEL, 384)


def test_empty_index_loads_as_empty(index_dir: Path) -> None:
    snapshot = load(index_dir)
    assert snapshot.passages == [] and snapshot.files == {}


def test_commit_round_trip_keeps_passages_embeddings_and_manifest(tmp_path: Path, index_dir: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha is the first letter. " * 30, encoding="utf-8")
    report = ingest(index_dir, tmp_path / "a.txt")
    snapshot = load(index_dir)
    (source,) = snapshot.files.values()
    assert source.file_name == "a.txt" and source.pages == 1
    assert [d.id for d in snapshot.passages] == source.passage_ids
    assert np.allclose(snapshot.embeddings, hash_embed(snapshot.passages))
    assert report.passages_embedded == len(snapshot.passages)


def test_orphaned_segments_are_removed_and_never_read(tmp_path: Path, index_dir: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha.", encoding="utf-8")
    ingest(index_dir, tmp_path / "a.txt")
    live = LocalIndex(index_dir).current_name()
    # What a writer killed mid-commit leaves: a half-written segment and a finished one never committed.
    segments = index_dir / "segments"
    (segments / "seg-99999998-dead00.tmp").mkdir()
    (segments / "seg-99999998-dead00.tmp" / "vids.npy").write_bytes(b"\x93NUMPY garbage")
    (segments / "seg-99999999-cafe00").mkdir()
    snapshot = load(index_dir)
    assert snapshot.name == live and len(snapshot.passages) == 1
    (tmp_path / "b.txt").write_text("Beta.", encoding="utf-8")
    ingest(index_dir, tmp_path / "b.txt")
    names = sorted(p.name for p in segments.iterdir())
    assert not any(n.startswith("seg-9999999") for n in names)
    assert len(load(index_dir).files) == 2


def test_second_writer_is_refused_with_a_clear_message(index_dir: Path) -> None:
    index = LocalIndex(index_dir)
    with index.writer():
        assert index.is_locked()
        with (
            pytest.raises(IndexLockedError, match="being written by another DocQA process"),
            LocalIndex(index_dir).writer(timeout=0.1),
        ):
            pass
    assert not index.is_locked()


def test_index_built_with_another_embedding_model_is_refused(tmp_path: Path, index_dir: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha.", encoding="utf-8")
    ingest(index_dir, tmp_path / "a.txt")
    with pytest.raises(EmbeddingModelMismatchError, match="test-model"):
        LocalIndex(index_dir).load("other-model", 384)


def test_unreadable_index_gives_a_clear_error(tmp_path: Path, index_dir: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha.", encoding="utf-8")
    ingest(index_dir, tmp_path / "a.txt")
    for suffix in ("-wal", "-shm"):
        (index_dir / f"index.sqlite{suffix}").unlink(missing_ok=True)
    (index_dir / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexCorruptError, match="cannot be read"):
        load(index_dir)


def test_second_ingest_re_embeds_nothing(tmp_path: Path, index_dir: Path) -> None:
    for name in "abc":
        (tmp_path / f"{name}.txt").write_text(f"Document {name} text. " * 20, encoding="utf-8")
    first = ingest(index_dir, tmp_path)
    assert first.count("added") == 3
    before = load(index_dir)
    second = ingest(index_dir, tmp_path)
    assert second.passages_embedded == 0 and second.count("unchanged") == 3
    assert [d.id for d in load(index_dir).passages] == [d.id for d in before.passages]


def test_touched_but_identical_file_is_not_re_embedded(tmp_path: Path, index_dir: Path) -> None:
    import os

    path = tmp_path / "a.txt"
    path.write_text("Same text. " * 10, encoding="utf-8")
    ingest(index_dir, path)
    os.utime(path, ns=(1, 1))
    report = ingest(index_dir, path)
    assert report.passages_embedded == 0 and report.count("unchanged") == 1
    assert load(index_dir).files[str(path.resolve())].mtime_ns == 1


def test_changed_file_replaces_its_passages(tmp_path: Path, index_dir: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("The old text mentions zebras.", encoding="utf-8")
    ingest(index_dir, path)
    path.write_text("The new text mentions giraffes instead.", encoding="utf-8")
    report = ingest(index_dir, path)
    assert report.count("updated") == 1
    contents = [d.content for d in load(index_dir).passages]
    assert contents == ["The new text mentions giraffes instead."]


def test_prune_removes_documents_whose_files_are_gone(tmp_path: Path, index_dir: Path) -> None:
    keep, gone = tmp_path / "keep.txt", tmp_path / "gone.txt"
    keep.write_text("Keep me.", encoding="utf-8")
    gone.write_text("Delete me.", encoding="utf-8")
    ingest(index_dir, tmp_path)
    gone.unlink()
    assert len(load(index_dir).files) == 2, "without --prune nothing is removed"
    ingest(index_dir, tmp_path)
    assert len(load(index_dir).files) == 2
    report = ingest(index_dir, tmp_path, prune=True)
    assert report.count("removed") == 1
    assert [s.file_name for s in load(index_dir).files.values()] == ["keep.txt"]


def test_bad_input_never_aborts_the_batch_nor_touches_indexed_data(
    tmp_path: Path, index_dir: Path, bad_inputs: dict[str, Path]
) -> None:
    report = ingest(index_dir, bad_inputs["good_pdf"].parent, tmp_path / "does-not-exist")
    by_name = {Path(r.path).name: r for r in report.results}
    assert by_name["good.pdf"].status == "added" and by_name["good.pdf"].pages == 2
    assert by_name["good.txt"].status == "added"
    assert by_name["latin1.txt"].status == "added"
    assert by_name["latin1.txt"].notes == ["not valid UTF-8; decoded as Windows-1252"]
    assert by_name["slides.pptx"].status == "skipped"
    expected = {
        "corrupt.pdf": "corrupt PDF",
        "truncated.pdf": "corrupt PDF",
        "encrypted.pdf": "encrypted PDF",
        "scanned.pdf": "no text layer",
        "empty.txt": "empty file",
        "binary.txt": "binary data",
        "does-not-exist": "path does not exist",
    }
    for name, reason in expected.items():
        assert by_name[name].status == FAILED and reason in by_name[name].reason, (name, by_name[name])
    assert not report.ok

    # A good file that later turns bad keeps its old passages: the failure is reported, nothing is lost.
    before = load(index_dir)
    good = bad_inputs["good_pdf"]
    good.write_bytes(b"%PDF-1.4 garbage")
    again = ingest(index_dir, good)
    assert again.results[0].status == FAILED
    after = load(index_dir)
    assert [d.id for d in after.passages] == [d.id for d in before.passages]


def test_file_vanishing_mid_run_is_reported(tmp_path: Path, index_dir: Path) -> None:
    from docqa.ingest.ingestor import IngestProgress

    for name in "abc":
        (tmp_path / f"{name}.txt").write_text(f"Text {name}.", encoding="utf-8")

    class DeleteAfterDiscovery(IngestProgress):
        def discovered(self, total_files: int) -> None:
            (tmp_path / "b.txt").unlink()

    report = make_ingestor(index_dir).run([tmp_path], progress=DeleteAfterDiscovery())
    by_name = {Path(r.path).name: r for r in report.results}
    assert by_name["b.txt"].status == FAILED and "disappeared" in by_name["b.txt"].reason
    assert by_name["a.txt"].status == by_name["c.txt"].status == "added"


def test_checkpoints_commit_progress_during_a_long_ingest(tmp_path: Path, index_dir: Path) -> None:
    for i in range(12):
        (tmp_path / f"f{i:02d}.txt").write_text(f"File {i} says something. " * 5, encoding="utf-8")
    report = ingest(index_dir, tmp_path, checkpoint_every=3)
    assert report.checkpoints >= 4
    assert len(load(index_dir).files) == 12
    assert LocalIndex(index_dir).meta()["embedding_model"] == MODEL


def test_delete_files_removes_only_those_files_in_one_commit_without_a_model(
    tmp_path: Path, index_dir: Path
) -> None:
    for name in "abc":
        (tmp_path / f"{name}.txt").write_text(f"Document {name} text. " * 20, encoding="utf-8")
    ingest(index_dir, tmp_path)
    index = LocalIndex(index_dir)
    before = index.current_name()
    keys = [str((tmp_path / n).resolve()) for n in ("c.txt", "missing.txt", "a.txt")]
    removed = index.delete_files(keys)
    assert [s.file_name for s in removed] == ["c.txt", "a.txt"]
    snapshot = load(index_dir)
    assert [s.file_name for s in snapshot.files.values()] == ["b.txt"]
    assert {d.meta["file_name"] for d in snapshot.passages} == {"b.txt"}
    assert snapshot.embeddings.shape == (len(snapshot.passages), 384)
    assert int(snapshot.name.split("-")[1]) == int(before.split("-")[1]) + 1, "one commit"
    assert index.delete_files(keys) == [] and index.current_name() == snapshot.name, "nothing left: no commit"
    assert LocalIndex(tmp_path / "empty").delete_files(keys) == []


def test_a_commit_leaves_no_temporary_files_behind(tmp_path: Path, index_dir: Path) -> None:
    (tmp_path / "a.txt").write_text("Alpha.", encoding="utf-8")
    ingest(index_dir, tmp_path / "a.txt")
    (index_dir / "segments" / "seg-00000009-k1ll3d.tmp").mkdir()  # a segment write killed half-way
    (tmp_path / "b.txt").write_text("Beta.", encoding="utf-8")
    ingest(index_dir, tmp_path / "b.txt")
    leftovers = [p.name for p in index_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    names = {p.name for p in index_dir.iterdir()} - {"index.sqlite-wal", "index.sqlite-shm"}
    assert names == {"index.sqlite", "segments", "writer.lock"}, "format 2: catalog + segments"


def test_a_flood_of_near_empty_passages_does_not_change_which_passage_keyword_search_ranks_first(
    tmp_path: Path,
) -> None:
    """BM25's average length is weighted by tokens (searcher.weighted_average_length): thousands of
    one-"word" passages (a file without a space) barely move it. With the plain mean they dragged it down to
    a few terms, every real passage then counted as many times too long, and the short note that merely
    names "engine" twice overtook the passage about Watt's engine (checked: this test fails that way)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "watt.txt").write_text(
        "James Watt improved the steam engine in 1769 with a separate condenser, which saved fuel. Boulton "
        "and Watt sold engines to mines and mills across Britain, where the condenser cut coal bills by "
        "three quarters. His engine later drove looms, pumps and the first rotative mills of Birmingham.",
        encoding="utf-8",
    )
    (docs / "note.txt").write_text("Engine engine room.", encoding="utf-8")
    ingest(tmp_path / "index", docs)
    question = "Who improved the steam engine condenser?"
    store = LocalDocumentStore(tmp_path / "index", embedding_model=MODEL)
    before = [Path(d.meta["source_key"]).name for d in store.bm25_retrieval(question, top_k=2)]
    (docs / "oneword.txt").write_text("a" * 600_000, encoding="utf-8")
    ingest(tmp_path / "index", docs)
    store = LocalDocumentStore(tmp_path / "index", embedding_model=MODEL)
    assert store.count_documents() > 300  # the junk is indexed: hundreds of one-token passages
    after = [Path(d.meta["source_key"]).name for d in store.bm25_retrieval(question, top_k=2)]
    assert before[0] == after[0] == "watt.txt"
