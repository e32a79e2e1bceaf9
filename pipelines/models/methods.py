"""DocQA's model methods (``DocQA.models``, ``use_model``, ``prune_models``, ``improve``), kept beside the
registry rather than in the facade (as the feedback methods are), so ``pipelines/api.py`` stays composition.

Which reader answers: the collection's active promoted model when there is one
(:mod:`docqa.pipelines.models.registry`), else the configured reader. ``DocQA.reader_and_info`` asks
:meth:`ModelMethods.answering_model` on every question (one ``stat`` of ``models/active.json``), so a
``docqa models use`` or an improve run in another process is followed by a running service at its next
question, as readers follow index commits.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from docqa.pipelines.components.readers.reader import DocQAReader
from docqa.pipelines.components.readers.selection import ReaderInfo, select_reader, shared_reader
from docqa.pipelines.model_loading import ModelUnavailableError
from docqa.pipelines.models.improve import ImproveResult, ImproveSettings, Progress, improve
from docqa.pipelines.models.jobs import ImproveJobs
from docqa.pipelines.models.registry import CONFIGURED, ModelEntry, ModelRegistry

READER_RETRY_SECONDS = 30.0  # a missing model is looked up again after this long, not on every question


class ModelMethods:
    """Mixed into :class:`docqa.pipelines.api.DocQA`, which provides the attributes below."""

    settings: Any
    local_index: Any
    _lock: Any
    _reader: Any
    _reader_stamp: int
    _reader_failure: Any
    _shared_reading: Any

    def model_registry(self) -> ModelRegistry:
        """The collection's registry (``<collection dir>/models``)."""
        registry = getattr(self, "_model_registry", None)
        if registry is None:
            registry = ModelRegistry(self.local_index.directory)
            self._model_registry = registry
        return registry

    def reader(self) -> DocQAReader:
        """The reader that answers, loaded on first use. :raises ModelUnavailableError: see message."""
        return self.reader_and_info()[0]

    def reader_info(self) -> ReaderInfo:
        """Which reader answers (the configured one, or the labelled compact fallback)."""
        return self.reader_and_info()[1]

    def reader_and_info(self) -> tuple[DocQAReader, ReaderInfo]:
        """The reader that answers (:meth:`answering_model`: the collection's active promoted model, else
        the configured reader), or — when it cannot be loaded and the fallback is on — the bundled compact
        reader with a notice saying so (see :mod:`docqa.pipelines.components.readers.selection`).

        :raises ModelUnavailableError: no reader at all; retried after ``READER_RETRY_SECONDS``.
        """
        with self._lock:
            stamp = self.model_registry().stamp()  # a promotion or `models use` elsewhere: reload
            if self._reader is not None and stamp == self._reader_stamp:
                return self._reader
            if self._reader_failure and time.monotonic() - self._reader_failure[0] < READER_RETRY_SECONDS:
                raise self._reader_failure[1]
            model, name = self.answering_model()
            try:
                reader, info = select_reader(
                    model,
                    self.settings.reader_backend,
                    loader=shared_reader,
                    allow_fallback=self.settings.reader_fallback,
                )
                self._reader = (reader, info if name == model else replace(info, name=name))
                self._reader_stamp = stamp
            except ModelUnavailableError as err:
                self._reader_failure = (time.monotonic(), err)
                raise
            self._reader_failure = None
            if self._shared_reading is not None:
                self._reader[0].share_batches(*self._shared_reading)
            return self._reader

    def answering_model(self) -> tuple[str, str]:
        """(what to load, how answers name it): the active promoted model's directory and ``models/N``,
        or the configured reader and its name."""
        entry = self.model_registry().active_entry()
        if entry is None:
            return self.settings.reader_model, self.settings.reader_model
        return str(entry.path), entry.name

    def models(self) -> dict[str, Any]:
        """The registry as the CLI, ``GET /models`` and the page show it: every promoted model (oldest
        first, with scores), which one answers, and the switch history."""
        registry = self.model_registry()
        active = registry.active_number()
        return {
            "active": active,
            "active_name": self.answering_model()[1],
            "configured": self.settings.reader_model,
            "models": [e.to_dict() for e in registry.entries()],
            "history": registry.history(),
        }

    def use_model(self, number: int) -> ModelEntry | None:
        """Answer with promoted model ``number`` from the next question on (0: the configured reader).

        :raises ModelNotFoundError: no such model in this collection.
        """
        self.model_registry().use(number)
        return None if number == CONFIGURED else self.model_registry().entry(number)

    def prune_models(self, keep: int) -> list[int]:
        """Delete all but the ``keep`` newest promoted models (never the active one); returns the numbers
        deleted."""
        return self.model_registry().prune(keep)

    def improve(
        self,
        settings: ImproveSettings | None = None,
        progress: Progress | None = None,
        records: list[Any] | None = None,
    ) -> ImproveResult:
        """Fine-tune the answering reader on this collection's feedback (or on ``records``) and promote
        it only if the gate says so (:mod:`docqa.pipelines.models.improve`)."""
        lock = self.improve_jobs().acquire_run()
        try:
            return improve(self, settings, progress, records)
        finally:
            lock.release()

    def improve_jobs(self) -> ImproveJobs:
        """The collection's background improve runs (the service's ``/jobs``, the page's button)."""
        return ImproveJobs(self.model_registry().path)

    def start_improve(self, settings: ImproveSettings | None = None) -> dict[str, Any]:
        """Start :meth:`improve` in a background thread; returns its job record (``id``, ``state``,
        ``stage``, ``progress``; ``result`` when done). Poll with ``improve_jobs().get(id)``.

        :raises ImproveBusyError: a run is already going in this collection.
        """
        params = {} if settings is None else {"dry_run": settings.dry_run, "margin": settings.gate.margin}
        return self.improve_jobs().start(
            lambda progress: improve(self, settings, progress).to_dict(), params=params
        )
