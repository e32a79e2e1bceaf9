"""Keep an index in step with folders while files come, change and go (``docqa ingest PATH --watch``).

Why changes go through the normal ingest and the index's own transactions: a watched folder must obey
the same rules as a one-off ingest — unchanged files are not re-embedded, a file that fails to load
leaves what the index holds for it alone, and every change is an atomic commit under the writer lock,
so killing the watcher at any moment (Ctrl-C, a crash) loses nothing that was committed.

Why debounced: saving one file produces a burst of events (an editor writes a temporary file, renames
it over the original, touches it again; a copy arrives in chunks). Events are collected until the
folder has been quiet for ``debounce_s`` seconds (or, under a constant stream, at most
``max_delay_s`` after the first one), then each touched path is applied once: paths that exist are
ingested (one call, so their embeddings are batched), paths that are gone are removed from the index,
directories included.

    watcher = FolderWatcher(["./manuals"], ingest=lambda paths: qa.ingest(paths), index=qa.index,
                            on_change=print)
    watcher.run()  # until Ctrl-C or watcher.stop()
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from docqa.ingest.ingestor import FAILED, REMOVED, UNCHANGED, FileResult, IngestReport, WritableIndex
from docqa.ingest.loaders import is_supported

DEFAULT_DEBOUNCE_S = 1.0
RETRY_DELAY_S = 5.0  # after a change failed to apply (e.g. another writer holds the index)


def ignored(path: Path) -> bool:
    """Files that are never documents: hidden files, editor backups, Office lock files, partial downloads."""
    name = path.name
    return name.startswith((".", "~$")) or name.endswith(("~", ".tmp", ".part", ".crdownload", ".swp"))


class FolderWatcher:
    """Watch files and folders; apply additions, changes and deletions to the index as they happen.

    :param roots: folders (watched recursively) and single files.
    :param ingest: indexes the given paths and reports per file (e.g. ``DocQA.ingest``).
    :param index: the index deletions are committed to (its writer lock is waited for up to
        ``lock_timeout`` seconds).
    :param on_change: called with one :class:`FileResult` per change (added, updated, failed, removed...).
    """

    def __init__(
        self,
        roots: Iterable[Path | str],
        *,
        ingest: Callable[[list[Path]], IngestReport],
        index: WritableIndex,
        on_change: Callable[[FileResult], None],
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        max_delay_s: float | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        self.roots = [Path(root).expanduser().resolve() for root in roots]
        self.ingest = ingest
        self.index = index
        self.on_change = on_change
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s if max_delay_s is not None else max(10.0, 10 * debounce_s)
        self.lock_timeout = lock_timeout
        self._pending: dict[Path, None] = {}  # insertion-ordered set of touched paths
        self._first_event = 0.0
        self._last_event = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the observer is watching (tests wait for it)

    # ----- events -----
    def _watched(self, path: Path) -> bool:
        """A watched file, or a path in a watched folder but not in a hidden folder (``.git``), like ingest.

        A folder root that was itself deleted still counts, so its files are removed from the index.
        """
        for root in self.roots:
            if path == root:
                return True
            if not root.is_file() and path.is_relative_to(root):
                return not any(part.startswith(".") for part in path.relative_to(root).parts[:-1])
        return False

    def notice(self, path: Path | str) -> None:
        """Record that ``path`` changed (called by the observer thread; usable directly in tests)."""
        path = Path(os.fsdecode(path))
        if ignored(path) or not self._watched(path):
            return
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._first_event = now
            self._pending[path] = None
            self._last_event = now

    def _handler(self):
        from watchdog.events import FileSystemEventHandler

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if event.is_directory and event.event_type == "modified":
                    return  # a file inside changed; that file has its own event
                watcher.notice(event.src_path)
                if getattr(event, "dest_path", ""):
                    watcher.notice(event.dest_path)

        return Handler()

    def _take_batch(self) -> list[Path]:
        with self._lock:
            if not self._pending:
                return []
            now = time.monotonic()
            quiet = now - self._last_event >= self.debounce_s
            overdue = now - self._first_event >= self.max_delay_s
            if not (quiet or overdue):
                return []
            batch = list(self._pending)
            self._pending.clear()
            return batch

    # ----- applying -----
    def apply(self, paths: Sequence[Path]) -> list[FileResult]:
        """Bring the index in line with these touched paths; report (and announce) each change."""
        existing = [p for p in paths if p.is_dir() or (p.is_file() and is_supported(p))]
        gone = [p for p in paths if not p.exists()]
        results: list[FileResult] = []
        if gone:
            results.extend(self._remove(gone))
        if existing:
            report = self.ingest(existing)
            results.extend(r for r in report.results if r.status != UNCHANGED)
        for result in results:
            self.on_change(result)
        return results

    def _remove(self, gone: list[Path]) -> list[FileResult]:
        """Drop indexed files at or under the vanished paths, in one commit."""
        prefixes = [str(p) for p in gone]
        with self.index.transaction(timeout=self.lock_timeout) as transaction:
            keys = [
                key
                for key in transaction.files
                if any(key == prefix or key.startswith(prefix.rstrip(os.sep) + os.sep) for prefix in prefixes)
            ]
            removed = transaction.remove_files(keys)
            if removed:
                transaction.commit()
        return [FileResult(path=source.key, status=REMOVED, reason="file deleted") for source in removed]

    # ----- running -----
    def run(self) -> None:
        """Watch until :meth:`stop` or Ctrl-C; a change that fails to apply is reported and retried."""
        from watchdog.observers import Observer

        observer = Observer()
        handler = self._handler()
        for root in self.roots:
            if root.is_dir():
                observer.schedule(handler, str(root), recursive=True)
            else:
                observer.schedule(handler, str(root.parent), recursive=False)
        observer.start()
        self.ready.set()
        try:
            while not self._stop.is_set():
                batch = self._take_batch()
                if batch:
                    try:
                        self.apply(batch)
                    except Exception as err:  # e.g. another writer holds the index lock
                        shown = ", ".join(map(str, batch[:3]))
                        self.on_change(FileResult(path=shown, status=FAILED, reason=f"{err} (will retry)"))
                        with self._lock:  # try again a few seconds later
                            for path in batch:
                                self._pending.setdefault(path, None)
                            self._first_event = self._last_event = time.monotonic() + RETRY_DELAY_S
                self._stop.wait(min(0.2, self.debounce_s / 2))
        finally:
            observer.stop()
            observer.join(timeout=5)

    def stop(self) -> None:
        self._stop.set()
