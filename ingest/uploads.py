"""The one place that stores files a user uploads (the Streamlit page and the HTTP service both use it).

Why one module: the two front ends used to keep uploads in different layouts (the page in
``uploads/<name>``, the service in ``uploads/<random id>/<name>``), so each misrecognised the other's files;
deleting a document on the page left the service's copy on disk. Now both call this module.

Layout: ``<index dir>/uploads/<safe name>``, flat. The safe name *is* an upload's identity, as the path is
for `docqa ingest`: uploading ``harbour.txt`` again, from either front end, replaces the earlier upload of
that name (same file on disk, so the ingest reports it ``updated`` or ``unchanged`` and the index keeps one
document). A random folder per upload would only add a second, hidden identity. Folders
``uploads/<32 hex>/<name>`` written by older versions of the service are still recognised as uploads
(see :func:`upload_name`, :func:`superseded`), so they can be replaced and deleted.

Staging: :func:`stage_uploads` writes each file atomically (:mod:`docqa.atomic`) and keeps the earlier
copy of that name aside (a hard link, so the name never points at nothing); :func:`settle_uploads`, given
the ingest's :class:`~docqa.ingest.ingestor.IngestReport`, keeps what the index now holds and puts the earlier
copy back for a file that failed, was skipped or was never ingested. Bytes identical to the earlier copy
leave the file untouched, so the ingest sees it unchanged and commits nothing.

One batch at a time, across processes: :func:`upload_lock` is a file lock (``<index>/uploads.lock``, freed
by the OS even on ``kill -9``) that gives up after ``timeout`` seconds with :class:`UploadsBusyError`
(HTTP 423). It used to be a thread lock without a timeout: a second upload waited, silently, for as long
as the first one ingested — an hour for a 50 MB text.

A batch killed between staging and settling (a crash, ``kill -9``) would leave its new files in
``uploads/`` whatever the index says. So staging first writes a journal (``<index>/uploads.staging/
<id>.json``: the names of the batch), settling removes it, and :func:`recover_staged` — run by the next
batch and when DocQA opens the index — settles every journal left behind by what the index holds: a file
whose content the index holds (wholly, or in part: a partially indexed big file) is kept, any other is put
back to its earlier copy or removed. Uploads no journal names are never touched.

Example::

    with upload_lock(index_dir, timeout=5.0):
        recover_staged(index_dir, indexed.get)
        staged = stage_uploads(index_dir, [("report.PDF", data)])
        report = None
        try:
            report = qa.ingest([s.path for s in staged])
        finally:
            results = settle_uploads(staged, report)   # restores the earlier copies if ingest raised
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from filelock import FileLock, Timeout

from docqa.atomic import atomic_write_json, atomic_writer, fsync_dir
from docqa.errors import BusyError
from docqa.ingest import parsed
from docqa.ingest.ingestor import FAILED, SKIPPED, FileResult, IngestReport
from docqa.ingest.records import SourceFile, file_sha256

UPLOADS_DIRNAME = "uploads"
LOCK_NAME = "uploads.lock"  # <index>/uploads.lock: held while a batch is staged, ingested and settled
JOURNALS_DIRNAME = "uploads.staging"  # <index>/uploads.staging/<id>.json: names of a batch not yet settled
MAX_NAME_CHARS = 120
# File systems limit a name to 255 *bytes* (ext4, XFS, APFS...), and a CJK character is 3 bytes in UTF-8: an
# 85-character Chinese name was a 500 ("File name too long"). 200 leaves room for the names made from it in
# the same folder: ".<name>.previous" (+10 bytes), atomic_writer's ".<name>.XXXXXXXX.tmp" (+14) and the
# "-NN" of a name repeated in one batch.
MAX_NAME_BYTES = 200
MAX_SUFFIX_CHARS = 16
_PREVIOUS = ".previous"  # ".<name>.previous": the earlier copy while a batch is staged
_UNSAFE = re.compile(r"[^\w.\- ()+,@=]+", re.UNICODE)
_LEGACY_FOLDER = re.compile(r"[0-9a-f]{32}")  # uuid4().hex folders of the pre-2026 service layout
_CHUNK = 1 << 20

UploadData = bytes | BinaryIO


def safe_upload_name(raw: str | None, default_stem: str = "upload") -> str:
    """A harmless single path component derived from a client's file name, keeping its extension.

    The client's name is untrusted. Directory parts (``/`` and ``\\``), NUL and other control characters,
    leading dots (hidden files) and anything outside a conservative character set are removed, so the
    result can never name a parent directory, an absolute path or a hidden file. The extension is
    lower-cased (``report.PDF`` and ``report.pdf`` are one upload) and the length is bounded: at most
    :data:`MAX_NAME_CHARS` characters and :data:`MAX_NAME_BYTES` bytes of UTF-8, the stem cut on a character
    boundary, the extension kept.
    """
    name = unicodedata.normalize("NFKC", raw or "")
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # NUL, control, format chars
    name = PurePosixPath(name.replace("\\", "/")).name
    name = _UNSAFE.sub("_", name).strip(" ._")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = re.sub(r"[^0-9A-Za-z]", "", suffix).lower()[:MAX_SUFFIX_CHARS]
    stem = stem.strip(" ._-")[: MAX_NAME_CHARS - len(suffix) - 1]
    stem = _cut_utf8(stem, MAX_NAME_BYTES - len(suffix) - 1).rstrip(" ._-") or default_stem
    return f"{stem}.{suffix}" if suffix else stem


def _cut_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` that is at most ``max_bytes`` in UTF-8 (never half a character)."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def uploads_dir(index_dir: Path | str) -> Path:
    """``<index dir>/uploads``, resolved: the only folder uploads are ever written to."""
    return Path(index_dir).expanduser().resolve() / UPLOADS_DIRNAME


def upload_name(key: str | Path, index_dir: Path | str) -> str | None:
    """The upload name of an indexed file (its source key), or None when it is not one of our uploads.

    Recognises ``uploads/<name>`` and the older service layout ``uploads/<32 hex>/<name>``; files the
    user ingested from elsewhere on disk are never uploads, whatever their name.
    """
    path = Path(key)
    root = uploads_dir(index_dir)
    if path.name.startswith("."):
        return None
    if path.parent == root:
        return path.name
    if path.parent.parent == root and _LEGACY_FOLDER.fullmatch(path.parent.name):
        return path.name
    return None


def is_upload(key: str | Path, index_dir: Path | str) -> bool:
    """True when the indexed file ``key`` is a copy this module saved (so deleting it may delete the file)."""
    return upload_name(key, index_dir) is not None


def remove_upload(key: str | Path, index_dir: Path | str) -> bool:
    """Delete the saved copy of an upload whose document was deleted; True when something was removed.

    Anything that is not one of our uploads is left alone: a document ingested from the user's own
    folders is only dropped from the index, never deleted from disk.
    """
    if not is_upload(key, index_dir):
        return False
    path = Path(key)
    if path.parent == uploads_dir(index_dir):
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)
        return True
    shutil.rmtree(path.parent, ignore_errors=True)  # legacy layout: the per-upload folder goes too
    return not path.parent.exists()


@dataclass
class StagedUpload:
    """One file written by :func:`stage_uploads`, waiting for :func:`settle_uploads`."""

    client_name: str  # as the client sent it (for reports)
    name: str  # the safe name it is stored and indexed under
    path: Path  # uploads/<name>: what to hand to the ingest
    previous: Path | None = None  # the earlier upload of this name, kept aside until settled
    unchanged: bool = False  # same bytes as the earlier upload: the file was not touched
    journal: Path | None = None  # the batch's journal (see the module docstring), removed when settled


Lookup = Callable[[str], SourceFile | None]  # indexed key → its manifest record (None: not indexed)


class UploadsBusyError(BusyError):
    """Another batch of uploads is being added to this index (:func:`upload_lock` timed out)."""


@contextmanager
def upload_lock(index_dir: Path | str, timeout: float = 5.0) -> Iterator[None]:
    """Hold while staging, ingesting and settling a batch: one batch at a time, in any process, decides
    what replaces what (two batches staging the same name would otherwise share a kept-aside copy).

    :raises UploadsBusyError: another batch held it for ``timeout`` seconds (0: do not wait).
    """
    directory = Path(index_dir).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(directory / LOCK_NAME))
    try:
        lock.acquire(timeout=max(0.0, timeout))
    except Timeout:
        raise UploadsBusyError(
            f"Another upload is being added to the index at {directory} (a big file can take minutes). "
            "Nothing of this upload was saved; try again in a little while."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _same_bytes(data: UploadData, path: Path) -> bool:
    """True when ``path`` exists and holds exactly ``data`` (a stream is rewound afterwards)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if isinstance(data, bytes):
        return size == len(data) and path.read_bytes() == data
    data.seek(0, os.SEEK_END)
    if data.tell() != size:
        return False
    data.seek(0)
    try:
        with open(path, "rb") as existing:
            while True:
                ours, theirs = data.read(_CHUNK), existing.read(_CHUNK)
                if ours != theirs:
                    return False
                if not ours:
                    return True
    finally:
        data.seek(0)


def _keep_aside(target: Path) -> Path:
    """Keep the current ``target`` reachable as ``.<name>.previous`` while ``target`` is replaced.

    A hard link, so ``target`` itself always exists (a crash never leaves the indexed name pointing at
    nothing); a copy where the file system has no hard links.
    """
    previous = target.with_name(f".{target.name}{_PREVIOUS}")
    previous.unlink(missing_ok=True)  # a leftover of a crashed batch: the live file is the truth
    try:
        os.link(target, previous)
    except OSError:
        shutil.copy2(target, previous)
    return previous


def stage_uploads(
    index_dir: Path | str, files: Iterable[tuple[str | None, UploadData]], *, default_stem: str = "upload"
) -> list[StagedUpload]:
    """Save uploaded files as ``uploads/<safe name>``; the earlier upload of a name is kept aside.

    ``files`` are ``(client file name, bytes or a seekable binary stream)``. Two files of one batch whose
    safe names collide are stored as ``name-2.ext``, ``name-3.ext``... Call :func:`settle_uploads`
    afterwards in every case (also when the ingest raised), under :func:`upload_lock` — and
    :func:`recover_staged` before, so a killed batch's files are settled before this one touches them.
    """
    folder = uploads_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[StagedUpload] = []
    named: list[tuple[str, str | None, UploadData]] = []
    taken: set[str] = set()
    for client_name, data in files:
        name = safe_upload_name(client_name, default_stem)
        stem, suffix = os.path.splitext(name)
        counter = 2
        while name in taken:
            name = f"{stem}-{counter}{suffix}"
            counter += 1
        taken.add(name)
        named.append((name, client_name, data))
    if not named:
        return staged
    # Before any file is written: a batch killed from here on is settled by recover_staged.
    journal = journals_dir(index_dir) / f"{uuid.uuid4().hex}.json"
    atomic_write_json(journal, {"names": [name for name, _, _ in named]})
    try:
        for name, client_name, data in named:
            target = folder / name
            if _same_bytes(data, target):
                staged.append(StagedUpload(client_name or "", name, target, unchanged=True, journal=journal))
                continue
            previous = _keep_aside(target) if target.exists() else None
            item = StagedUpload(client_name or "", name, target, previous, journal=journal)
            staged.append(item)
            with atomic_writer(target) as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    data.seek(0)
                    shutil.copyfileobj(data, out, _CHUNK)
    except BaseException:
        settle_uploads(staged, None)
        _remove_journal(journal)
        raise
    return staged


def unreadable(staged: list[StagedUpload], *, ocr: bool = True) -> list[tuple[StagedUpload, str]]:
    """The staged files the ingest could not read (corrupt, encrypted, scanned, empty, over a limit),
    with the reason.

    Checked with the ingest's own loader *before* ingesting, for a front end that refuses a whole batch
    when one file is bad (the service: a failed upload never changes the index). Each readable file's
    parse is kept (:mod:`docqa.ingest.parsed`) for the ingest that follows, so an upload is parsed once;
    :func:`settle_uploads` drops what the ingest did not use. Every failure is a reason, never an
    exception: a parser's own error on a hostile file is reported like any other unreadable file.
    """
    from docqa.ingest.limits import Limits
    from docqa.ingest.loaders import LoadError, load_file, unexpected_reason

    limits = Limits.from_env()
    problems = []
    for item in staged:
        try:
            sha = file_sha256(item.path)
            loaded = load_file(item.path, ocr=ocr, limits=limits)
        except LoadError as err:
            problems.append((item, str(err)))
        except OSError as err:
            problems.append((item, f"cannot read file: {err.strerror or err}"))
        except Exception as err:  # load_file maps parser errors already; this is the last guard
            problems.append((item, unexpected_reason(item.path, err)))
        else:
            parsed.keep(item.path, sha, loaded, ocr=ocr)
    return problems


def results_for(staged: list[StagedUpload], report: IngestReport | None) -> list[FileResult | None]:
    """The ingest report's line for each staged file (None where the ingest did not report it)."""
    by_path: dict[Path, FileResult] = {}
    if report is not None:
        for result in report.results:
            by_path[Path(result.path).resolve()] = result  # report paths may be relative to the cwd
    return [by_path.get(item.path.resolve()) for item in staged]


def settle_uploads(
    staged: list[StagedUpload], report: IngestReport | None, lookup: Lookup | None = None
) -> list[FileResult | None]:
    """Keep the uploads the index now holds; put back the earlier copy (or remove the new file) for a file
    that failed, was skipped, or was not ingested at all (``report`` None: the ingest raised or never ran),
    so the file on disk always matches what the index says about it. Returns :func:`results_for`.

    ``lookup`` (the index's records, read after the ingest) decides for a file the report has no line
    for: an ingest that raised may have committed it in an earlier checkpoint. Ends the batch's journal.
    """
    results = results_for(staged, report)
    parsed.forget(item.path for item in staged)  # parses the ingest did not take (docqa.ingest.parsed)
    touched: set[Path] = set()
    for item, result in zip(staged, results, strict=True):
        if item.unchanged:
            continue
        if result is None and lookup is not None:
            keep = indexed_as_on_disk(item.path, lookup)
        else:
            keep = result is not None and result.status not in (FAILED, SKIPPED)
        if keep:
            if item.previous is not None:
                item.previous.unlink(missing_ok=True)
        elif item.previous is not None:
            os.replace(item.previous, item.path)
        else:
            item.path.unlink(missing_ok=True)
        touched.add(item.path.parent)
    for folder in touched:
        fsync_dir(folder)
    for journal in {item.journal for item in staged if item.journal is not None}:
        _remove_journal(journal)
    return results


def superseded(
    staged: list[StagedUpload],
    results: list[FileResult | None],
    indexed_keys: Iterable[str],
    index_dir: Path | str,
) -> list[str]:
    """Indexed keys of older uploads that a kept upload of the same name replaces.

    Only the older service layout (``uploads/<id>/<name>``) produces these: a flat upload replaces its
    predecessor in place. The caller deletes them from the index, then :func:`remove_upload` each.
    """
    kept = {
        item.name: str(item.path)
        for item, result in zip(staged, results, strict=True)
        if result is not None and result.status not in (FAILED, SKIPPED)
    }
    out = []
    for key in indexed_keys:
        name = upload_name(key, index_dir)
        if name in kept and key != kept[name]:
            out.append(key)
    return out


def indexed_as_on_disk(path: Path, lookup: Lookup) -> bool:
    """True when the index holds ``path`` with the content it has on disk (wholly or, for a big file
    stopped in its parts, in part)."""
    record = lookup(str(path))
    if record is None:
        return False
    try:
        return record.sha256 == file_sha256(path)
    except FileNotFoundError:
        return False


def journals_dir(index_dir: Path | str) -> Path:
    """``<index>/uploads.staging``: one journal per batch between staging and settling."""
    return Path(index_dir).expanduser().resolve() / JOURNALS_DIRNAME


def _remove_journal(journal: Path) -> None:
    journal.unlink(missing_ok=True)
    fsync_dir(journal.parent)


def has_unsettled_batches(index_dir: Path | str) -> bool:
    """True when a batch's journal exists: one is being staged now, or was killed (a small folder's
    listing: cheap enough for every open)."""
    try:
        return any(journals_dir(index_dir).glob("*.json"))
    except OSError:
        return False


def recover_staged(index_dir: Path | str, lookup: Lookup) -> dict[str, list[str]]:
    """Settle the files of batches killed between staging and settling (call under :func:`upload_lock`,
    so no live batch is among them): each file a journal names is kept if the index holds its content
    (wholly or in part), else put back to its earlier copy, else removed; then the journal goes.

    :returns: the names ``kept``, ``restored`` and ``removed`` (all empty when there was no journal).
    """
    folder, journals = uploads_dir(index_dir), journals_dir(index_dir)
    done: dict[str, list[str]] = {"kept": [], "restored": [], "removed": []}
    if not journals.is_dir():
        return done
    for journal in sorted(journals.glob("*.json")):
        try:
            names = json.loads(journal.read_text(encoding="utf-8")).get("names", [])
        except (OSError, ValueError, AttributeError):
            names = []  # written atomically, so never half written: unreadable means not ours to act on
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str) and safe_upload_name(name) == name:  # never follow another path
                done[_recover_one(folder, name, lookup)].append(name)
        _remove_journal(journal)
    for leftover in journals.glob(".*.tmp"):  # a journal killed while being written: its batch wrote nothing
        leftover.unlink(missing_ok=True)
    return done


def _recover_one(folder: Path, name: str, lookup: Lookup) -> str:
    """Settle one file of a killed batch (see :func:`recover_staged`); returns what was done."""
    path, previous = folder / name, folder / f".{name}{_PREVIOUS}"
    for leftover in folder.glob(f".{glob.escape(name)}.*.tmp"):  # atomic_writer's, killed mid-write
        leftover.unlink(missing_ok=True)
    if path.exists() and indexed_as_on_disk(path, lookup):
        previous.unlink(missing_ok=True)
        outcome = "kept"
    elif previous.exists():
        os.replace(previous, path)
        outcome = "restored"
    else:
        path.unlink(missing_ok=True)
        outcome = "removed"
    fsync_dir(folder)
    return outcome
