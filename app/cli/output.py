"""Where the CLI writes: results to stdout, messages and errors to stderr (so ``--json`` stays parseable)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any, *, ascii_only: bool = False) -> None:
    """``--json`` output: plain ``print`` (no rich wrapping or markup), indented; UTF-8 kept as is unless
    ``ascii_only`` (``ingest`` and ``eval`` have always escaped non-ASCII; their output stays the same)."""
    print(json.dumps(data, indent=2, ensure_ascii=ascii_only))


def highlight(passage: str, start: int, end: int) -> str:
    """``passage`` as rich markup with ``passage[start:end]`` (the answer) marked."""
    marked = f"[bold black on yellow]{escape(passage[start:end])}[/]"
    return f"{escape(passage[:start])}{marked}{escape(passage[end:])}"


def source_label(file: str, page: int | None, section: str | None = None) -> str:
    """``file, page N``, or ``file › Section`` for files without pages whose passage is under a heading."""
    if section:
        return f"{file} › {section}"
    return file + (f", page {page}" if page else "")
