"""``docqa migrate``: copy an index from one store to another with its embeddings — nothing is re-embedded.

Both sides go through the store protocols (:mod:`docqa.pipelines.document_stores.protocols`): the source's
catalog exports each file with its passages and embedding rows, the target's write side takes them in the
same per-file transaction the Ingestor uses, committing every ``checkpoint_every`` passages. So a copy
killed midway converges when run again (files already copied are replaced by the same passages), and the
target refuses an index built with another embedding model, as an ingest would.

Every collection of the index is copied (:func:`migrate_collections`), each into the target's store of
the same collection, so access keys (which name collections, not stores) stay valid after a move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from docqa.errors import InvalidInputError, NotFoundError
from docqa.pipelines.collections import DEFAULT_COLLECTION, each_collection, open_collection_store
from docqa.pipelines.document_stores.factory import StoreBundle


@dataclass
class MigrateReport:
    files: int
    passages: int
    embedding_model: str
    source: str
    target: str


def migrate(
    source_spec: str | None,
    target_spec: str | None,
    index_dir: Path | str,
    embedding_model: str,
    *,
    checkpoint_every: int = 2048,
    lock_timeout: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
    collection: str = DEFAULT_COLLECTION,
) -> MigrateReport:
    """Copy every file of ``collection`` in the store ``source_spec`` into ``target_spec`` (both beside
    ``index_dir``).

    :raises InvalidInputError: source and target are the same store.
    :raises NotFoundError: the source holds nothing.
    """
    source = open_collection_store(source_spec, index_dir, collection, embedding_model)
    meta = source.catalog.index_meta()
    if not meta:
        raise NotFoundError(f"Nothing to migrate: the store {source.catalog.location()} is empty.")
    model, dim = str(meta["embedding_model"]), int(meta["dim"])
    # the source's model: no re-embedding
    target: StoreBundle = open_collection_store(target_spec, index_dir, collection, model)
    if target.catalog.location() == source.catalog.location():
        raise InvalidInputError(f"--from and --to name the same store ({source.catalog.location()})")
    files = passages = staged = 0
    total = int(meta.get("passages", 0))
    with target.index.transaction(model, dim, timeout=lock_timeout) as transaction:
        for entry, docs, vectors in source.catalog.export_files():
            transaction.put_files([(entry, docs, vectors)])
            files += 1
            passages += len(docs)
            staged += len(docs)
            if staged >= checkpoint_every:
                transaction.commit()
                staged = 0
            if progress:
                progress(passages, total)
        if staged or files:
            transaction.commit()
    return MigrateReport(files, passages, model, source.catalog.location(), target.catalog.location())


def migrate_collections(
    source_spec: str | None,
    target_spec: str | None,
    index_dir: Path | str,
    embedding_model: str,
    *,
    lock_timeout: float = 5.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, MigrateReport]:
    """:func:`migrate` every collection of the index that holds documents; ``progress(collection, done,
    total)``. Returns the report per copied collection (empty ones are skipped).

    :raises NotFoundError: no collection holds anything.
    """
    return each_collection(
        index_dir,
        lambda name, report: migrate(source_spec, target_spec, index_dir, embedding_model,
                                     lock_timeout=lock_timeout, progress=report, collection=name),
        progress, "migrate")
