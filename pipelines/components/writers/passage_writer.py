"""Write embedded passages of whole files into a DocQA index, one atomic checkpoint per run.

Why not Haystack's ``DocumentWriter``: our index commits in checkpoints (a generation: new segments plus one
catalog transaction) with a per-file manifest that lets a re-run skip unchanged files. A batch must therefore
arrive as *files* — each
:class:`~docqa.ingest.records.SourceFile` with exactly its passages — so a file's old passages are replaced in
the same commit that adds its new ones, and a crash never leaves a file half indexed.

A file bigger than one checkpoint arrives in parts (``extend=True`` for every part after the first): its
record is then *partial* until the last part (``SourceFile.pending_passages``), the state a crash or a
cancelled upload leaves and the next ingest resumes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from docqa.ingest.records import SourceFile
from docqa.pipelines.document_stores.local.index import LocalIndex, LocalTransaction


@component
class PassageWriter:
    """Put files' embedded passages into the index and commit them (one checkpoint per run).

    Usage::

        from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder
        from docqa.pipelines.components.writers.passage_writer import PassageWriter
        from docqa.pipelines.document_stores.local.index import LocalIndex

        writer = PassageWriter(LocalIndex("./docqa-index"), embedding_model=PassageEmbedder().model)
        embedded = PassageEmbedder().run(documents=passages)["documents"]  # passages of `source`
        writer.run(documents=embedded, sources=[source])  # {"documents_written": 12, "commit": "gen-..."}

        same = PassageWriter.from_dict(writer.to_dict())

    :param index: the index directory to write.
    :param embedding_model: the model the passages were embedded with; an index built with another is
        refused (:class:`~docqa.pipelines.document_stores.local.index.EmbeddingModelMismatchError`).
    :param lock_timeout: seconds a run without ``transaction`` waits for another writer.
    """

    def __init__(self, index: LocalIndex, embedding_model: str, lock_timeout: float = 5.0) -> None:
        self.index = index
        self.embedding_model = embedding_model
        self.lock_timeout = lock_timeout

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            index=self.index.to_dict(),
            embedding_model=self.embedding_model,
            lock_timeout=self.lock_timeout,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PassageWriter:
        params = dict(data.get("init_parameters", {}))
        if "index" not in params:
            raise ValueError("PassageWriter.from_dict: init_parameters.index is missing")
        from docqa.pipelines.document_stores.factory import index_from_dict  # LocalIndex or MilvusIndex

        params["index"] = index_from_dict(params["index"])
        return default_from_dict(cls, {**data, "init_parameters": params})

    @component.output_types(documents_written=int, commit=str)
    def run(
        self,
        documents: list[Document],
        sources: list[SourceFile],
        transaction: LocalTransaction | None = None,
        extend: bool = False,
    ) -> dict[str, Any]:
        """Replace each source file's passages by its embedded ``documents`` and commit them (a checkpoint).

        :param documents: embedded passages (``embedding`` set), each listed in its source's ``passage_ids``.
        :param sources: one manifest entry per file; together they name every document exactly once.
        :param transaction: an open transaction on this index (the Ingestor's, holding the writer lock
            across checkpoints); without it the run takes the lock itself for this one commit.
        :param extend: ``documents`` are the next part of files already indexed in parts: each source's
            ``passage_ids`` end with exactly its documents, and the passages it has are kept.
        :raises ValueError: a document lacks an embedding or belongs to none of ``sources``.
        """
        if transaction is None:
            dim = len(documents[0].embedding or []) if documents else None
            if dim is None:
                raise ValueError("PassageWriter.run without a transaction needs at least one document")
            with self.index.transaction(self.embedding_model, dim, timeout=self.lock_timeout) as own:
                return self._write(own, documents, sources, extend)
        if transaction.index.directory != self.index.directory:
            raise ValueError(
                f"PassageWriter for {self.index.directory} was handed a transaction on "
                f"{transaction.index.directory}"
            )
        return self._write(transaction, documents, sources, extend)

    def _write(
        self,
        transaction: LocalTransaction,
        documents: list[Document],
        sources: list[SourceFile],
        extend: bool,
    ) -> dict[str, Any]:
        dim = transaction.dim
        by_id = {doc.id: doc for doc in documents}
        additions, claimed = [], 0
        for source in sources:
            ids = source.passage_ids
            if extend:  # the part is the tail of the record: the passages this run brings
                ids = ids[len(ids) - sum(1 for pid in ids if pid in by_id) :]
            missing = [pid for pid in ids if pid not in by_id]
            if missing:
                raise ValueError(f"{source.key}: passage {missing[0]} is not among the documents to write")
            docs = [by_id[pid] for pid in ids]
            claimed += len(docs)
            vectors = _vectors(source, docs, dim)
            additions.append((source, [replace(d, embedding=None) for d in docs], vectors))
        if claimed != len(documents):
            strays = sorted(set(by_id) - {pid for s in sources for pid in s.passage_ids})
            raise ValueError(
                f"{len(documents) - claimed} document(s) belong to none of the sources "
                f"(first: {strays[0] if strays else 'a duplicate id'})"
            )
        if extend:
            transaction.extend_files(additions)
        else:
            transaction.put_files(additions)
        return {"documents_written": len(documents), "commit": transaction.commit()}


def _vectors(source: SourceFile, docs: list[Document], dim: int | None) -> np.ndarray:
    """The documents' embeddings as one float32 matrix (row i = docs[i]); stored apart from the text."""
    if any(d.embedding is None for d in docs):
        first = next(d for d in docs if d.embedding is None)
        raise ValueError(f"{source.key}: passage {first.id} has no embedding (run an embedder first)")
    if not docs:
        return np.zeros((0, dim or 0), dtype=np.float32)
    return np.asarray([d.embedding for d in docs], dtype=np.float32)
