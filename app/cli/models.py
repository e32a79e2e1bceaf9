"""`docqa improve` (learn from feedback, promote only through the gate) and `docqa models list|use|prune`
(the collection's promoted readers; `use` is the rollback).

The work is :meth:`DocQA.improve` and the registry (:mod:`docqa.pipelines.models`); these commands check
flags, show progress and print the decision (one line) with the figures behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from docqa.app.cli.errors import handle_user_errors
from docqa.app.cli.options import CollectionOpt, IndexOpt, JsonOpt, ReaderOpt
from docqa.app.cli.output import console, err_console, print_json
from docqa.config import DEFAULT_IMPROVE_MARGIN as DEFAULT_MARGIN
from docqa.config import DEFAULT_IMPROVE_TOLERANCE as DEFAULT_TOLERANCE

METRICS = (
    ("f1", "held-out F1"),
    ("HasAns_f1", "held-out HasAns F1"),
    ("NoAns_f1", "held-out NoAns F1"),
    ("regression_f1", "regression F1"),
)


def _qa(index: Path | None, collection: str | None, reader: str | None = None) -> Any:
    from docqa.pipelines.api import DocQA

    return DocQA(index, collection=collection, reader_model=reader)


def _shown(estimate: dict[str, Any]) -> str:
    if not estimate or not estimate.get("n"):
        return "-"
    low, high = estimate["ci95"]
    return f"{estimate['mean']:.1f} [{low:.1f}, {high:.1f}]"


def _delta(estimate: dict[str, Any]) -> str:
    if not estimate or not estimate.get("n"):
        return "-"
    low, high = estimate["ci95"]
    return f"{estimate['mean']:+.1f} [{low:+.1f}, {high:+.1f}]"


def print_decision(result: dict[str, Any]) -> None:
    """The scores table (95% bootstrap intervals over questions) and the one-line decision."""
    table = Table(title=f"current ({escape(result['current_model'])}) vs candidate; 95% CI over questions")
    for column in ("", "current", "candidate", "change"):
        table.add_column(column, justify="right" if column else "left")
    for key, label in METRICS:
        table.add_row(
            label,
            _shown(result["current"].get(key)),
            _shown(result["candidate"].get(key)),
            _delta(result["delta"].get(key)),
        )
    console.print(table)
    data = result["data"]
    console.print(
        f"trained on {data['train_feedback_questions']} feedback + {data['replayed_questions']} "
        f"replayed questions; judged on {data['heldout_questions']} held-out questions "
        f"({data['feedback_records']} feedback records)"
    )
    console.print(("[green]" if result["promoted"] else "[yellow]") + escape(result["reason"]))


@handle_user_errors
def improve_command(
    index: IndexOpt = None,
    collection: CollectionOpt = None,
    reader: ReaderOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Train and judge, but never promote.")] = False,
    regression: Annotated[
        Path | None,
        typer.Option(
            "--regression", help="SQuAD 2.0 file the candidate must not get worse on (default: shipped set)."
        ),
    ] = None,
    margin: Annotated[
        float, typer.Option("--margin", help="F1 points the held-out F1 must rise by to promote.")
    ] = DEFAULT_MARGIN,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="F1 points HasAns F1 and regression F1 may drop.")
    ] = DEFAULT_TOLERANCE,
    holdout: Annotated[float, typer.Option("--holdout", help="Share of the questions held out.")] = 0.3,
    epochs: Annotated[int, typer.Option("--epochs")] = 2,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 3e-5,
    seed: Annotated[int, typer.Option("--seed", help="Held-out split and training seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the reader on this collection's feedback; promote it only if it measures better.

    Exports the feedback with a held-out split, trains a candidate from the reader that answers now
    (mixing replayed training questions), scores both on the held-out questions end to end and on a
    regression set, and promotes the candidate only when held-out F1 rises by --margin and neither
    HasAns F1 nor regression F1 drops by more than --tolerance. `docqa models use N` rolls back.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from docqa.pipelines.api import GateSettings, ImproveSettings

    settings = ImproveSettings(
        holdout=holdout,
        seed=seed,
        epochs=epochs,
        learning_rate=lr,
        regression=regression,
        dry_run=dry_run,
        gate=GateSettings(margin=margin, has_ans_tolerance=tolerance, regression_tolerance=tolerance),
    )
    settings.validate()
    qa = _qa(index, collection, reader)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("improve", total=1.0)

        def progress(stage: str, done: float) -> None:
            if done < 0:
                bar.console.print(escape(stage), markup=True, highlight=False)
                return
            bar.update(task, completed=done, description=escape(stage[:70]))

        result = qa.improve(settings, progress=progress).to_dict()
    if as_json:
        print_json(result)
        return
    print_decision(result)


@handle_user_errors
def models_list(index: IndexOpt = None, collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """The readers this collection promoted, their scores, and which one answers."""
    listing = _qa(index, collection).models()
    if as_json:
        print_json(listing)
        return
    table = Table(title=f"answering: {escape(listing['active_name'])}")
    for column in ("#", "created", "parent", "feedback", "held-out F1 (was)", "regression F1", ""):
        table.add_column(column)
    table.add_row(
        "0", "-", "-", "-", "-", "-", "configured reader" + (" ← active" if listing["active"] == 0 else "")
    )
    for model in listing["models"]:
        scores = model.get("scores") or {}
        cand, cur = scores.get("candidate", {}), scores.get("current", {})
        f1 = f"{cand.get('f1', {}).get('mean', '-')} ({cur.get('f1', {}).get('mean', '-')})"
        table.add_row(
            str(model["number"]),
            str(model.get("created") or "-"),
            escape(str(model.get("parent"))),
            str(model.get("feedback_records") or "-"),
            f1,
            str(cand.get("regression_f1", {}).get("mean", "-")),
            "← active" if model["active"] else "",
        )
    console.print(table)


@handle_user_errors
def models_use(
    number: Annotated[
        int, typer.Argument(help="Model number from `docqa models list` (0: the configured reader).")
    ],
    index: IndexOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Answer with model N from the next question on (a running service follows at once)."""
    qa = _qa(index, collection)
    entry = qa.use_model(number)
    console.print(f"Answering with {escape(entry.name if entry else 'the configured reader')}.")


@handle_user_errors
def models_prune(
    keep: Annotated[int, typer.Option("--keep", help="How many of the newest models to keep.")],
    index: IndexOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Delete all but the --keep newest promoted models (the active one is always kept)."""
    removed = _qa(index, collection).prune_models(keep)
    console.print(
        f"Deleted {len(removed)} model(s)" + (f": {', '.join(map(str, removed))}" if removed else ".")
    )
