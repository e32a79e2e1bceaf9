"""`docqa reindex`: embed every stored passage again with the configured embedding model, no file read
again; see :mod:`docqa.pipelines.reindexing` (through :meth:`DocQA.reindex` and ``reindex_collections``)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docqa.app.cli.errors import fail, handle_user_errors
from docqa.app.cli.options import CollectionOpt, EmbeddingOpt, IndexOpt, JsonOpt, StoreOpt
from docqa.app.cli.output import console, err_console, print_json


class _Bar:
    """One bar per collection: passages embedded of the collection's total and passages/s, as the ingest's
    bars show pages/s (a reindex of a big index takes minutes; the rate says how many). The rate counts from
    the first batch on: loading the model comes before it and is not embedding."""

    def __init__(self, bars: Progress) -> None:
        self.bars, self.task = bars, bars.add_task("", total=None, rate="")
        self.name, self.first = "", (0, 0.0)

    def __call__(self, collection: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if collection != self.name:
            self.name, self.first = collection, (done, now)
            self.bars.update(self.task, description=collection, completed=done, total=total, rate="")
            return
        rate = (done - self.first[0]) / max(now - self.first[1], 1e-6)
        self.bars.update(self.task, completed=done, total=total, rate=f"{rate:.1f} passages/s")


@handle_user_errors
def reindex(
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
    collection: CollectionOpt = None,
    store: StoreOpt = None,
    all_collections: Annotated[
        bool, typer.Option("--all-collections", help="Every collection of the index, one after the other.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Embed again even with the same model.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Embed every passage again with the configured embedding model (--embedding-model or
    DOCQA_EMBEDDING_MODEL), without reading any file again: the index moves to the new model in one commit,
    so an interrupted run leaves it as it was (run it again)."""
    from docqa.config import Settings
    from docqa.pipelines.api import DocQA, reindex_collections

    if all_collections and collection is not None:
        raise fail("--collection and --all-collections: give one of them")
    settings = Settings.from_env().override(index_dir=index, embedding_model=embedding_model, store=store)
    columns = (TextColumn("embedding {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[rate]}"))
    with Progress(*columns, console=err_console, transient=True) as bars:
        show = _Bar(bars)
        if all_collections:
            reports = reindex_collections(settings.store, settings.index_dir, settings.embedding_model,
                                          force=force, progress=show)
        else:
            qa = DocQA(settings=settings, collection=collection)
            reports = {qa.collection: qa.reindex(
                force=force, progress=lambda done, total: show(qa.collection, done, total))}
    if as_json:
        print_json(vars(reports[next(iter(reports))]) if not all_collections else
                   {name: vars(report) for name, report in reports.items()})
        return
    for report in reports.values():
        if not report.changed:
            console.print(f"Collection {escape(report.collection)} is already embedded with "
                          f"{escape(report.embedding_model)}: nothing to do (--force embeds again).")
            continue
        rate = report.passages / max(report.embedding_seconds, 1e-6)
        console.print(f"Re-embedded {report.passages} passages of {report.files} documents in collection "
                      f"{escape(report.collection)}: {escape(report.previous_model)} → "
                      f"{escape(report.embedding_model)} ({report.dim} dimensions) in {report.seconds:.1f} s "
                      f"(embedding {report.embedding_seconds:.1f} s, {rate:.1f} passages/s).")
