"""Options shared by several commands, declared once so their flags and help read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docqa import config

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index", help=f"Index directory [env: {config.INDEX}; default {config.DEFAULT_INDEX_DIR}]"
    ),
]
EmbeddingOpt = Annotated[
    str | None,
    typer.Option(
        "--embedding-model", help=f"Embedding model: Hub id or directory [env: {config.EMBEDDING_MODEL}]"
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help=f"Store: local, milvus-lite:///path/docqa.db or milvus://host:19530 [env: {config.STORE}]",
    ),
]
CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection",
        "-c",
        help=f"Collection of the index to use (`docqa collections list`) [env: {config.COLLECTION}; "
        f"default {config.DEFAULT_COLLECTION}]",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ReaderOpt = Annotated[
    str | None,
    typer.Option("--reader", help=f"Reader model: Hub id or directory [env: {config.READER_MODEL}]"),
]
NoFallbackOpt = Annotated[
    bool,
    typer.Option(
        "--no-fallback", help="Never answer with the bundled compact reader when the reader is missing."
    ),
]
NoRerankOpt = Annotated[
    bool,
    typer.Option("--no-rerank", help="Keep retrieval's order: no cross-encoder reranking (DOCQA_RERANK=0)."),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Reader backend: auto, torch, onnx-fp32, onnx-int8, torch-bf16, cuda or cuda-fp16 "
        f"[env: {config.READER_BACKEND}]",
    ),
]
WatchOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--watch",
        help="Keep this folder (or file) indexed while serving: additions, changes, deletions. Repeatable.",
    ),
]
OcrOpt = Annotated[
    bool, typer.Option("--ocr/--no-ocr", help="Read scanned PDF pages and images with Tesseract OCR.")
]
ModeOpt = Annotated[str, typer.Option(help="hybrid (default), dense or bm25.")]
FilterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="Search only matching documents, e.g. 'file_type == pdf', 'year >= 2020', "
        "'folder in [legal, hr]' (repeat: all must hold). Fields: `docqa documents --fields`.",
    ),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option("--tag", help="Tag every file of this run, e.g. --tag team=legal --tag year=2024 (repeat)."),
]


def checked_mode(mode: str) -> str:
    """``--mode`` as the documented name; an unknown one fails here, before any model is loaded.

    :raises InvalidInputError: listing the modes (shown by the CLI's error handler).
    """
    from docqa.pipelines.api import SearchMode

    return SearchMode.from_str(mode).value


def checked_backend(backend: str | None) -> str | None:
    """``--backend`` as the documented name (``None``: the configured default).

    :raises ConfigError: listing the backends (shown by the CLI's error handler).
    """
    if backend is None:
        return None
    from docqa.pipelines.api import ReaderBackendName

    return ReaderBackendName.from_str(backend).value
AllowedHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-host",
        help=f"Another host name to answer to, besides loopback and --host (repeatable; * for any) "
        f"[env: {config.ALLOWED_HOSTS}]",
    ),
]
