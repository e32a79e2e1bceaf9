"""The indexing pipeline is a real haystack.Pipeline (embedder → writer) whose writer round-trips."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from haystack import Document, Pipeline

from docqa.ingest.ingestor import IngestProgress
from docqa.ingest.records import SourceFile, utc_now
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder
from docqa.pipelines.components.writers.passage_writer import PassageWriter
from docqa.pipelines.document_stores.errors import EmbeddingModelMismatchError
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.indexing import IndexingPipeline
from tests.conftest import hash_embed
from tests.pipelines.document_stores.test_store import MODEL, HashEmbedder, make_ingestor


def _source(key: str, docs: list[Document]) -> SourceFile:
    return SourceFile(
        key=key,
        file_name=Path(key).name,
        title=key,
        kind="text",
        sha256="0" * 64,
        size=1,
        mtime_ns=1,
        page_lengths=[10],
        passage_ids=[d.id for d in docs],
        ingested_at=utc_now(),
    )


def _embedded(*texts: str) -> list[Document]:
    docs = [Document(id=f"p{i}", content=text) for i, text in enumerate(texts)]
    vectors = hash_embed(docs)
    return [
        Document(id=d.id, content=d.content, embedding=v.tolist()) for d, v in zip(docs, vectors, strict=True)
    ]


def test_indexing_pipeline_is_a_haystack_pipeline_embedder_to_writer(index_dir: Path) -> None:
    indexing = IndexingPipeline(LocalIndex(index_dir), PassageEmbedder())
    assert isinstance(indexing.pipeline, Pipeline)
    assert isinstance(indexing.pipeline.get_component("writer"), PassageWriter)
    assert isinstance(indexing.pipeline.get_component("embedder"), PassageEmbedder)
    edges = [
        (a, b, data["from_socket"].name, data["to_socket"].name)
        for a, b, data in indexing.pipeline.graph.edges(data=True)
    ]
    assert edges == [("embedder", "writer", "documents", "documents")]
    # The whole pipeline serialises and comes back with the same writer target (no model is loaded).
    restored = Pipeline.loads(indexing.pipeline.dumps(), allowed_modules=["docqa.pipelines"])
    assert restored.get_component("writer").index.directory == index_dir


def test_writer_round_trips_through_to_dict_and_from_dict(index_dir: Path) -> None:
    writer = PassageWriter(LocalIndex(index_dir), embedding_model=MODEL, lock_timeout=1.5)
    data = writer.to_dict()
    assert data["type"] == "docqa.pipelines.components.writers.passage_writer.PassageWriter"
    same = PassageWriter.from_dict(data)
    assert (same.index.directory, same.embedding_model, same.lock_timeout) == (index_dir, MODEL, 1.5)
    assert same.to_dict() == data
    with pytest.raises(ValueError, match="index"):
        PassageWriter.from_dict({"type": data["type"], "init_parameters": {"embedding_model": MODEL}})


def test_standalone_writer_commits_files_and_replaces_their_passages(index_dir: Path) -> None:
    writer = PassageWriter.from_dict(PassageWriter(LocalIndex(index_dir), MODEL).to_dict())
    first = _embedded("Old first passage.", "Old second passage.")
    out = writer.run(documents=first, sources=[_source("/docs/a.txt", first)])
    assert out["documents_written"] == 2
    assert LocalIndex(index_dir).current_name() == out["commit"]
    new = [Document(id="n0", content="New text.", embedding=_embedded("New text.")[0].embedding)]
    writer.run(documents=new, sources=[_source("/docs/a.txt", new)])
    snapshot = LocalIndex(index_dir).load(MODEL, 384)
    assert [d.content for d in snapshot.passages] == ["New text."]
    assert snapshot.passages[0].embedding is None, "vectors live in embeddings.npy, not in passages"
    assert np.allclose(snapshot.embeddings, hash_embed(snapshot.passages))
    with pytest.raises(EmbeddingModelMismatchError):
        PassageWriter(LocalIndex(index_dir), "other").run(documents=new, sources=[_source("/b", new)])


def test_writer_refuses_documents_without_embeddings_or_without_a_file(index_dir: Path) -> None:
    writer = PassageWriter(LocalIndex(index_dir), MODEL)
    docs = _embedded("One.", "Two.")
    with pytest.raises(ValueError, match="/docs/a.txt: passage p1 has no embedding"):
        unembedded = [docs[0], Document(id="p1", content="Two.")]
        writer.run(documents=unembedded, sources=[_source("/docs/a.txt", docs)])
    with pytest.raises(ValueError, match="belong to none of the sources"):
        writer.run(documents=docs, sources=[_source("/docs/a.txt", docs[:1])])
    with pytest.raises(ValueError, match="p1 is not among the documents"):
        writer.run(documents=docs[:1], sources=[_source("/docs/a.txt", docs)])
    assert not LocalIndex(index_dir).exists(), "a refused batch commits nothing"


def test_writer_joins_an_open_transaction_even_through_haystack_deep_copies(tmp_path: Path) -> None:
    index = LocalIndex(tmp_path / "index")
    docs = _embedded("Alpha.")
    with index.transaction(MODEL, 384) as transaction:
        assert copy.deepcopy(transaction) is transaction
        indexing = IndexingPipeline(index, HashEmbedder())
        written = indexing.write_files(transaction, [(_source("/docs/a.txt", docs), docs)])
        assert written == 1 and transaction.commits == 1 and "/docs/a.txt" in transaction.files
        other = PassageWriter(LocalIndex(tmp_path / "elsewhere"), MODEL)
        with pytest.raises(ValueError, match="handed a transaction on"):
            other.run(documents=docs, sources=[_source("/docs/a.txt", docs)], transaction=transaction)
    assert [d.content for d in index.load(MODEL, 384).passages] == ["Alpha."]


def test_ingest_reports_embedding_progress_through_the_pipeline(tmp_path: Path, index_dir: Path) -> None:
    for i in range(3):
        (tmp_path / f"f{i}.txt").write_text(f"File {i} text. " * 5, encoding="utf-8")
    calls: list[tuple[int, int]] = []

    class Recorder(IngestProgress):
        def embedding(self, done: int, total: int) -> None:
            calls.append((done, total))

    report = make_ingestor(index_dir).run([tmp_path], progress=Recorder())
    assert report.passages_embedded == 3 and calls == [(3, 3)]
