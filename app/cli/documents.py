"""`docqa ingest`, `docqa documents`, `docqa delete`, `docqa compact`: what is in the index.

The work is done by :class:`docqa.pipelines.api.DocQA`; these commands parse flags and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from docqa.app.cli.errors import handle_user_errors
from docqa.app.cli.options import CollectionOpt, EmbeddingOpt, IndexOpt, JsonOpt, TagOpt
from docqa.app.cli.output import console, print_json


def open_docqa(index: Path | None, embedding_model: str | None = None, collection: str | None = None):
    """The Python API over ``collection`` of ``index`` (imported late: model libraries are slow to
    import)."""
    from docqa.pipelines.api import DocQA

    return DocQA(index, embedding_model=embedding_model, collection=collection)


@handle_user_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove indexed documents whose files are gone.")
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option(help="Save progress every N passages: a crash loses at most this much work.")
    ] = 512,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List unchanged files in the report too.")
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Keep running: apply files added, changed or deleted under PATHS (Ctrl-C stops)."
        ),
    ] = False,
    ocr: Annotated[
        bool, typer.Option("--ocr/--no-ocr", help="Read scanned PDF pages and images with Tesseract OCR.")
    ] = True,
    tag: TagOpt = None,
    collection: CollectionOpt = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes that read, OCR and split files while one embeds and commits. "
            "Default: the cores this process may use; 1 reads files one at a time in this process.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index every PDF, Word, HTML, image, text and Markdown file under PATHS; unchanged ones are kept.
    With --tag, every file of this run gets these tags (replacing its earlier ones, without re-embedding)."""
    from docqa.app.cli.ingest_report import RichIngestProgress, render_report
    from docqa.pipelines.api import IngestProgress, parse_tags

    tags = parse_tags(tag) if tag else None
    qa = open_docqa(index, embedding_model, collection)
    options = {"prune": prune, "checkpoint_every": checkpoint_every, "ocr": ocr, "tags": tags, "jobs": jobs}
    if as_json:
        report = qa.ingest(paths, progress=IngestProgress(), **options)
        print_json(report.to_dict(), ascii_only=True)
    else:
        console.print(f"Indexing into [bold]{escape(qa.catalog.location())}[/]")
        with RichIngestProgress(console) as progress:
            report = qa.ingest(paths, progress=progress, **options)
        render_report(report, console, verbose=verbose)
    if watch:
        from docqa.app.cli.watching import watch_paths

        watch_paths(qa, paths, ocr=ocr, checkpoint_every=checkpoint_every, as_json=as_json)
        raise typer.Exit(0)
    raise typer.Exit(0 if report.ok else 1)


@handle_user_errors
def documents(
    index: IndexOpt = None,
    fields: Annotated[
        bool, typer.Option("--fields", help="List the fields --filter can use (metadata and tags).")
    ] = False,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List what is indexed: file, folder, type, pages, passages, tags, when it was ingested."""
    qa = open_docqa(index, collection=collection)
    if fields:
        kinds = qa.filter_fields()
        if as_json:
            print_json(kinds)
        else:
            for name, kind in kinds.items():
                console.print(f"{escape(name)}  [dim]{kind}[/]")
        return
    docs = qa.documents()
    if as_json:
        print_json(
            [
                {
                    "file": d.key,
                    "title": d.title,
                    "pages": d.pages,
                    "passages": len(d.passage_ids),
                    "tables": d.tables,
                    "ingested_at": d.ingested_at,
                    "sha256": d.sha256,
                    "partial": d.partial,
                    "pending_passages": d.pending_passages,
                    "metadata": d.metadata(),
                    "tags": d.tags,
                }
                for d in docs
            ]
        )
        return
    if not docs:
        console.print(f"No documents in {escape(qa.catalog.location())}. Run `docqa ingest FOLDER`.")
        return
    table = Table(title=f"{len(docs)} documents in {escape(qa.catalog.location())}")
    for column, justify in (
        ("file", "left"),
        ("folder", "left"),
        ("type", "left"),
        ("pages", "right"),
        ("passages", "right"),
        ("tags", "left"),
        ("ingested at", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for d in docs:
        passages = str(len(d.passage_ids))
        if d.partial:  # stopped in the middle of its parts: searchable so far, `docqa ingest` finishes it
            passages = f"[dark_orange]{passages} of {d.total_passages} (partial)[/]"
        tags = ", ".join(f"{k}={v}" for k, v in d.tags.items())
        table.add_row(
            escape(d.key), escape(d.folder), d.file_type, str(d.pages), passages, escape(tags), d.ingested_at
        )
    console.print(table)
    partial = [d for d in docs if d.partial]
    if partial:
        console.print(
            f"{len(partial)} partially indexed: ingest {'it' if len(partial) == 1 else 'them'} again "
            "(or upload the same file again) to index the rest."
        )


@handle_user_errors
def delete(
    file: Annotated[str, typer.Argument(help="Path or file name of an indexed document.")],
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Remove FILE's passages from the index (the file itself is not touched)."""
    qa = open_docqa(index, embedding_model, collection)
    for source in qa.delete(file):
        console.print(f"Removed {escape(source.key)} ({len(source.passage_ids)} passages)")


@handle_user_errors
def compact(index: IndexOpt = None, collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Merge the index's segments and drop deleted or replaced passages for good (frees disk space,
    speeds up search after many deletes). Safe to interrupt; waits for no ingest (refused while one runs)."""
    qa = open_docqa(index, collection=collection)
    result = qa.compact()
    if as_json:
        print_json(result)
        return
    console.print(
        f"Compacted {escape(str(qa.index.directory))}: {result['segments_before']} segments → "
        f"{result['segments_after']}, {result['tombstones_dropped']} deleted passages dropped."
    )
