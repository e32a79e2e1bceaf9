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
BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend", help=f"Reader backend: torch, onnx-fp32 or onnx-int8 [env: {config.READER_BACKEND}]"
    ),
]
ModeOpt = Annotated[str, typer.Option(help="hybrid (default), dense or bm25.")]
