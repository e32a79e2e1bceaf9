"""Collections: named sets of documents in one index, so several teams can share one DocQA.

Why each collection is a whole index of its own (``<index>/collections/<name>/``, with its passages, FAQ,
feedback and uploads) instead of a ``collection`` field filtered at search time:

- **isolation by construction**: a search in ``hr`` opens only ``hr``'s files, so no filter that a code
  path forgets can leak ``engineering``'s passages, and nothing of another collection is ever counted;
- **scores do not leak either**: BM25's document frequencies and the fusion's normalisation are computed
  per store, so a question's scores in ``hr`` do not change when ``engineering`` adds documents (with a
  shared store plus a filter they would, and a caller could infer the other collection's words);
- **delete is one directory** (renamed away atomically, then removed), and every store guarantee (atomic
  commits, the writer lock, crash recovery) holds per collection unchanged.

The ``default`` collection is the index directory itself, so indexes made before collections existed keep
working and today's commands and routes read it. On Milvus the same reasoning picks one Milvus collection
per DocQA collection (``docqa`` → ``docqa__hr``) rather than a partition key: a partition key shares BM25
statistics and collection-wide counts across partitions.

Keys and the audit log live at the index root, beside the collections they govern.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from docqa.config import DEFAULT_COLLECTION
from docqa.errors import InvalidInputError, NotFoundError

T = TypeVar("T")

if TYPE_CHECKING:
    from docqa.pipelines.document_stores.factory import StoreBundle

COLLECTIONS_DIR = "collections"
MARKER_FILE = "collection.json"  # written last by create: a folder without it is not a collection
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TRASH_PREFIX = ".deleting-"

__all__ = [
    "DEFAULT_COLLECTION", "CollectionNotFoundError", "CollectionInfo", "validate_collection_name",
    "collection_dir", "collection_exists", "list_collections", "create_collection", "delete_collection",
    "milvus_collection_spec", "open_collection_store", "require_collection",
]  # fmt: skip


class CollectionNotFoundError(NotFoundError):
    """No collection of this name in the index; ``str(err)`` names it and how to create it."""


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    directory: Path


def validate_collection_name(name: str) -> str:
    """``name`` stripped, when it is a valid collection name (lower-case letters, digits, ``_`` and ``-``,
    at most 64, starting with a letter or digit: safe as a folder, a URL segment and a Milvus name).

    :raises InvalidInputError: naming the bad name and the rule.
    """
    cleaned = (name or "").strip()
    if not _NAME.match(cleaned):
        raise InvalidInputError(
            f"collection name {name!r}: use 1-64 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return cleaned


def collection_dir(index_dir: str | Path, name: str) -> Path:
    """Where collection ``name`` of the index lives: the index directory itself for ``default``."""
    root = Path(index_dir).expanduser()
    name = validate_collection_name(name)
    return root if name == DEFAULT_COLLECTION else root / COLLECTIONS_DIR / name


def collection_exists(index_dir: str | Path, name: str) -> bool:
    """``default`` always exists (it may be empty); another exists once :func:`create_collection` made it."""
    name = validate_collection_name(name)
    return name == DEFAULT_COLLECTION or (collection_dir(index_dir, name) / MARKER_FILE).is_file()


def require_collection(index_dir: str | Path, name: str) -> Path:
    """The directory of an existing collection.

    :raises CollectionNotFoundError: it was never created (or was deleted), saying how to create it.
    """
    if not collection_exists(index_dir, name):
        raise CollectionNotFoundError(
            f"No collection {name!r} in {Path(index_dir).expanduser()}: create it with "
            f"`docqa collections create {name}`."
        )
    return collection_dir(index_dir, name)


def list_collections(index_dir: str | Path) -> list[str]:
    """Every collection of the index, ``default`` first, then by name."""
    folder = Path(index_dir).expanduser() / COLLECTIONS_DIR
    names = []
    if folder.is_dir():
        for child in folder.iterdir():
            if _NAME.match(child.name) and (child / MARKER_FILE).is_file():
                names.append(child.name)
    return [DEFAULT_COLLECTION, *sorted(names)]



def each_collection(
    index_dir: str | Path,
    run: Callable[[str, Callable[[int, int], None]], T],
    progress: Callable[[str, int, int], None] | None,
    verb: str,
) -> dict[str, T]:
    """``run(collection, progress)`` for every collection of the index that holds documents (one raising
    :class:`NotFoundError` holds none and is skipped), with ``progress(collection, done, total)``: what
    `docqa migrate` and `docqa reindex --all-collections` do collection by collection.

    :raises NotFoundError: no collection holds anything ("Nothing to ``verb``").
    """
    results: dict[str, T] = {}
    for name in list_collections(index_dir):
        def report_progress(done: int, total: int, name: str = name) -> None:
            if progress:
                progress(name, done, total)

        try:
            results[name] = run(name, report_progress)
        except NotFoundError:
            continue  # an empty collection: nothing to do
    if not results:
        raise NotFoundError(f"Nothing to {verb}: no collection of {index_dir} holds documents.")
    return results


def create_collection(index_dir: str | Path, name: str) -> CollectionInfo:
    """Create an empty collection (its folder and marker; passages come with the first ingest).

    :raises InvalidInputError: a bad name, or the collection exists already.
    """
    name = validate_collection_name(name)
    if collection_exists(index_dir, name):
        raise InvalidInputError(f"collection {name!r} exists already")
    directory = collection_dir(index_dir, name)
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / MARKER_FILE
    temporary = directory / f".{MARKER_FILE}.{uuid.uuid4().hex}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"name": name}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, marker)  # the collection exists from this rename on, complete
    return CollectionInfo(name, directory)


def delete_collection(index_dir: str | Path, name: str, store_spec: str | None = None) -> None:
    """Delete collection ``name`` and everything in it: passages, uploads, FAQ, feedback (and its
    Milvus collection when ``store_spec`` names Milvus).

    The folder is first renamed out of the listing (atomic), so a crash part-way leaves either the whole
    collection or none of it listed; leftovers of such a crash are removed by the next delete or create.

    :raises InvalidInputError: ``default`` (delete its documents instead, `docqa delete`).
    :raises CollectionNotFoundError: no such collection.
    """
    name = validate_collection_name(name)
    if name == DEFAULT_COLLECTION:
        raise InvalidInputError(
            "the default collection cannot be deleted; remove its documents with `docqa delete`"
        )
    directory = require_collection(index_dir, name)
    if store_spec is not None and store_spec.strip() not in ("", "local"):
        from docqa.pipelines.document_stores.factory import open_store  # Milvus client only when used

        bundle = open_store(milvus_collection_spec(store_spec, name), directory, "unused")
        bundle.search.drop()  # type: ignore[attr-defined]  # Milvus search stores can drop their collection
    trash = directory.parent / f"{_TRASH_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    os.replace(directory, trash)
    _remove_trash(directory.parent)


def _remove_trash(folder: Path) -> None:
    for child in folder.iterdir():
        if child.name.startswith(_TRASH_PREFIX):
            shutil.rmtree(child, ignore_errors=True)


def milvus_collection_spec(spec: str, name: str) -> str:
    """The Milvus address of DocQA collection ``name``: ``default`` keeps the address's own collection
    (``docqa`` unless ``?collection=`` says otherwise); others get ``<base>__<name>`` with ``-`` written
    as ``_d`` and ``_`` as ``__`` (Milvus names allow letters, digits and ``_`` only; the escaping keeps
    ``a-b`` and ``a_b`` apart)."""
    from docqa.pipelines.document_stores.milvus.client import parse_milvus_address

    name = validate_collection_name(name)
    if name == DEFAULT_COLLECTION:
        return spec
    base = parse_milvus_address(spec).collection
    escaped = name.replace("_", "__").replace("-", "_d")
    target = f"{base}__{escaped}"
    if re.search(r"[?&]collection=", spec):
        return re.sub(r"([?&]collection=)[^&]*", lambda m: m.group(1) + target, spec)
    return spec + ("&" if "?" in spec else "?") + f"collection={target}"


def open_collection_store(
    store_spec: str | None, index_dir: str | Path, name: str, embedding_model: str
) -> StoreBundle:
    """The store of collection ``name`` of the index at ``index_dir`` (see :func:`open_store`).

    :raises CollectionNotFoundError: the collection does not exist.
    """
    from docqa.pipelines.document_stores.factory import is_local, open_store

    directory = require_collection(index_dir, name)
    spec = store_spec if is_local(store_spec) else milvus_collection_spec(str(store_spec), name)
    return open_store(spec, directory, embedding_model)
