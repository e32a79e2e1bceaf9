"""The model registry of one collection: every reader ``docqa improve`` promoted, and which one answers.

Layout (in the collection's own directory, so ``<index>/models/`` for the default collection)::

    models/
      active.json        {"active": 3, "history": [{"at": ..., "active": 3, "by": "improve"}, ...]}
      1/ 2/ 3/           a reader directory each (weights, tokenizer, calibration.json, TRAINING.md)
        card.json        data, feedback count, scores with confidence intervals, parent, decision

Why per collection: a team's feedback trains its own reader; HR's corrections must not change how the
engineering collection is read. Why numbers and not names: ``docqa models use 2`` after a bad week is
what a rollback should look like, and the history of numbers is the Quality chart's x axis.

Model 0 is the configured reader (``DOCQA_READER_MODEL``, or the compact fallback): ``models use 0``
goes back to it without deleting anything. A promotion copies the candidate into ``models/.incoming-*``
and renames it into place before ``active.json`` points at it (written atomically), so a crash leaves
either the old active reader or the new one, never a half-copied directory that answers.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock

from docqa.atomic import atomic_write_json, fsync_dir
from docqa.errors import InvalidInputError, NotFoundError

MODELS_DIR = "models"
ACTIVE_FILE = "active.json"
CARD_FILE = "card.json"
LOCK_FILE = ".lock"
CONFIGURED = 0  # the number of the configured reader (nothing in models/)
MAX_HISTORY = 1000


class ModelNotFoundError(NotFoundError):
    """No promoted model with that number in this collection."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ModelEntry:
    """One promoted reader: its number, directory and card (see the module docstring)."""

    number: int
    path: Path
    card: dict[str, Any] = field(default_factory=dict)
    active: bool = False

    @property
    def name(self) -> str:
        """How answers, feedback and ``/ready`` name it: ``models/3``."""
        return f"{MODELS_DIR}/{self.number}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "active": self.active,
            "created": self.card.get("created"),
            "parent": self.card.get("parent"),
            "feedback_records": self.card.get("feedback_records"),
            "scores": self.card.get("scores", {}),
            "reason": self.card.get("reason"),
        }


class ModelRegistry:
    """The ``models/`` directory of one collection (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / MODELS_DIR
        self._thread_lock = threading.Lock()

    # ----- reading -----
    def entries(self) -> list[ModelEntry]:
        """Every promoted model, oldest first (directories without a card are ignored: not promoted)."""
        if not self.path.is_dir():
            return []
        active = self.active_number()
        out = []
        for child in self.path.iterdir():
            if not child.name.isdigit() or not (child / CARD_FILE).is_file():
                continue
            try:
                card = json.loads((child / CARD_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                card = {"error": "card.json unreadable"}
            number = int(child.name)
            out.append(ModelEntry(number, child, card, active=number == active))
        return sorted(out, key=lambda e: e.number)

    def entry(self, number: int) -> ModelEntry:
        """:raises ModelNotFoundError: no promoted model ``number`` in this collection."""
        for entry in self.entries():
            if entry.number == number:
                return entry
        raise ModelNotFoundError(f"no model {number} in this collection (docqa models list shows them)")

    def _state(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / ACTIVE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def active_number(self) -> int:
        """The number of the model that answers; :data:`CONFIGURED` (0) for the configured reader, also
        when ``active.json`` names a model whose directory is gone."""
        number = self._state().get("active", CONFIGURED)
        if not isinstance(number, int) or number == CONFIGURED:
            return CONFIGURED
        if not (self.path / str(number) / CARD_FILE).is_file():
            return CONFIGURED
        return number

    def active_entry(self) -> ModelEntry | None:
        number = self.active_number()
        return None if number == CONFIGURED else self.entry(number)

    def history(self) -> list[dict[str, Any]]:
        """Every switch of the active model (promotions and rollbacks), oldest first."""
        return list(self._state().get("history", []))

    def stamp(self) -> int:
        """Changes whenever the active model changes (a running service compares it per question)."""
        try:
            return (self.path / ACTIVE_FILE).stat().st_mtime_ns
        except OSError:
            return 0

    # ----- writing -----
    def _lock(self) -> FileLock:
        self.path.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path / LOCK_FILE), timeout=30)

    def add(self, model_dir: str | Path, card: dict[str, Any], *, activate: bool = True) -> ModelEntry:
        """Copy ``model_dir`` in as the next number with ``card``; make it the active model."""
        source = Path(model_dir)
        if not (source / "config.json").is_file():
            raise InvalidInputError(f"{source}: not a reader directory (no config.json)")
        with self._thread_lock, self._lock():
            number = max((e.number for e in self.entries()), default=CONFIGURED) + 1
            incoming = self.path / f".incoming-{uuid.uuid4().hex}"
            try:
                shutil.copytree(source, incoming, ignore=shutil.ignore_patterns("checkpoint*", "*.ckpt"))
                full = {**card, "number": number, "created": card.get("created") or now()}
                atomic_write_json(incoming / CARD_FILE, full)
                incoming.rename(self.path / str(number))
                fsync_dir(self.path)
            finally:
                shutil.rmtree(incoming, ignore_errors=True)
            if activate:
                self._set_active(number, by="improve")
        return self.entry(number)

    def use(self, number: int, *, by: str = "models use") -> int:
        """Make model ``number`` (0: the configured reader) the one that answers.

        :raises ModelNotFoundError: no such model.
        """
        with self._thread_lock, self._lock():
            if number != CONFIGURED:
                self.entry(number)
            self._set_active(number, by=by)
        return number

    def _set_active(self, number: int, *, by: str) -> None:
        state = self._state()
        history = [*state.get("history", []), {"at": now(), "active": number, "by": by}][-MAX_HISTORY:]
        atomic_write_json(self.path / ACTIVE_FILE, {"active": number, "history": history})

    def prune(self, keep: int) -> list[int]:
        """Delete all but the ``keep`` newest models; the active one is always kept. Returns the numbers
        deleted.

        :raises InvalidInputError: ``keep`` below 0.
        """
        if keep < 0:
            raise InvalidInputError(f"--keep must be 0 or more (got {keep})")
        with self._thread_lock, self._lock():
            entries = self.entries()
            newest = {e.number for e in entries[len(entries) - keep :]} if keep else set()
            removed = []
            for entry in entries:
                if entry.number in newest or entry.active:
                    continue
                # Rename first: a crash mid-delete leaves a hidden directory, never a numbered half model.
                doomed = self.path / f".deleting-{entry.number}-{uuid.uuid4().hex}"
                entry.path.rename(doomed)
                shutil.rmtree(doomed, ignore_errors=True)
                removed.append(entry.number)
            fsync_dir(self.path)
        return removed
