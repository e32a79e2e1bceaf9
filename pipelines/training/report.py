"""The record a training run leaves: progress lines, the model directory, ``TRAINING.md`` and metrics.

Why written out in full: a reader model is only trustworthy if one can see what data it saw, with which
settings, how it scored per epoch and how to repeat the run. The model directory is a normal one
(config, tokenizer, safetensors — optionally fp16) that ``DocQAReader``, ``DOCQA_READER_MODEL=DIR`` and
``docqa eval --reader DIR`` load, plus ``TRAINING.md``, ``training_metrics.json`` and ``calibration.json``
(τ on dev).
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from typing import Any

from docqa.atomic import atomic_write_json, atomic_write_text
from docqa.config import READER_MODEL
from docqa.pipelines.training.settings import TrainingConfig, TrainingResult


def epoch_line(record: dict[str, Any], is_best: bool) -> str:
    """One log line per epoch: loss, dev scores, time, and whether it is the best so far."""
    line = f"epoch {record['epoch']}: train loss {record['train_loss']:.3f}"
    if record.get("answerable_only"):
        line += " (answerable windows only)"
    if record.get("partial"):
        line += f" ({record['partial']:.0%} of the epoch, fitted to the time limit)"
    dev = record.get("dev")
    if dev:
        line += (f"; dev forced-answer HasAns EM/F1 {dev['forced_has_ans_exact']:.1f}/"
                 f"{dev['forced_has_ans_f1']:.1f}")
        if dev["no_ans"]:
            line += (f", null rule EM/F1 {dev['best_exact']:.1f}/{dev['best_f1']:.1f} "
                     f"(τ={dev['threshold']:.2f})")
    line += f"; {record['seconds']:.0f} s" + ("  ← best" if is_best else "")
    return line


def write_model_dir(model, tokenizer, config: TrainingConfig, result: TrainingResult, continuing: bool
                     ) -> None:
    """Save the kept model (float16 if asked), its tokenizer and the run's record into ``out_dir``."""
    import torch

    out = config.out_dir
    model = model.to("cpu")
    if config.fp16:
        model = model.to(torch.float16)
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    metrics = {
        "base_model": config.base_model, "best_epoch": result.best_epoch, "epochs": result.epochs,
        "no_answer_threshold": result.no_answer_threshold, "seconds": round(result.seconds, 1),
        "device": result.device, "train": result.train_report.to_dict(),
        "dev": result.dev_report.to_dict() if result.dev_report else None,
        "features": result.feature_stats, "settings": config.recorded(),
        "stopped_early": result.stopped_early,
    }
    atomic_write_json(out / "training_metrics.json", metrics)
    if result.no_answer_threshold is not None and result.dev_report is not None:
        atomic_write_json(out / "calibration.json", {
            "no_answer_threshold": result.no_answer_threshold,
            "calibrated_on": result.dev_report.path.name,
            "f1": result.best["dev"]["best_f1"],
            "rule": "no answer when null_score - best_span_score > no_answer_threshold",
        })
    atomic_write_text(out / "TRAINING.md", training_markdown(config, result, continuing))


def reproduce_command(config: TrainingConfig) -> str:
    """The ``docqa train-reader`` command line that repeats this run."""
    parts = ["docqa train-reader", f"--train {config.train_file}"]
    if config.dev_file:
        parts.append(f"--dev {config.dev_file}")
    parts += [f"--base {config.base_model}", f"--out {config.out_dir}", f"--epochs {config.epochs}",
              f"--max-seq-length {config.max_seq_length}", f"--stride {config.stride}",
              f"--lr {config.learning_rate:g}", f"--batch-size {config.batch_size}", f"--seed {config.seed}"]
    if config.answerable_warmup_epochs:
        parts.append(f"--answerable-warmup-epochs {config.answerable_warmup_epochs}")
    if config.fp16:
        parts.append("--fp16")
    if config.bf16:
        parts.append("--bf16")
    return " ".join(parts)


def training_markdown(config: TrainingConfig, result: TrainingResult, continuing: bool) -> str:
    """``TRAINING.md``: what data, which settings, what scores, how long — enough to judge and repeat."""
    import torch
    import transformers

    tr = result.train_report
    lines = [
        f"# {config.out_dir.name} — reader training record", "",
        f"Written by `docqa train-reader` on {datetime.now(timezone.utc).isoformat(timespec='seconds')}.", "",
        "## Data", "",
        f"- train: `{tr.path.name}` (sha256 `{tr.sha256[:16]}…`): {tr.usable} questions "
        f"({tr.answerable} answerable, {tr.unanswerable} unanswerable) from {tr.articles} articles / "
        f"{tr.paragraphs} paragraphs; {tr.repaired_offsets} answer offsets repaired, "
        f"{tr.skipped_questions} questions skipped.",
        f"- training windows: {result.feature_stats.get('windows')} "
        f"({result.feature_stats.get('answer_windows')} hold the answer; the others are labelled [CLS]).",
    ]
    if result.dev_report is not None:
        dv = result.dev_report
        lines.append(f"- dev: `{dv.path.name}` (sha256 `{dv.sha256[:16]}…`): {dv.usable} questions "
                     f"({dv.answerable} answerable, {dv.unanswerable} unanswerable), read from their own "
                     f"paragraph (gold passage).")
    else:
        lines.append("- dev: none — no per-epoch scores; the last epoch is kept.")
    lines += [
        "", "## Settings", "",
        f"- base: `{config.base_model}` — "
        + ("training continued from an extractive QA model." if continuing
           else "a plain encoder; a new, randomly initialised QA head was added."),
        f"- {config.epochs} epochs ({config.answerable_warmup_epochs} answerable-only warm-up), "
        f"lr {config.learning_rate:g} (linear decay, {config.warmup_ratio:.0%} warm-up), "
        f"batch {config.batch_size} (length-bucketed), weight decay {config.weight_decay}, "
        f"grad-norm clip {config.max_grad_norm}, seed {config.seed}.",
        f"- windows: max length {config.max_seq_length}, stride {config.stride}, question ≤ "
        f"{config.max_question_tokens} tokens "
        "(the reader's `docqa.pipelines.components.readers.qa_windows`); "
        f"answers ≤ {config.max_answer_length} tokens at evaluation.",
        f"- weights saved in {'float16' if config.fp16 else 'float32'}"
        f"{' (trained in bfloat16 mixed precision)' if config.bf16 else ''}; device {result.device}; torch "
        f"{torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}.",
        f"- time: {result.seconds / 60:.1f} min" + (f" (resumed at step {result.resumed_at_step})"
                                                     if result.resumed_at_step else "") + "."
        + (f" Stopped early: {result.stopped_early}." if result.stopped_early else ""),
        f"- repeat: `{reproduce_command(config)}`",
        "", "## Scores per epoch", "",
    ]
    if result.dev_report is not None:
        lines += ["Gold passage, official SQuAD 2.0 metrics. *Forced*: the best span is always given "
                  "(answerable questions). *Null rule*: \"no answer\" when null − best > τ, τ chosen on "
                  "this dev set to maximise F1.", "",
                  "| epoch | train loss | forced HasAns EM | forced HasAns F1 | null rule EM | null rule F1 "
                  "| τ | seconds |", "|---|---|---|---|---|---|---|---|"]
        for r in result.epochs:
            d = r["dev"]
            mark = " **(kept)**" if r["epoch"] == result.best_epoch else ""
            part = f" ({r['partial']:.0%})" if r.get("partial") else ""
            lines.append(f"| {r['epoch']}{part}{mark} | {r['train_loss']:.3f} | "
                         f"{d['forced_has_ans_exact']:.1f} | {d['forced_has_ans_f1']:.1f} | "
                         f"{d['best_exact']:.1f} | {d['best_f1']:.1f} | "
                         f"{d['threshold']:.2f} | {r['seconds']:.0f} |")
        best = result.best["dev"]
        lines += ["", f"Always answering \"no answer\" would score F1 {best['no_answer_f1']:.1f} on this "
                      "dev set."]
        if result.no_answer_threshold is not None:
            lines.append(f"The kept epoch's τ = {result.no_answer_threshold:.3f} is in `calibration.json`.")
    else:
        lines += ["| epoch | train loss | seconds |", "|---|---|---|"]
        lines += [f"| {r['epoch']} | {r['train_loss']:.3f} | {r['seconds']:.0f} |" for r in result.epochs]
    return "\n".join(lines) + "\n"



def summary_lines(result: TrainingResult) -> list[str]:
    """What ``docqa train-reader`` prints when a run is done: the outcome and how to use the model."""
    best = result.best
    summary = f"done: {result.out_dir} (best epoch {result.best_epoch} of {len(result.epochs)}"
    if "dev" in best:
        d = best["dev"]
        summary += (f"; dev forced-answer HasAns EM/F1 {d['forced_has_ans_exact']:.1f}/"
                    f"{d['forced_has_ans_f1']:.1f}")
        if d["no_ans"]:
            summary += f"; null rule F1 {d['best_f1']:.1f} at τ={d['threshold']:.2f}"
    summary += f"; {result.seconds / 60:.1f} min on {result.device})"
    return [summary, f"use it: export {READER_MODEL}={result.out_dir.resolve()}"]
