"""Errors every document store raises, whatever its engine: each derives from one kind of
:class:`docqa.errors.DocQAError`, so the front ends map them by kind (``BusyError`` → HTTP 423, exit 2 …)
and never need to know which store raised.

Engine-specific errors (e.g. ``MilvusStoreError``, an operation Milvus refused) live with their engine and
derive from a kind too.
"""

from __future__ import annotations

from docqa.errors import BusyError, ConflictError, StorageError


class IndexStoreError(StorageError):
    """Base for index problems a user must act on; ``str(err)`` is the message to show."""


class IndexLockedError(IndexStoreError, BusyError):
    """Another process holds the writer lock (an ingest is running)."""


class IndexCorruptError(IndexStoreError):
    """The index's files cannot be read as an index (the message names the directory)."""


class EmbeddingModelMismatchError(IndexStoreError, ConflictError):
    """The index was built with another embedding model than the one asked for (the message names both)."""


def model_mismatch(where: str, built: object, configured: str) -> EmbeddingModelMismatchError:
    """The one-line refusal every engine gives, at open, search and ingest alike: it names both models and
    the way out that loses nothing (``docqa reindex`` embeds the stored passages again; no file is read).
    Written once so the local store and Milvus cannot drift apart in what they tell the user."""
    return EmbeddingModelMismatchError(
        f"{where} was built with the embedding model '{built}', but '{configured}' is configured: run "
        f"`docqa reindex` to embed its passages again with '{configured}' (no file is read again), or set "
        f"DOCQA_EMBEDDING_MODEL to '{built}'."
    )
