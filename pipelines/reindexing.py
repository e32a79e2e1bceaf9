"""``docqa reindex``: embed every stored passage again with the configured embedding model — no file is read
again, and the index moves to the new model in one commit.

Why: an index remembers the embedding model that built it and refuses another (its vectors would not be
comparable with the new model's questions), so changing ``DOCQA_EMBEDDING_MODEL`` used to mean ingesting
every file again: parsing, OCR and all, from files that may no longer be where they were. The passages'
text is in the index already, so only the vectors need to be computed again.

How, on the local store: under the index's writer lock (an ingest waits, and cannot slip a passage of the
old model in), every passage's text is embedded with the new model in batches with progress, then
:meth:`~docqa.pipelines.document_stores.local.writer.IndexWriter.rebuild` commits every file with its new
vectors and the new model and dimension at once. Passage ids, texts, metadata and file records are kept;
the FAQ, feedback, keys and promoted readers are not touched. Killed before that commit (``kill -9``, Ctrl+C,
a model that fails to load), the index is the old one, whole; run it again. Memory: the new vectors of the
whole collection are held until the commit (4 bytes × dimension per passage: 1.5 GB for 1M MiniLM passages).

On Milvus (:mod:`~docqa.pipelines.document_stores.milvus.rebuild`) a collection's vector field has a fixed
dimension, so the passages are read from the live collection in batches, embedded and written into a new
collection while the old one serves; the collection's name is then switched to it (a Milvus alias) and the
old one dropped. Killed before that switch, the old collection is whole and the new one is dropped by the
next writer; killed during it, the next writer or opener finishes it. Memory: one batch at a time.

Every collection of an index shares the configured model, so changing it means reindexing each:
:func:`reindex_collections` (``docqa reindex --all-collections``) does them one after the other, each in its
own commit (a killed run leaves the collections done on the new model; running it again does the rest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from docqa.errors import NotFoundError
from docqa.pipelines.collections import DEFAULT_COLLECTION, each_collection, open_collection_store
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, passage_text
from docqa.pipelines.document_stores.factory import StoreBundle

BATCH = 256  # passages embedded between two progress reports (and, on Milvus, per read and write)

Progress = Callable[[int, int], None]


@dataclass
class ReindexReport:
    """What ``docqa reindex`` did: ``previous_model`` → ``embedding_model`` for ``files`` files and
    ``passages`` passages in ``seconds``, of which ``embedding_seconds`` embedding them (the rest: loading the
    model, reading the passages, the commit); ``changed`` False: the index already was on that model."""

    collection: str
    files: int
    passages: int
    previous_model: str
    embedding_model: str
    dim: int
    seconds: float
    changed: bool
    embedding_seconds: float = 0.0


def _embedder(embedding_model: str) -> PassageEmbedder:
    embedder = PassageEmbedder(model=embedding_model)
    embedder.warm_up()
    return embedder


def reindex(
    store_spec: str | None,
    index_dir: Path | str,
    embedding_model: str,
    *,
    collection: str = DEFAULT_COLLECTION,
    force: bool = False,
    lock_timeout: float = 5.0,
    progress: Progress | None = None,
) -> ReindexReport:
    """Re-embed every passage of ``collection`` with ``embedding_model`` and switch to them at once (see the
    module docstring). An index already on that model is left alone unless ``force``.

    :raises NotFoundError: the collection holds nothing.
    :raises docqa.pipelines.model_loading.ModelUnavailableError: the model cannot be loaded (nothing changes).
    """
    started = time.perf_counter()
    bundle = open_collection_store(store_spec, index_dir, collection, embedding_model)
    run = _milvus if bundle.is_milvus else _local
    report = run(bundle, embedding_model, collection, force, lock_timeout, progress)
    report.seconds = time.perf_counter() - started
    return report


def _local(bundle: StoreBundle, embedding_model: str, collection: str, force: bool, lock_timeout: float,
           progress: Progress | None) -> ReindexReport:
    """The whole collection's new vectors, then one :meth:`IndexWriter.rebuild` commit."""
    index = bundle.local_index
    with index.writer(timeout=lock_timeout) as writer:
        snapshot = index.load_any()
        if snapshot is None or not snapshot.files:
            raise NotFoundError(f"Nothing to reindex: collection {collection!r} holds no documents.")
        previous = str(snapshot.meta.get("embedding_model"))
        rows = {doc.id: i for i, doc in enumerate(snapshot.passages)}
        picked = {key: [rows[pid] for pid in source.passage_ids if pid in rows]
                  for key, source in snapshot.files.items()}
        report = ReindexReport(collection, len(snapshot.files), len(snapshot.passages), previous,
                               embedding_model, snapshot.dim, 0.0, False)
        if previous == embedding_model and not force:
            return report
        embedder = _embedder(embedding_model)
        texts = [passage_text(doc) for doc in snapshot.passages]
        vectors = np.zeros((len(texts), embedder.encoder.dim), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            began = time.perf_counter()
            vectors[start:start + BATCH] = embedder.encoder.encode(texts[start:start + BATCH])
            report.embedding_seconds += time.perf_counter() - began
            if progress:
                progress(min(start + BATCH, len(texts)), len(texts))
        additions = [(source, [snapshot.passages[i] for i in picked[key]], vectors[picked[key]])
                     for key, source in snapshot.files.items()]
        writer.rebuild(additions, embedding_model, int(vectors.shape[1]))
    report.dim, report.changed = int(vectors.shape[1]), True
    return report


def _milvus(bundle: StoreBundle, embedding_model: str, collection: str, force: bool, lock_timeout: float,
            progress: Progress | None) -> ReindexReport:
    """Batches read from the live collection, embedded and written into a new one, then the switch."""
    index: Any = bundle.index  # a MilvusIndex (its `rebuilding` is Milvus's own, not the store protocol's)
    meta = index.index_meta()
    files = index.files()
    if not meta or not files:
        raise NotFoundError(f"Nothing to reindex: collection {collection!r} on {index.location()} holds "
                            "no documents.")
    previous, total = str(meta["embedding_model"]), int(meta["passages"])
    report = ReindexReport(collection, len(files), total, previous, embedding_model, int(meta["dim"]), 0.0,
                           False)
    if previous == embedding_model and not force:
        return report
    embedder = _embedder(embedding_model)
    with index.rebuilding(embedding_model, embedder.encoder.dim, timeout=lock_timeout) as work:
        ids = [pid for source in work.files.values() for pid in source.passage_ids]
        for start in range(0, len(ids), BATCH):
            docs = work.passages(ids[start:start + BATCH])
            began = time.perf_counter()
            vectors = embedder.encoder.encode([passage_text(doc) for doc in docs])
            report.embedding_seconds += time.perf_counter() - began
            work.put(docs, vectors)
            if progress:
                progress(min(start + BATCH, len(ids)), len(ids))
        work.commit()
        report.files, report.passages = len(work.files), len(ids)
    report.dim, report.changed = int(embedder.encoder.dim), True
    return report


def reindex_collections(
    store_spec: str | None,
    index_dir: Path | str,
    embedding_model: str,
    *,
    force: bool = False,
    lock_timeout: float = 5.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, ReindexReport]:
    """:func:`reindex` every collection of the index that holds documents, one commit each;
    ``progress(collection, done, total)``. Empty collections are skipped.

    :raises NotFoundError: no collection holds anything.
    """
    return each_collection(
        index_dir,
        lambda name, report: reindex(store_spec, index_dir, embedding_model, collection=name, force=force,
                                     lock_timeout=lock_timeout, progress=report),
        progress, "reindex")
