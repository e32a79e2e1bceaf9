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

On Milvus a collection's vector field has a fixed dimension, so the same move is: ``docqa migrate --to
local``, ``docqa reindex``, then ``docqa migrate --from local --to`` a new Milvus collection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from docqa.errors import InvalidInputError, NotFoundError
from docqa.pipelines.collections import DEFAULT_COLLECTION, open_collection_store
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, passage_text
from docqa.pipelines.document_stores.factory import is_local

BATCH = 256  # passages embedded between two progress reports


@dataclass
class ReindexReport:
    """What ``docqa reindex`` did: ``previous_model`` → ``embedding_model`` for ``files`` files and
    ``passages`` passages in ``seconds`` (``changed`` False: the index already was on that model)."""

    collection: str
    files: int
    passages: int
    previous_model: str
    embedding_model: str
    dim: int
    seconds: float
    changed: bool


def reindex(
    store_spec: str | None,
    index_dir: Path | str,
    embedding_model: str,
    *,
    collection: str = DEFAULT_COLLECTION,
    force: bool = False,
    lock_timeout: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Re-embed every passage of ``collection`` with ``embedding_model`` and commit them at once (see the
    module docstring). An index already on that model is left alone unless ``force``.

    :raises InvalidInputError: the store is Milvus (the module docstring says what to do instead).
    :raises NotFoundError: the collection holds nothing.
    :raises docqa.pipelines.model_loading.ModelUnavailableError: the model cannot be loaded (nothing changes).
    """
    started = time.perf_counter()
    if not is_local(store_spec):  # refused before anything opens the Milvus store
        raise InvalidInputError(
            "docqa reindex works on the local store: on Milvus, `docqa migrate --to local`, `docqa reindex`, "
            "then `docqa migrate --from local --to` a new Milvus collection")
    index = open_collection_store(store_spec, index_dir, collection, embedding_model).local_index
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
            report.seconds = time.perf_counter() - started
            return report
        embedder = PassageEmbedder(model=embedding_model)
        embedder.warm_up()
        texts = [passage_text(doc) for doc in snapshot.passages]
        vectors = np.zeros((len(texts), embedder.encoder.dim), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            vectors[start:start + BATCH] = embedder.encoder.encode(texts[start:start + BATCH])
            if progress:
                progress(min(start + BATCH, len(texts)), len(texts))
        additions = [(source, [snapshot.passages[i] for i in picked[key]], vectors[picked[key]])
                     for key, source in snapshot.files.items()]
        writer.rebuild(additions, embedding_model, int(vectors.shape[1]))
    report.dim, report.changed = int(vectors.shape[1]), True
    report.seconds = time.perf_counter() - started
    return report
