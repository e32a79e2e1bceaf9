"""Keeping an index in step with folders: what :meth:`docqa.pipelines.api.DocQA.watch` returns to
`docqa ingest --watch` and `docqa serve --watch` (which `docqa ui --watch` runs in a child process).

Why a DocQA method: both front ends used to build an :class:`~docqa.ingest.watcher.FolderWatcher` around
``DocQA.ingest`` themselves, each deciding the lock timeout and what "catching up" means; now they only
say what to do with each change (print a line, log a line) and where to run it (the foreground, a thread).
The watching rules themselves — debouncing, ignored files, every change an atomic commit — are
:mod:`docqa.ingest.watcher`'s.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from docqa.errors import InvalidInputError
from docqa.ingest.ingestor import FileResult, IngestReport
from docqa.ingest.watcher import DEFAULT_DEBOUNCE_S, FolderWatcher

if TYPE_CHECKING:
    from docqa.pipelines.api import DocQA


class IndexWatcher:
    """Applies every change under ``paths`` to ``qa``'s index; ``on_change`` hears one line per change.

    :raises InvalidInputError: a path that does not exist (a watch must start from something real).
    """

    def __init__(
        self,
        qa: DocQA,
        paths: Iterable[Path | str],
        *,
        on_change: Callable[[FileResult], None],
        ocr: bool = True,
        checkpoint_every: int = 512,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        lock_timeout: float = 30.0,
    ) -> None:
        self.qa = qa
        self.paths = [Path(p).expanduser().resolve() for p in paths]
        missing = [str(p) for p in self.paths if not p.exists()]
        if missing:
            raise InvalidInputError(f"Cannot watch {', '.join(missing)}: no such file or folder.")
        self.ocr = ocr
        self.checkpoint_every = checkpoint_every
        self.lock_timeout = lock_timeout
        self.watcher = FolderWatcher(
            self.paths,
            ingest=self._ingest,
            index=qa.index,
            on_change=on_change,
            debounce_s=debounce_s,
            lock_timeout=lock_timeout,
        )

    def _ingest(self, paths: list[Path]) -> IngestReport:
        return self.qa.ingest(
            paths, ocr=self.ocr, checkpoint_every=self.checkpoint_every, lock_timeout=self.lock_timeout
        )

    @property
    def ready(self) -> threading.Event:
        """Set once changes are being watched (after :meth:`run` started)."""
        return self.watcher.ready

    def catch_up(self) -> list[FileResult]:
        """Apply what changed while nobody watched: new and changed files, and indexed files under the
        watched paths that are gone. Each change is also announced to ``on_change``."""
        under = [str(p) for p in self.paths]
        gone = [
            Path(doc.key)
            for doc in self.qa.documents()
            if not Path(doc.key).exists()
            and any(doc.key == root or doc.key.startswith(root.rstrip(os.sep) + os.sep) for root in under)
        ]
        return self.watcher.apply([*gone, *self.paths])

    def run(self) -> None:
        """Watch until :meth:`stop` (or Ctrl-C, which propagates); a change that fails is retried."""
        self.watcher.run()

    def stop(self) -> None:
        self.watcher.stop()
