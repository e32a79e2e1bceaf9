"""One way to replace a file so that a crash never leaves it half written.

Write to a temporary file in the same directory, flush and fsync it, ``os.replace`` it over the target
(atomic on POSIX and Windows), then fsync the directory so the rename itself survives a power cut.
Readers see the old file or the new one, never a mix. Used for the index pointer and manifests, the FAQ,
calibration, training checkpoints' metadata and uploads.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


def _read_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which is not thread-safe later.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def _new_file_mode(target: Path) -> int:
    """The mode the replacement gets: the target's own, or what ``open()`` would give a new file.

    ``mkstemp`` creates 0600 files; without this, an atomic rewrite would silently lock out other users
    (e.g. a service account reading the index).
    """
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def fsync_dir(directory: Path) -> None:
    """Make a rename or new file in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path | str, *, durable: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary file handle; on a clean exit its bytes atomically replace ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _new_file_mode(target))
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(target.parent)


def atomic_write_bytes(path: Path | str, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (see module docstring)."""
    with atomic_writer(path, durable=durable) as handle:
        handle.write(data)


def atomic_write_text(path: Path | str, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: Path | str, data: Any, *, indent: int | None = 2, durable: bool = True) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n", durable=durable)
