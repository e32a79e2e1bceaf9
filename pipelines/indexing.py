"""The indexing pipeline: passages → embedder → writer → index (a real ``haystack.Pipeline``).

Where each step of files → passages → store lives, and why:

* ``ingest/`` finds files, decides what changed (size+mtime, then content hash), loads and cleans them
  (``ingest/loaders.py``) and splits them into passages (``ingest/splitting.py::PageAwareSplitter``).
  Loading and splitting stay there because the passage ids must be known *before* embedding: they go
  into the file's manifest entry, which is how a re-run skips committed work. ``ingest/`` must not
  import ``pipelines/`` (files → ingest → store ← pipelines), so it is handed this pipeline through its
  ``PassageIndexer`` protocol.
* This pipeline embeds a batch of files' passages (:class:`PassageEmbedder`) and writes them
  (:class:`PassageWriter`), committing one checkpoint of the ingest.

Usage::

    from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder
    from docqa.pipelines.document_stores.local.index import LocalIndex
    from docqa.pipelines.indexing import IndexingPipeline
    from docqa.ingest.ingestor import Ingestor

    index, embedder = LocalIndex("./docqa-index"), PassageEmbedder()
    indexing = IndexingPipeline(index, embedder)
    Ingestor(index, indexing, embedding_model=embedder.model, dim=embedder.encoder.dim).run(["./manuals"])

    indexing.pipeline.run({"embedder": {"documents": passages}, "writer": {"sources": [source]}})
"""

from __future__ import annotations

from collections.abc import Sequence

from haystack import Document, Pipeline

from docqa.ingest.ingestor import ProgressCallback
from docqa.ingest.records import SourceFile
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder
from docqa.pipelines.components.writers.passage_writer import PassageWriter
from docqa.pipelines.document_stores.local.index import LocalIndex, LocalTransaction

EMBEDDER, WRITER = "embedder", "writer"


def build_indexing_pipeline(embedder: PassageEmbedder, writer: PassageWriter) -> Pipeline:
    """``embedder.documents → writer.documents``; the writer also takes ``sources`` (and a transaction)."""
    pipeline = Pipeline()
    pipeline.add_component(EMBEDDER, embedder)
    pipeline.add_component(WRITER, writer)
    pipeline.connect(f"{EMBEDDER}.documents", f"{WRITER}.documents")
    return pipeline


class IndexingPipeline:
    """The indexing ``haystack.Pipeline`` of one index, built once; ingest's ``PassageIndexer``.

    :param index: where the writer commits.
    :param embedder: a passage embedder (shared: the encoder is loaded once per process).
    :param lock_timeout: seconds a standalone ``pipeline.run`` waits for another writer.
    """

    def __init__(self, index: LocalIndex, embedder: PassageEmbedder, lock_timeout: float = 5.0) -> None:
        self.embedder = embedder
        self.writer = PassageWriter(index, embedding_model=embedder.model, lock_timeout=lock_timeout)
        self.pipeline = build_indexing_pipeline(embedder, self.writer)

    def write_files(
        self,
        transaction: LocalTransaction,
        files: Sequence[tuple[SourceFile, list[Document]]],
        progress: ProgressCallback | None = None,
        extend: bool = False,
    ) -> int:
        """Embed the files' passages in one batch, write them into ``transaction`` and commit a checkpoint.

        ``extend``: the passages are the next part of files indexed in parts (see :class:`PassageWriter`).

        :returns: how many passages were embedded.
        """
        documents = [doc for _, docs in files for doc in docs]
        sources = [source for source, _ in files]
        result = self.pipeline.run(
            {
                EMBEDDER: {"documents": documents, "progress": progress},
                WRITER: {"sources": sources, "transaction": transaction, "extend": extend},
            }
        )
        return int(result[WRITER]["documents_written"])
