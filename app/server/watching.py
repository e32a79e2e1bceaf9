"""`docqa serve --watch PATH`: the service keeps its index in step with folders while it answers.

Why inside the service process and not a second `docqa ingest --watch`: one command to start and stop,
and the service's own :class:`docqa.pipelines.api.DocQA` ingests, so its models are loaded once. The watching
itself is :meth:`docqa.pipelines.api.DocQA.watch`, the same as `docqa ingest --watch`; changes commit
under the index's writer lock, so uploads through ``POST /documents`` and the watcher never lose each
other's work, and queries switch to each new snapshot as it is committed.

Started and stopped with the app's lifespan (:func:`docqa.app.server.app.create_app` ``watch=``): first a
catch-up (files added or changed while the service was down are ingested, indexed files under the
watched folders that are gone are removed), then every change as it happens, one log line each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from docqa.pipelines.api import DEFAULT_DEBOUNCE_S, FileResult

if TYPE_CHECKING:
    from docqa.pipelines.api import DocQA

log = logging.getLogger("docqa.watch")


def describe(result: FileResult) -> str:
    """One plain log line per change: status, path, size, and why (the CLI's line without colours)."""
    size = f" ({result.pages} pages, {result.passages} passages)" if result.passages else ""
    detail = result.reason or "; ".join(result.notes)
    return f"{result.status} {result.path}{size}" + (f" — {detail}" if detail else "")


class ServiceWatcher:
    """Run :meth:`DocQA.watch <docqa.pipelines.api.DocQA.watch>` over ``paths`` in a background thread.

    :param paths: folders (recursive) and files to keep indexed; they must exist at start.
    :param ocr: OCR scanned PDF pages and images (``--no-ocr`` turns it off).
    """

    def __init__(
        self,
        docqa: DocQA,
        paths: Iterable[Path | str],
        *,
        ocr: bool = True,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        lock_timeout: float = 30.0,
    ) -> None:
        self.docqa = docqa
        self.watcher = docqa.watch(
            paths, on_change=self._announce, ocr=ocr, debounce_s=debounce_s, lock_timeout=lock_timeout
        )
        self.paths = self.watcher.paths
        self._thread: threading.Thread | None = None

    def _announce(self, result: FileResult) -> None:
        log.info("watch: %s", describe(result))

    def catch_up(self) -> None:
        """Apply what changed while nobody watched: new and changed files, and indexed files now gone."""
        self.watcher.catch_up()

    def _run(self) -> None:
        try:
            self.catch_up()
        except Exception as err:  # noqa: BLE001 - a failed catch-up is logged; watching goes on
            log.error("watch: catching up with %s failed: %s", ", ".join(map(str, self.paths)), err)
        self.watcher.run()

    @property
    def ready(self) -> threading.Event:
        """Set once the catch-up is done and changes are being watched."""
        return self.watcher.ready

    def start(self) -> None:
        log.info("watch: keeping the index in step with %s", ", ".join(map(str, self.paths)))
        self._thread = threading.Thread(target=self._run, name="docqa-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching; a change being applied finishes its commit first (bounded by ``timeout``)."""
        self.watcher.stop()
        if self._thread is not None:
            self._thread.join(timeout)
