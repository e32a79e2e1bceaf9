"""`docqa collections list|create|delete`: the named sets of documents of one index.

Each collection is a store of its own (:mod:`docqa.pipelines.collections` says why); every other command
picks one with ``--collection NAME`` (default ``default``, the index as it was before collections).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from docqa.app.cli.errors import fail, handle_user_errors
from docqa.app.cli.options import IndexOpt, JsonOpt
from docqa.app.cli.output import console, print_json

NameArg = Annotated[str, typer.Argument(help="Collection name: lower-case letters, digits, '_' or '-'.")]


def _root(index):
    from docqa.config import Settings

    return Settings.from_env().override(index_dir=index)


@handle_user_errors
def collections_list(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List the index's collections with their document and passage counts."""
    from docqa.pipelines.api import DocQA, list_collections

    settings = _root(index)
    rows = []
    for name in list_collections(settings.index_dir):
        stats = DocQA(settings=settings, collection=name).stats()
        rows.append({"name": name, "documents": stats["documents"], "passages": stats["passages"]})
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} collections in {escape(str(settings.index_dir))}")
    table.add_column("collection")
    table.add_column("documents", justify="right")
    table.add_column("passages", justify="right")
    for row in rows:
        table.add_row(escape(row["name"]), str(row["documents"]), str(row["passages"]))
    console.print(table)


@handle_user_errors
def collections_create(name: NameArg, index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """Create an empty collection; fill it with `docqa ingest FOLDER --collection NAME`."""
    from docqa.pipelines.api import create_collection

    info = create_collection(_root(index).index_dir, name)
    if as_json:
        print_json({"name": info.name, "created": True})
        return
    console.print(
        f"Created collection {escape(info.name)}. Add documents: "
        f"docqa ingest FOLDER --collection {info.name}"
    )


@handle_user_errors
def collections_delete(
    name: NameArg,
    index: IndexOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete it, with all its documents.")] = False,
) -> None:
    """Delete a collection with every document, upload, FAQ entry and feedback record in it."""
    from docqa.pipelines.api import delete_collection

    settings = _root(index)
    if not yes:
        raise fail(
            f"Deleting collection {name!r} removes all its documents, FAQ and feedback for good: "
            "add --yes to confirm."
        )
    delete_collection(settings.index_dir, name, settings.store)
    console.print(f"Deleted collection {escape(name)}.")
