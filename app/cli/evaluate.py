"""`docqa eval` (measure retrieval and reading on a SQuAD file) and `docqa train-reader` (fine-tune one).

The measuring is ``docqa.pipelines.evaluation``'s and the training ``docqa.pipelines.training``'s, reached
through the public API (``run_eval``, ``train_reader``); these commands check flags, show progress and print
the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from docqa.app.cli.errors import fail, handle_user_errors
from docqa.app.cli.options import (
    BackendOpt,
    EmbeddingOpt,
    JsonOpt,
    ModeOpt,
    NoRerankOpt,
    ReaderOpt,
    StoreOpt,
    checked_backend,
    checked_mode,
)
from docqa.app.cli.output import console, err_console, print_json
from docqa.config import DEFAULT_READER_MODEL, Settings
from docqa.errors import UnavailableError

RETRIEVER_ONLY_HINT = "(Use --retriever-only to measure retrieval without a reader.)"


@handle_user_errors(hints={UnavailableError: RETRIEVER_ONLY_HINT})
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
    off_corpus: Annotated[
        list[Path] | None,
        typer.Option("--off-corpus", help="SQuAD JSON whose articles are NOT indexed: its questions are "
                     "asked too, and the share that still got a confident answer is reported."),
    ] = None,
    mode: ModeOpt = "hybrid",
    embedding_model: EmbeddingOpt = None,
    no_rerank: NoRerankOpt = False,
    as_json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Measure DocQA on a SQuAD 2.0 file: retrieval recall/MRR/latency, then reader and end-to-end EM/F1."""
    from docqa.pipelines.api import run_eval

    if off_corpus and retriever_only:
        raise fail("--off-corpus needs the reader: drop --retriever-only")
    for path in [squad_json, *(distractors or []), *(off_corpus or [])]:
        if not path.is_file():
            raise fail(f"{path}: no such file")
    mode, backend = checked_mode(mode), checked_backend(backend)  # fail before the long indexing run
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
        off_corpus=off_corpus or [],
        show_progress=not as_json,
        console=err_console,
        store=store if store is not None else Settings.from_env().store,
        rerank=False if no_rerank else None,
    )
    if as_json:
        print_json(result, ascii_only=True)
        return
    _print_eval(result, squad_json)


def _print_eval(result: dict, squad_json: Path) -> None:
    r = result["retrieval"]
    keys = ("recall@1", "recall@5", "recall@10", "recall@20", "mrr", "p50_ms", "p95_ms")
    table = Table(
        title=f"Retrieval on {squad_json.name}: {result['questions']} questions, "
        f"{result['indexing']['passages']} passages"
    )
    table.add_column("passages")
    for key in keys:
        table.add_column(key, justify="right")
    table.add_row("retrieval",
                  *(f"{r[k]:.1f}" if k.endswith("_ms") else f"{r[k]:.3f}" for k in keys))
    reranked = result.get("retrieval_reranked")
    if reranked:
        table.add_row("reranked",
                      *(f"{reranked[k]:.1f}" if k.endswith("_ms") else f"{reranked[k]:.3f}" for k in keys))
    console.print(table)
    if reranked:
        info = result["reranker"]
        console.print(f"reranked: the reranker reorders the top {info['candidates']} passages "
                      f"({info['backend']}); its latency is search + rerank")
    if not reranked and result.get("reranker", {}).get("why_not"):
        console.print(f"[dim]reranker: {result['reranker']['why_not']}[/]")
    if result.get("query_encoder"):
        console.print(f"[dim]questions embedded by {result['query_encoder']} (DOCQA_QUERY_ENCODER)[/]")
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
            "forced_HasAns_f1",
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
    if "off_corpus" in result:
        o = result["off_corpus"]
        console.print(
            f"off corpus: {o['questions']} questions from articles not indexed; answered confidently: "
            f"{100 * o['answered_rate']:.1f}% (τ rule alone: {100 * o['answered_rate_reader_tau_only']:.1f}%)"
        )


def _say(line: str) -> None:
    """Training progress lines: plain text on stderr (file names and τ are not markup)."""
    err_console.print(line, markup=False, highlight=False)


@handle_user_errors
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
    ] = DEFAULT_READER_MODEL,
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
    bf16: Annotated[
        bool, typer.Option("--bf16", help="Mixed precision (bfloat16 autocast): faster on GPUs.")
    ] = False,
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda [default: cuda if any]")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the interrupted run in --out from its last checkpoint.")
    ] = False,
) -> None:
    """Fine-tune an extractive QA reader on SQuAD-format questions; writes a model directory that
    DOCQA_READER_MODEL, --reader and `docqa eval --reader` use directly."""
    from docqa.pipelines.api import (
        TRAINING_CHECKPOINT_FILE,
        TRAINING_STATE_DIR,
        TrainingConfig,
        train_reader,
        training_summary_lines,
    )

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
        bf16=bf16,
        device=device,
        resume=resume,
    )
    try:
        result = train_reader(config, log=_say)
    except KeyboardInterrupt:
        state = config.out_dir / TRAINING_STATE_DIR
        if (state / TRAINING_CHECKPOINT_FILE).exists():
            _say(f"interrupted; the last checkpoint is in {state} — run the same command with --resume "
                 "to continue")
        else:
            _say("interrupted before the first checkpoint; nothing to resume")
        raise typer.Exit(130) from None
    for line in training_summary_lines(result):
        _say(line)
