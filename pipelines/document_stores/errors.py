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
