"""`docqa feedback list|export`: the feedback users gave on answers, and SQuAD files made from it.

Storing and exporting are :class:`docqa.pipelines.api.DocQA`'s (``all_feedback``) and the API's
``export_feedback`` / ``write_export``; these commands read flags and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from docqa.app.cli.errors import handle_user_errors
from docqa.app.cli.options import CollectionOpt, IndexOpt, JsonOpt
from docqa.app.cli.output import console, err_console, print_json, source_label

if TYPE_CHECKING:
    from docqa.pipelines.api import FeedbackRecord


def _records(index: Path | None, collection: str | None = None) -> list[FeedbackRecord]:
    """Every feedback record of ``index`` (or DOCQA_INDEX), oldest first; the API is imported late (it
    imports model libraries)."""
    from docqa.pipelines.api import DocQA

    return DocQA(index, collection=collection).all_feedback()


@handle_user_errors
def feedback_list(index: IndexOpt = None, collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Show the stored feedback, oldest first."""
    records = _records(index, collection)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        console.print("No feedback yet. Mark answers correct or wrong on the page, or POST /feedback.")
        return
    table = Table(title=f"{len(records)} feedback records")
    for column in ("when", "verdict", "question", "answer", "source"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.created[:19].replace("T", " "),
            r.verdict.value,
            escape(r.question),
            escape(r.answer or ""),
            escape(source_label(r.file, r.page)),
        )
    console.print(table)


@handle_user_errors
def feedback_export(
    out: Annotated[Path, typer.Option("--out", help="SQuAD 2.0 JSON to write (for train-reader).")],
    holdout: Annotated[
        float | None,
        typer.Option("--holdout", help="Share of questions (0..1) written to --holdout-out instead."),
    ] = None,
    holdout_out: Annotated[
        Path | None, typer.Option("--holdout-out", help="SQuAD 2.0 JSON for the held-out questions.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Chooses the held-out questions (same seed, same split).")
    ] = 0,
    index: IndexOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the feedback as SQuAD 2.0 JSON for `docqa train-reader --train` and `docqa eval`.

    Confirmed and corrected answers become answerable questions, "not in the documents" unanswerable
    ones; "wrong" without a correction is left out.
    """
    from docqa.pipelines.api import export_feedback, write_export

    export = export_feedback(_records(index, collection), holdout=holdout, seed=seed)
    write_export(export, out, holdout_out)
    summary = export.to_dict()
    if as_json:
        print_json({**summary, "out": str(out), "holdout_out": str(holdout_out) if holdout_out else None})
        return
    line = (f"{summary['train_questions']} questions written to {out} "
            f"({export.answerable} answerable, {export.unanswerable} not in the documents in all)")
    if export.holdout is not None:
        line += f"; {summary['holdout_questions']} held out in {holdout_out}"
    console.print(line, markup=False, highlight=False)
    if export.left_out_wrong or export.superseded:
        err_console.print(
            f"left out: {export.left_out_wrong} 'wrong' without a correction, "
            f"{export.superseded} replaced by later feedback on the same question and passage",
            markup=False, highlight=False,
        )
    if not summary["train_questions"]:
        err_console.print("no questions to train on yet", markup=False, highlight=False)
