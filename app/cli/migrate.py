"""`docqa migrate`: copy an index between stores (local ⇄ Milvus) with its embeddings; see
:func:`docqa.pipelines.api.migrate`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docqa.app.cli.errors import handle_user_errors
from docqa.app.cli.options import IndexOpt
from docqa.app.cli.output import console, err_console


@handle_user_errors
def migrate(
    to: Annotated[
        str, typer.Option("--to", help="Target store: local, milvus-lite:///path.db or milvus://host:19530")
    ],
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Source store (default: DOCQA_STORE, i.e. local unless set)."),
    ] = None,
    index: IndexOpt = None,
) -> None:
    """Copy every document with its passages and embeddings to another store (no re-embedding)."""
    from docqa.config import Settings
    from docqa.pipelines.api import migrate_collections

    settings = Settings.from_env().override(index_dir=index)
    source = from_ if from_ is not None else settings.store
    with Progress(
        TextColumn("copying {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bars:
        task = bars.add_task("", total=None)

        def show(collection: str, done: int, total: int) -> None:
            bars.update(task, description=collection, completed=done, total=total)

        reports = migrate_collections(source, to, settings.index_dir, settings.embedding_model, progress=show)
    for name, report in reports.items():
        console.print(
            f"Copied {report.files} documents ({report.passages} passages, {escape(report.embedding_model)}) "
            f"of collection {escape(name)} from {escape(report.source)} to {escape(report.target)}."
        )
