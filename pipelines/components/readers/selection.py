"""Choose the reader: the configured model, or the bundled compact reader — always saying which.

Why: on a machine that cannot reach the model hub (air-gapped sites, these machines) the configured
reader (default ``deepset/bert-base-cased-squad2``) cannot be loaded, and without a reader ``docqa ask``
and the page can only list passages. DocQA ships a small reader trained from the packaged MiniLM encoder
(``data/compact-reader``, see its TRAINING.md) and falls back to it — but it is much weaker, so every
place that shows an answer must say so: :class:`ReaderInfo` carries the label (``notice``) to show.

- configured model loads → it is used, no notice;
- it cannot be loaded and ``allow_fallback`` → the compact reader, ``is_fallback=True``, a notice that
  names the lower accuracy, the reason and how to install the full reader;
- ``DOCQA_READER_MODEL=compact`` (model ``"compact"``) → the compact reader on purpose: no fallback
  wording, but still the lower-accuracy label;
- ``allow_fallback=False`` (``--no-fallback``) → the configured model's ``ModelUnavailableError`` propagates.

The compact reader is found through :func:`docqa.resources.data_path` (``data/compact-reader`` in the
repository, installed as the package ``docqa.data``), so editable installs and wheels both have it; never
through the development-only ``../shared``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from docqa.config import DEFAULT_READER_MODEL, READER_MODEL
from docqa.pipelines.components.readers.backends import ReaderBackendName
from docqa.pipelines.components.readers.reader import DocQAReader
from docqa.pipelines.model_loading import ModelUnavailableError
from docqa.resources import data_path

COMPACT_READER = "compact"
COMPACT_LABEL = "compact offline reader — lower accuracy"


def compact_reader_dir() -> Path:
    """Where the bundled compact reader lives in this installation."""
    return data_path("compact-reader")


class CompactReaderMissingError(ModelUnavailableError):
    """The bundled compact reader is not in this installation (e.g. a copy without ``data/``)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(COMPACT_READER, "reader", f"no model in {directory}", READER_MODEL)
        self.args = (f"The bundled compact reader is missing from this installation: {directory} holds no "
                     f"model. Reinstall DocQA from its repository (the reader ships in data/compact-reader), "
                     f"or set {READER_MODEL} to another reader.",)

    def __str__(self) -> str:
        return self.args[0]


def install_how_to(model: str) -> str:
    """One sentence on getting ``model`` onto this machine (Hub id or a local directory)."""
    if Path(model).expanduser().is_absolute() or model.startswith((".", "~")) or model.count("/") != 1:
        return (f"put the model files (config.json, weights, tokenizer) in {model} or point "
                f"{READER_MODEL} at a directory that holds them")
    name = Path(model).name
    return (f"on a machine with internet access run `huggingface-cli download {model} --local-dir ./{name}`, "
            f"copy ./{name} here and `export {READER_MODEL}=/path/to/{name}`")


def compact_notice(full_model: str = DEFAULT_READER_MODEL) -> str:
    """The label shown with every answer of the compact reader."""
    return f"{COMPACT_LABEL}; install {full_model} for full quality (how: {install_how_to(full_model)})"


@dataclass(frozen=True)
class ReaderInfo:
    """Which reader answers, for the CLI, the page and the API's ``reader`` field.

    :ivar name: the model that answers: the configured model id/path, or ``"compact"``.
    :ivar path: its local directory.
    :ivar is_fallback: the compact reader stands in for a configured model that could not be loaded.
    :ivar is_compact: the answers come from the compact reader (fallback or chosen).
    :ivar notice: text to show next to answers (``None`` for the full configured reader).
    :ivar requested: the model that was configured.
    :ivar fallback_reason: why the configured model could not be loaded (fallback only).
    """

    name: str
    path: str
    is_fallback: bool
    is_compact: bool
    notice: str | None
    requested: str
    fallback_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BackendChoice = str | ReaderBackendName
Loader = Callable[[str, BackendChoice], DocQAReader]


def _load(model: str, backend: BackendChoice) -> DocQAReader:
    reader = DocQAReader(model=model, backend=backend)
    reader.warm_up()
    return reader


def _load_compact(backend: BackendChoice, loader: Loader | None) -> DocQAReader:
    directory = compact_reader_dir()
    if not (directory / "config.json").exists():
        raise CompactReaderMissingError(directory)
    return (loader or _load)(str(directory), backend)


def _same_dir(model: str, directory: Path) -> bool:
    try:
        return Path(model).expanduser().resolve() == directory.resolve()
    except (OSError, RuntimeError):
        return False


def select_reader(
    model: str, backend: BackendChoice, allow_fallback: bool = True, *, loader: Loader | None = None
) -> tuple[DocQAReader, ReaderInfo]:
    """A warmed-up reader for ``model`` (or the compact one) and the :class:`ReaderInfo` to show with it.

    :param loader: builds and warms up a reader for (model, backend); default a new ``DocQAReader``.
        Pass :func:`shared_reader` to reuse readers across calls.
    :raises ModelUnavailableError: the configured model is missing and the fallback is off (or missing
        too — then the configured model's error, which says how to install it, is raised).
    """
    if model == COMPACT_READER or _same_dir(model, compact_reader_dir()):
        reader = _load_compact(backend, loader)
        return reader, ReaderInfo(name=COMPACT_READER, path=str(compact_reader_dir()), is_fallback=False,
                                  is_compact=True, notice=compact_notice(), requested=model)
    try:
        reader = (loader or _load)(model, backend)
    except ModelUnavailableError as err:
        if not allow_fallback:
            raise
        try:
            reader = _load_compact(backend, loader)
        except CompactReaderMissingError:
            raise err from None
        notice = (f"{compact_notice(model)}. In use because the configured reader '{model}' "
                  "could not be loaded.")
        return reader, ReaderInfo(name=COMPACT_READER, path=str(compact_reader_dir()), is_fallback=True,
                                  is_compact=True, notice=notice, requested=model, fallback_reason=str(err))
    return reader, ReaderInfo(name=model, path=str(reader.model_dir or model), is_fallback=False,
                              is_compact=False, notice=None, requested=model)


_READERS: dict[tuple[str, str], DocQAReader] = {}
_READERS_LOCK = threading.Lock()


def shared_reader(model: str, backend: str) -> DocQAReader:
    """One warmed-up reader per (model, backend) per process: loading bert-base takes seconds.

    :raises ModelUnavailableError: when the model cannot be found; nothing is cached then, so a model
        installed later is picked up by a later call.
    """
    key = (model, backend)
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = DocQAReader(model=model, backend=backend)
            reader.warm_up()
            _READERS[key] = reader
        return reader
