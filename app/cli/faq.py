"""`docqa faq load|list`: the curated FAQ, whose answers are matched before the documents are read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from docqa.app.cli.documents import open_docqa
from docqa.app.cli.errors import handle_user_errors
from docqa.app.cli.options import CollectionOpt, EmbeddingOpt, IndexOpt, JsonOpt
from docqa.app.cli.output import console, print_json


@handle_user_errors
def faq_load(
    file: Annotated[Path, typer.Argument(help="CSV with question,answer columns, or a JSON/YAML list.")],
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load FILE as the index's FAQ (replaces the previous one; reports added/changed/removed)."""
    report = open_docqa(index, embedding_model, collection).load_faq(file)
    if as_json:
        print_json(report.to_dict())
        return
    c = report.to_dict()["counts"]
    console.print(
        f"{report.total} FAQ entries: {c['added']} added, {c['changed']} changed, "
        f"{c['removed']} removed, {c['unchanged']} unchanged"
    )


@handle_user_errors
def faq_list(index: IndexOpt = None, collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Show the FAQ entries stored in the index."""
    entries = open_docqa(index, collection=collection).faq_entries()
    if as_json:
        print_json([{"question": e.question, "answer": e.answer} for e in entries])
        return
    if not entries:
        console.print("No FAQ entries. Load some with `docqa faq load FILE`.")
    for entry in entries:
        console.print(f"[bold]Q:[/] {escape(entry.question)}\n[bold]A:[/] {escape(entry.answer)}\n")
