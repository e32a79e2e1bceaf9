"""`docqa`: the one command that fronts DocQA.

It parses flags and prints; the work is done in ingest/ and pipelines/.

Errors a user can cause or fix (missing model, locked or foreign index, unknown document) print one clear
message and exit with status 2 — never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    name="docqa",
    help="Ask questions of your PDFs and text files. Index with `docqa ingest`, then `docqa search`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

IndexOpt = Annotated[
    Path | None, typer.Option("--index", help="Index directory [env: DOCQA_INDEX; default ./docqa-index]")
]
EmbeddingOpt = Annotated[
    str | None,
    typer.Option(
        "--embedding-model", help="Embedding model: Hub id or directory [env: DOCQA_EMBEDDING_MODEL]"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _quiet_libraries() -> None:
    """Model libraries print progress bars and warnings of their own; DocQA shows its own progress."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars on every model load
    except ImportError:
        pass


def _open(index: Path | None, embedding_model: str | None = None):
    from pipelines.api import DocQA

    return DocQA(index, embedding_model=embedding_model)


def _user_errors() -> tuple[type[BaseException], ...]:
    from pipelines.api import DocumentNotFoundError
    from pipelines.document_stores.snapshots import IndexStoreError
    from pipelines.model_loading import ModelUnavailableError

    return (ModelUnavailableError, IndexStoreError, DocumentNotFoundError, ValueError)


@app.command()
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
    as_json: JsonOpt = False,
) -> None:
    """Index every PDF, .txt and .md file under PATHS. Unchanged files are not re-embedded."""
    from app.cli.ingest_report import RichIngestProgress, render_report
    from ingest.ingestor import IngestProgress

    qa = _open(index, embedding_model)
    try:
        if as_json:
            report = qa.ingest(
                paths, prune=prune, checkpoint_every=checkpoint_every, progress=IngestProgress()
            )
        else:
            console.print(f"Indexing into [bold]{escape(str(qa.index.directory))}[/]")
            with RichIngestProgress(console) as progress:
                report = qa.ingest(paths, prune=prune, checkpoint_every=checkpoint_every, progress=progress)
    except _user_errors() as err:
        raise _fail(str(err)) from None
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        render_report(report, console, verbose=verbose)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, e.g. a question.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many passages.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid (default), dense or bm25.")] = "hybrid",
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the passages that best match QUERY, with file, page and score."""
    qa = _open(index, embedding_model)
    if not qa.index.exists():
        raise _fail(f"The index at {qa.index.directory} is empty. Run `docqa ingest FOLDER` first.")
    try:
        passages = qa.search(query, top_k=top_k, mode=mode)
    except _user_errors() as err:
        raise _fail(str(err)) from None
    if as_json:
        print(
            json.dumps(
                {"query": query, "passages": [p.to_dict() for p in passages]}, indent=2, ensure_ascii=False
            )
        )
        return
    if not passages:
        console.print("No passages found.")
        return
    for rank, p in enumerate(passages, start=1):
        where = f"{p.file}" + (f", page {p.page}" if p.page else "")
        console.rule(f"[bold]{rank}.[/] {escape(where)}  [dim]score {p.score:.3f}[/]", align="left")
        console.print(escape(p.content))


ReaderOpt = Annotated[
    str | None, typer.Option("--reader", help="Reader model: Hub id or directory [env: DOCQA_READER_MODEL]")
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
        "--backend", help="Reader backend: torch, onnx-fp32 or onnx-int8 [env: DOCQA_READER_BACKEND]"
    ),
]


def _highlight(passage: str, start: int, end: int) -> str:
    marked = f"[bold black on yellow]{escape(passage[start:end])}[/]"
    return f"{escape(passage[:start])}{marked}{escape(passage[end:])}"


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in plain words.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Passages to read.")] = 5,
    max_answers: Annotated[int, typer.Option("--answers", "-n", min=1, help="Answers to show.")] = 3,
    threshold: Annotated[
        float | None,
        typer.Option("--no-answer-threshold", help="τ: higher answers more often [default: calibrated]"),
    ] = None,
    index: IndexOpt = None,
    reader: ReaderOpt = None,
    backend: BackendOpt = None,
    no_fallback: NoFallbackOpt = False,
    embedding_model: EmbeddingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from your documents: ranked answers with source, page and the passage highlighted."""
    from pipelines.api import DocQA

    qa = DocQA(
        index,
        embedding_model=embedding_model,
        reader_model=reader,
        reader_backend=backend,
        reader_fallback=False if no_fallback else None,
    )
    if not qa.index.exists():
        raise _fail(f"The index at {qa.index.directory} is empty. Run `docqa ingest FOLDER` first.")
    try:
        result = qa.ask(question, top_k=top_k, max_answers=max_answers, no_answer_threshold=threshold)
    except _user_errors() as err:
        raise _fail(str(err)) from None
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        raise typer.Exit(2 if result.reader_error else 0)
    if result.reader_error:
        err_console.print(f"[bold red]Reader unavailable:[/] {escape(result.reader_error)}")
        console.print("[bold]Passages that match your question:[/]")
        for p in result.passages:
            console.rule(f"{escape(p.file)}" + (f", page {p.page}" if p.page else ""), align="left")
            console.print(escape(p.content))
        raise typer.Exit(2)
    if getattr(result, "from_faq", False):
        match = result.faq
        console.print(f"[bold]{escape(result.answers[0].text)}[/]")
        console.print(
            f'[dim]From the FAQ: "{escape(match.entry.question)}" (similarity {match.similarity:.2f})[/]'
        )
        return
    if result.reader_notice:
        err_console.print(f"[yellow]Note:[/] {escape(result.reader_notice)}")
    if result.no_answer:
        console.print("[bold]No answer found in your documents.[/] Closest candidates (unsure):")
    for rank, answer in enumerate(result.answers, start=1):
        src = answer.source
        where = src.file + (f", page {src.page}" if src.page else "")
        also = f" (+{len(answer.sources) - 1} more sources)" if len(answer.sources) > 1 else ""
        label = "[yellow]unsure[/] " if answer.unsure else ""
        console.rule(
            f"[bold]{rank}. {escape(answer.text)}[/]  {label}"
            f"[dim]{answer.score:.0%} — {escape(where)}{also}[/]",
            align="left",
        )
        console.print(_highlight(src.passage, src.passage_start, src.passage_end))
    t = result.timings_ms
    console.print(f"[dim]retrieval {t.get('retrieval', 0):.0f} ms, reading {t.get('reading', 0):.0f} ms[/]")


@app.command()
def ui(
    index: IndexOpt = None,
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port for the page.")] = 8501,
    host: Annotated[
        str,
        typer.Option(help="Address: 127.0.0.1 keeps the page on this machine, 0.0.0.0 opens it."),
    ] = "127.0.0.1",
    samples: Annotated[
        bool, typer.Option("--samples", help="Index the bundled sample documents if the index is empty.")
    ] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in your web browser.")] = False,
    reader: ReaderOpt = None,
    backend: BackendOpt = None,
    embedding_model: EmbeddingOpt = None,
) -> None:
    """Serve the search page: ask questions in your browser, add and remove documents. Prints its URL."""
    from app.ui.launcher import run_ui

    for variable, value in (
        ("DOCQA_READER_MODEL", reader),
        ("DOCQA_READER_BACKEND", backend),
        ("DOCQA_EMBEDDING_MODEL", embedding_model),
    ):
        if value:
            os.environ[variable] = value  # the page reads its configuration from the environment
    raise typer.Exit(run_ui(index, port, host=host, samples=samples, headless=not open_browser))


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; non-loopback needs DOCQA_API_KEY.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    index: IndexOpt = None,
    reader: ReaderOpt = None,
    backend: BackendOpt = None,
    embedding_model: EmbeddingOpt = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest accepted upload, in MiB.")] = 50,
    max_concurrent_asks: Annotated[
        int | None, typer.Option(min=1, help="Questions read at once (default 2 x cores); others wait.")
    ] = None,
) -> None:
    """Serve the HTTP API for other applications (OpenAPI docs at /docs)."""
    from app.server.service import DEFAULT_CONCURRENT_ASKS, ServeConfigError
    from app.server.service import serve as run_server

    try:
        run_server(
            host,
            port,
            index,
            embedding_model=embedding_model,
            reader_model=reader,
            reader_backend=backend,
            max_upload_bytes=max_upload_mb * 1024 * 1024,
            max_concurrent_asks=max_concurrent_asks or DEFAULT_CONCURRENT_ASKS,
        )
    except ServeConfigError as err:
        raise _fail(str(err)) from None


faq_app = typer.Typer(help="Curated FAQ answers, matched before the documents.", no_args_is_help=True)
app.add_typer(faq_app, name="faq")


@faq_app.command("load")
def faq_load(
    file: Annotated[Path, typer.Argument(help="CSV with question,answer columns, or a JSON/YAML list.")],
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load FILE as the index's FAQ (replaces the previous one; reports added/changed/removed)."""
    qa = _open(index, embedding_model)
    try:
        report = qa.load_faq(file)
    except _user_errors() as err:
        raise _fail(str(err)) from None
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    c = report.to_dict()["counts"]
    console.print(
        f"{report.total} FAQ entries: {c['added']} added, {c['changed']} changed, "
        f"{c['removed']} removed, {c['unchanged']} unchanged"
    )


@faq_app.command("list")
def faq_list(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """Show the FAQ entries stored in the index."""
    qa = _open(index)
    try:
        entries = qa.faq_entries()
    except _user_errors() as err:
        raise _fail(str(err)) from None
    if as_json:
        print(
            json.dumps(
                [{"question": e.question, "answer": e.answer} for e in entries], indent=2, ensure_ascii=False
            )
        )
        return
    if not entries:
        console.print("No FAQ entries. Load some with `docqa faq load FILE`.")
    for entry in entries:
        console.print(f"[bold]Q:[/] {escape(entry.question)}\n[bold]A:[/] {escape(entry.answer)}\n")


@app.command()
def documents(index: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """List what is indexed: file, pages, passages, when it was ingested."""
    qa = _open(index)
    try:
        docs = qa.documents()
    except _user_errors() as err:
        raise _fail(str(err)) from None
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "file": d.key,
                        "title": d.title,
                        "pages": d.pages,
                        "passages": len(d.passage_ids),
                        "ingested_at": d.ingested_at,
                        "sha256": d.sha256,
                    }
                    for d in docs
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not docs:
        console.print(f"No documents in {escape(str(qa.index.directory))}. Run `docqa ingest FOLDER`.")
        return
    table = Table(title=f"{len(docs)} documents in {escape(str(qa.index.directory))}")
    for column, justify in (
        ("file", "left"),
        ("pages", "right"),
        ("passages", "right"),
        ("ingested at", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for d in docs:
        table.add_row(escape(d.key), str(d.pages), str(len(d.passage_ids)), d.ingested_at)
    console.print(table)


@app.command()
def delete(
    file: Annotated[str, typer.Argument(help="Path or file name of an indexed document.")],
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
) -> None:
    """Remove FILE's passages from the index (the file itself is not touched)."""
    qa = _open(index, embedding_model)
    try:
        removed = qa.delete(file)
    except _user_errors() as err:
        raise _fail(str(err)) from None
    for source in removed:
        console.print(f"Removed {escape(source.key)} ({len(source.passage_ids)} passages)")


@app.command("eval")
def evaluate(
    squad_json: Annotated[
        Path, typer.Argument(help="SQuAD 2.0 JSON: its paragraphs are indexed, its questions asked.")
    ],
    distractors: Annotated[
        list[Path] | None,
        typer.Option("--distractors", help="More SQuAD JSON files whose paragraphs are indexed too."),
    ] = None,
    retriever_only: Annotated[bool, typer.Option("--retriever-only", help="Measure retrieval only.")] = False,
    reader: ReaderOpt = None,
    backend: BackendOpt = None,
    calibrate: Annotated[
        bool,
        typer.Option("--calibrate", help="Choose the no-answer τ maximising F1 and save it to the config."),
    ] = False,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, help="Passages read per question end to end.")
    ] = 5,
    limit: Annotated[
        int | None, typer.Option(help="Read only the first N questions (reader metrics).")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid (default), dense or bm25.")] = "hybrid",
    embedding_model: EmbeddingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure DocQA on a SQuAD 2.0 file: retrieval recall/MRR/latency, then reader and end-to-end EM/F1."""
    from pipelines.evaluation.run_eval import run_eval

    for path in [squad_json, *(distractors or [])]:
        if not path.is_file():
            raise _fail(f"{path}: no such file")
    try:
        result = run_eval(
            squad_json,
            distractors or [],
            embedding_model=embedding_model,
            reader_model=reader,
            reader_backend=backend,
            retriever_only=retriever_only,
            calibrate_threshold=calibrate,
            mode=mode,
            top_k=top_k,
            limit=limit,
            show_progress=not as_json,
            console=err_console,
        )
    except _user_errors() as err:
        raise _fail(f"{err}\n(Use --retriever-only to measure retrieval without a reader.)") from None
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print_eval(result, squad_json)


def _print_eval(result: dict, squad_json: Path) -> None:
    r = result["retrieval"]
    keys = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "p50_ms", "p95_ms")
    table = Table(
        title=f"Retrieval on {squad_json.name}: {result['questions']} questions, "
        f"{result['indexing']['passages']} passages"
    )
    for key in keys:
        table.add_column(key, justify="right")
    table.add_row(*(f"{r[k]:.1f}" if k.endswith("_ms") else f"{r[k]:.3f}" for k in keys))
    console.print(table)
    console.print(
        f"indexing: {result['indexing']['passages']} passages in {result['indexing']['seconds']:.1f} s"
    )
    if "calibration" in result:
        c = result["calibration"]
        console.print(
            f"calibrated no-answer τ = {c['no_answer_threshold']:.3f} (F1 {c['f1']:.1f}), "
            f"saved to {c['config']}"
        )
    if "reader" in result:
        metric_keys = (
            "exact",
            "f1",
            "HasAns_exact",
            "HasAns_f1",
            "NoAns_exact",
            "NoAns_f1",
            "best_f1",
            "best_f1_thresh",
            "p50_ms",
            "p95_ms",
        )
        table = Table(title=f"Reading with {result['reader_model']} ({result['reader_backend']})")
        table.add_column("")
        for key in metric_keys:
            table.add_column(key, justify="right")
        for name in ("reader", "end_to_end"):
            table.add_row(
                name.replace("_", " "), *(f"{result[name].get(k, float('nan')):.1f}" for k in metric_keys)
            )
        console.print(table)


@app.command("train-reader")
def train_reader_command(
    train: Annotated[Path, typer.Option("--train", help="SQuAD 1.1/2.0 JSON to train on.")],
    out: Annotated[Path, typer.Option("--out", help="New (or empty) directory for the trained reader.")],
    dev: Annotated[
        Path | None, typer.Option("--dev", help="SQuAD JSON scored after each epoch; the best epoch is kept.")
    ] = None,
    base: Annotated[
        str,
        typer.Option(
            "--base",
            help="Start from: QA model or plain encoder (Hub id or directory); "
            "'packaged:all-MiniLM-L6-v2' = the packaged encoder, 'compact' = the bundled reader.",
        ),
    ] = "deepset/bert-base-cased-squad2",
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 2,
    max_seq_length: Annotated[int, typer.Option("--max-seq-length", min=32, help="Tokens per window.")] = 384,
    stride: Annotated[int, typer.Option("--stride", min=0, help="Tokens shared by windows.")] = 128,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (linear warm-up and decay).")] = 5e-5,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    answerable_warmup_epochs: Annotated[
        int,
        typer.Option(
            "--answerable-warmup-epochs",
            min=0,
            help="First N epochs on answer-holding windows only (helps a new QA head).",
        ),
    ] = 0,
    fp16: Annotated[bool, typer.Option("--fp16", help="Save the weights in float16 (half size).")] = False,
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda [default: cuda if any]")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted run in --out from its last checkpoint.")
    ] = False,
) -> None:
    """Fine-tune an extractive QA reader on SQuAD-format questions; writes a model directory that
    DOCQA_READER_MODEL, --reader and `docqa eval --reader` use directly."""
    from pipelines.training.reader_training import TrainingConfig, run_train_reader_cli

    config = TrainingConfig(
        train_file=train,
        dev_file=dev,
        base_model=base,
        out_dir=out,
        epochs=epochs,
        max_seq_length=max_seq_length,
        stride=stride,
        learning_rate=lr,
        batch_size=batch_size,
        seed=seed,
        answerable_warmup_epochs=answerable_warmup_epochs,
        fp16=fp16,
        device=device,
        resume=resume,
    )
    raise typer.Exit(run_train_reader_cli(config))


def main() -> None:
    _quiet_libraries()
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
