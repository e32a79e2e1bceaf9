"""Hand a file's parsed result from an upload's readability check to the ingest that follows it.

Why: the HTTP service checks every file of an upload before ingesting any (a batch with one unreadable
file changes nothing), and then the ingest loaded each file again — every upload was parsed twice, OCR
included. Now :func:`docqa.ingest.uploads.unreadable` keeps each readable file's
:class:`~docqa.ingest.loaded.LoadedFile` here, and the :class:`~docqa.ingest.ingestor.Ingestor` takes it
instead of loading the file again — only when the bytes are the same (the key holds the file's SHA-256,
which the ingest computes anyway) and OCR was asked for the same way.
:func:`docqa.ingest.uploads.settle_uploads` forgets whatever was not taken, and at most :data:`MAX_KEPT`
results are ever held, so a caller that checks files and never ingests them cannot make this grow.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from docqa.ingest.loaded import LoadedFile

MAX_KEPT = 64  # an upload batch is a handful of files; older entries are dropped first

_Key = tuple[str, str, bool]
_KEPT: OrderedDict[_Key, LoadedFile] = OrderedDict()
_LOCK = threading.Lock()


def _path(path: Path | str) -> str:
    return str(Path(path).resolve())


def keep(path: Path | str, sha256: str, loaded: LoadedFile, *, ocr: bool) -> None:
    """Remember ``loaded`` as the parse of ``path`` whose bytes hash to ``sha256``."""
    with _LOCK:
        _KEPT[(_path(path), sha256, ocr)] = loaded
        _KEPT.move_to_end((_path(path), sha256, ocr))
        while len(_KEPT) > MAX_KEPT:
            _KEPT.popitem(last=False)


def take(path: Path | str, sha256: str, *, ocr: bool) -> LoadedFile | None:
    """The kept parse of exactly these bytes at ``path`` (and forget it), or None."""
    with _LOCK:
        return _KEPT.pop((_path(path), sha256, ocr), None)


def forget(paths: Iterable[Path | str]) -> None:
    """Drop whatever is kept for ``paths`` (any content)."""
    drop = {_path(p) for p in paths}
    with _LOCK:
        for key in [key for key in _KEPT if key[0] in drop]:
            del _KEPT[key]


def kept() -> int:
    """How many parses are held (for tests)."""
    with _LOCK:
        return len(_KEPT)
