"""`docqa`: the one command that fronts DocQA.

It parses flags and prints; the work is done in ``ingest/`` and ``pipelines/``. Commands live by area
(:mod:`~docqa.app.cli.documents`, :mod:`~docqa.app.cli.query`, :mod:`~docqa.app.cli.faq`,
:mod:`~docqa.app.cli.evaluate`,
:mod:`~docqa.app.cli.serve`); this module assembles them into :data:`app`. Errors a user can cause or fix
(missing model, locked or foreign index, unknown document, bad file) print one clear message and exit
with status 2 — never a traceback — through :mod:`docqa.app.cli.errors`, which every command is wrapped in
(:func:`_add` refuses a command that is not).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from docqa import config
from docqa.app.cli import (
    access,
    collections,
    documents,
    evaluate,
    faq,
    feedback,
    migrate,
    models,
    query,
    reindex,
    serve,
)
from docqa.app.cli.output import err_console

__all__ = ["app", "main"]

app = typer.Typer(
    name="docqa",
    help="Ask questions of your PDFs and text files. Index with `docqa ingest`, then `docqa search`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
faq_app = typer.Typer(help="Curated FAQ answers, matched before the documents.", no_args_is_help=True)
collections_app = typer.Typer(
    help="Collections: named sets of documents in one index (each command takes --collection NAME).",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="API keys scoped to collections and roles (read, write, admin).", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit log: who did what to which collection.", no_args_is_help=True)
models_app = typer.Typer(
    help="The readers `docqa improve` promoted: list them, roll back (use N), prune.", no_args_is_help=True
)
feedback_app = typer.Typer(
    help="Feedback on answers: list it, export it as SQuAD 2.0 for train-reader and eval.",
    no_args_is_help=True,
)


@app.callback()
def _store(
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Where passages live: local, milvus-lite:///path/docqa.db or milvus://host:19530 "
            f"[env: {config.STORE}]",
        ),
    ] = None,
) -> None:
    """Ask questions of your PDFs and text files."""
    if store is not None:
        # Through the environment: the page (`docqa ui`) and the service run in child processes.
        os.environ[config.STORE] = store


def _add(group: typer.Typer, command: Callable[..., Any], name: str | None = None) -> None:
    """Register ``command``; it must go through the one user-error handler."""
    if not getattr(command, "handles_user_errors", False):
        raise TypeError(f"{command.__name__}: wrap CLI commands in docqa.app.cli.errors.handle_user_errors")
    group.command(name)(command)


# Registration order is the order of `docqa --help`.
_add(app, documents.ingest)
_add(app, query.search)
_add(app, query.ask)
_add(app, serve.ui)
_add(app, serve.serve)
app.add_typer(faq_app, name="faq")
_add(faq_app, faq.faq_load, "load")
_add(faq_app, faq.faq_list, "list")
_add(app, documents.documents)
_add(app, documents.delete)
_add(app, documents.compact)
_add(app, reindex.reindex)
_add(app, evaluate.evaluate, "eval")
_add(app, evaluate.train_reader_command, "train-reader")
_add(app, models.improve_command, "improve")
app.add_typer(models_app, name="models")
_add(models_app, models.models_list, "list")
_add(models_app, models.models_use, "use")
_add(models_app, models.models_prune, "prune")
_add(app, migrate.migrate)
app.add_typer(collections_app, name="collections")
_add(collections_app, collections.collections_list, "list")
_add(collections_app, collections.collections_create, "create")
_add(collections_app, collections.collections_delete, "delete")
app.add_typer(keys_app, name="keys")
_add(keys_app, access.keys_create, "create")
_add(keys_app, access.keys_list, "list")
_add(keys_app, access.keys_revoke, "revoke")
app.add_typer(audit_app, name="audit")
_add(audit_app, access.audit_tail, "tail")
app.add_typer(feedback_app, name="feedback")
_add(feedback_app, feedback.feedback_list, "list")
_add(feedback_app, feedback.feedback_export, "export")


def _quiet_libraries() -> None:
    """Model libraries print progress bars and warnings of their own; DocQA shows its own progress."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # transformers reads HF_HUB_DISABLE_PROGRESS_BARS when it is imported ("Loading weights" bars on every
    # model load), so importing it here only to switch them off (0.76 s of every command, a `docqa
    # documents` that loads no model included) is needed only when someone turned the variable off.
    if os.environ["HF_HUB_DISABLE_PROGRESS_BARS"].upper() not in ("1", "ON", "YES", "TRUE"):
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass


def main() -> None:
    """Entry point of the ``docqa`` console script and ``python -m docqa.app.cli``."""
    _quiet_libraries()
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
