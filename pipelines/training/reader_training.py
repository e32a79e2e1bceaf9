"""`docqa train-reader`: fine-tune an extractive QA reader on SQuAD-format questions.

Why DocQA trains readers itself: people adapt the reader to their own documents (cdQA, DrQA and txtai let
them; Haystack 3 no longer does), and an air-gapped machine needs a reader it can build from the packaged
MiniLM encoder. What matters, and how this module gets it:

- **The same windows as the reader.** Questions and paragraphs are cut by
  :func:`pipelines.components.readers.qa_windows.build_windows` — the function ``DocQAReader`` calls — with the same
  ``max_seq_length``/``stride``/``max_question_tokens``, so a model is trained on exactly the inputs it
  will see. A window that does not hold the whole answer, and every window of an unanswerable question,
  is labelled with the window's ``cls_index`` (the null score), as SQuAD 2.0 training does.
- **The same scores as ``docqa eval``.** After each epoch the dev questions are read from their own
  paragraph (gold passage), decoded by :func:`pipelines.components.readers.span_decoding.decode_windows` (the reader's
  decoder) and scored by ``pipelines.evaluation.reader_eval`` (``score_runs``/``best_threshold`` over the official
  ``pipelines.evaluation.squad_metrics``): forced-answer HasAns EM/F1, and EM/F1 of the null-score rule at the
  τ that maximises F1 on dev (written to ``calibration.json``).
- **Best epoch, resumable.** The best epoch's weights are kept; a checkpoint (model, optimizer,
  scheduler, RNG state, position in the epoch) is written every ``checkpoint_every`` steps and at every
  epoch end, atomically, so ``--resume`` continues a killed run where it stopped. On CPU a resumed run
  ends with the same weights, bit for bit, as one that was never interrupted.
- **Length-bucketed batches.** Windows of similar length are batched together (inside shuffled pools),
  so little compute goes to padding.
- **A normal model directory.** config, tokenizer and safetensors (optionally fp16), loadable by
  ``DocQAReader``, ``DOCQA_READER_MODEL=DIR`` and ``docqa eval --reader DIR``, plus ``TRAINING.md`` (data,
  settings, per-epoch scores, time), ``training_metrics.json`` and ``calibration.json`` (τ on dev).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from docqa.config import DEFAULT_READER_MODEL
from docqa.errors import InvalidInputError
from pipelines.components.readers.backends import available_cores, length_sorted_batches
from pipelines.components.readers.qa_windows import (
    DEFAULT_MAX_QUESTION_TOKENS,
    DEFAULT_MAX_SEQ_LENGTH,
    DEFAULT_STRIDE,
    Window,
    build_windows,
    char_span_to_tokens,
    pad_batch,
)
from pipelines.components.readers.span_decoding import DEFAULT_MAX_ANSWER_LENGTH, decode_windows
from pipelines.model_loading import ModelUnavailableError, resolve_model_dir
from pipelines.training.squad_data import SquadDataError, SquadExample, SquadLoadReport, load_squad

STATE_DIR = "training-state"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_WEIGHTS_FILE = "best-epoch.safetensors"
BASE_ENV_VAR = "DOCQA_READER_MODEL"
SELECT_METRICS = ("auto", "f1", "forced_has_ans_f1")
# Settings a resumed run must share with the run it continues (others, e.g. progress display, may differ).
_RESUME_KEYS = ("base_model", "epochs", "max_seq_length", "stride", "max_question_tokens", "learning_rate",
                "batch_size", "seed", "warmup_ratio", "weight_decay", "max_grad_norm",
                "answerable_warmup_epochs", "bucket_pool", "select_metric", "max_answer_length")


class TrainingError(InvalidInputError):
    """A training run cannot start or continue as asked; ``str(err)`` says what to do."""


@dataclass
class TrainingConfig:
    """Everything a training run depends on. Defaults suit continuing a BERT-base SQuAD 2.0 reader.

    ``base_model``: Hub id or directory of an extractive QA model (training continues) or of a plain
    encoder (a QA head is added); ``packaged:all-MiniLM-L6-v2`` is the MiniLM encoder installed with
    DocQA, ``compact`` the bundled compact reader.
    """

    train_file: Path
    out_dir: Path
    dev_file: Path | None = None
    base_model: str = DEFAULT_READER_MODEL
    epochs: int = 2
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
    stride: int = DEFAULT_STRIDE
    max_question_tokens: int = DEFAULT_MAX_QUESTION_TOKENS
    learning_rate: float = 5e-5
    batch_size: int = 16
    eval_batch_size: int = 64
    seed: int = 42
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    # The first N epochs see only windows that hold an answer: the span head learns first, the null
    # score after (helps a freshly added QA head on small data).
    answerable_warmup_epochs: int = 0
    bucket_pool: int = 50  # batches per shuffled pool inside which windows are sorted by length
    max_answer_length: int = DEFAULT_MAX_ANSWER_LENGTH
    select_metric: str = "auto"  # "f1" (null rule, calibrated τ), "forced_has_ans_f1", or auto
    fp16: bool = False  # save the weights in float16 (half the size; the reader computes in float32)
    device: str | None = None  # "cpu" or "cuda"; None = CUDA when present
    checkpoint_every: int = 200  # optimizer steps between checkpoints (also at each epoch end)
    resume: bool = False
    show_progress: bool = True

    def validate(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"--epochs must be at least 1 (got {self.epochs})")
        if not 0 <= self.answerable_warmup_epochs <= self.epochs:
            problems.append("answerable-only warm-up epochs must be between 0 and --epochs")
        if not self.learning_rate > 0:
            problems.append(f"--lr must be positive (got {self.learning_rate})")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            problems.append("--batch-size must be at least 1")
        if not 0 <= self.warmup_ratio < 1:
            problems.append("warmup_ratio must be in [0, 1)")
        if self.select_metric not in SELECT_METRICS:
            problems.append(f"select_metric must be one of {', '.join(SELECT_METRICS)}")
        if self.checkpoint_every < 1:
            problems.append("checkpoint_every must be at least 1")
        if self.device not in (None, "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            problems.append(f"device must be 'cpu' or 'cuda' (got {self.device!r})")
        if problems:
            raise TrainingError("; ".join(problems))

    def resume_key(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _RESUME_KEYS}


@dataclass
class TrainFeature:
    """One training window and its label (token positions; both ``cls_index`` = "no answer here")."""

    window: Window
    start: int
    end: int
    has_answer: bool
    example: int


@dataclass
class FeatureStats:
    questions: int = 0
    windows: int = 0
    answer_windows: int = 0
    answer_in_no_window: int = 0  # answerable questions whose answer no window holds whole
    inexact_labels: int = 0  # labels whose tokens cover more text than the answer (sub-word answers)


@dataclass
class TrainingResult:
    """What a run produced. ``epochs`` holds one record per epoch (loss, dev scores, seconds)."""

    out_dir: Path
    best_epoch: int
    epochs: list[dict[str, Any]]
    no_answer_threshold: float | None
    train_report: SquadLoadReport
    dev_report: SquadLoadReport | None
    seconds: float
    device: str
    resumed_at_step: int | None = None
    feature_stats: dict[str, int] = field(default_factory=dict)

    @property
    def best(self) -> dict[str, Any]:
        return self.epochs[self.best_epoch - 1]


# ---------------------------------------------------------------------------------------------- data


def build_training_features(tokenizer, examples: Sequence[SquadExample], *, max_seq_length: int,
                            stride: int, max_question_tokens: int) -> tuple[list[TrainFeature], FeatureStats]:
    """Windows of every question (via :func:`build_windows`, as the reader reads) with start/end labels.

    The label is the first located answer; a window that does not hold it whole, or any window of an
    unanswerable question, points both positions at its ``cls_index``.
    """
    features: list[TrainFeature] = []
    stats = FeatureStats(questions=len(examples))
    for index, ex in enumerate(examples):
        windows = build_windows(tokenizer, ex.question, [ex.context], max_seq_length=max_seq_length,
                                stride=stride, max_question_tokens=max_question_tokens)
        answer = ex.answers[0] if ex.answers else None
        found = False
        for window in windows:
            span = char_span_to_tokens(window, answer.start, answer.end) if answer else None
            if span is None:
                features.append(TrainFeature(window, window.cls_index, window.cls_index, False, index))
                continue
            found = True
            start, end = span
            if (window.offsets[start, 0], window.offsets[end, 1]) != (answer.start, answer.end):
                stats.inexact_labels += 1
            features.append(TrainFeature(window, start, end, True, index))
        stats.windows += len(windows)
        stats.answer_windows += sum(1 for f in features[len(features) - len(windows):] if f.has_answer)
        if answer is not None and not found:
            stats.answer_in_no_window += 1
    return features, stats


def bucketed_batches(lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int,
                     pool: int = 50) -> list[list[int]]:
    """Shuffled batches of similar-length items: shuffle, sort inside pools of ``pool`` batches by
    length, cut into batches, shuffle the batches. Depends only on (seed, epoch): resumable."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    chunk = batch_size * max(1, pool)
    batches: list[list[int]] = []
    for i in range(0, len(order), chunk):
        part = sorted((int(j) for j in order[i : i + chunk]), key=lambda j: lengths[j])
        batches += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _epoch_plan(features: Sequence[TrainFeature], config: TrainingConfig) -> list[list[list[int]]]:
    """The batches of every epoch, fixed up front (the LR schedule needs the total step count)."""
    lengths = [f.window.length for f in features]
    plans = []
    for epoch in range(config.epochs):
        if epoch < config.answerable_warmup_epochs:
            chosen = [i for i, f in enumerate(features) if f.has_answer]
        else:
            chosen = list(range(len(features)))
        batches = bucketed_batches([lengths[i] for i in chosen], config.batch_size, seed=config.seed,
                                   epoch=epoch, pool=config.bucket_pool)
        plans.append([[chosen[i] for i in batch] for batch in batches])
    return plans


# ---------------------------------------------------------------------------------------------- model


def resolve_base_model(name: str) -> Path:
    """Directory of the base model: ``compact`` (bundled reader), the packaged MiniLM sentinel, a
    directory or a Hub id. :raises ModelUnavailableError: with a how-to-fetch message."""
    if name == "compact":
        from pipelines.components.readers.selection import compact_reader_dir

        directory = compact_reader_dir()
        if not (directory / "config.json").exists():
            raise ModelUnavailableError("compact", "base", f"the bundled compact reader is missing "
                                        f"({directory})", BASE_ENV_VAR)
        return directory
    return resolve_model_dir(name, role="base", env_var=BASE_ENV_VAR)


def _is_qa_model(model_dir: Path) -> bool:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any(str(a).endswith("ForQuestionAnswering") for a in config.get("architectures") or [])


def _pick_device(config: TrainingConfig) -> str:
    import torch

    if config.device:
        if config.device.startswith("cuda") and not torch.cuda.is_available():
            raise TrainingError("device 'cuda' was asked for but PyTorch sees no CUDA GPU here")
        return config.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _forward_inputs(model, batch: dict[str, np.ndarray], device: str) -> dict[str, Any]:
    import torch

    accepts_types = "token_type_ids" in inspect.signature(model.forward).parameters
    return {k: torch.from_numpy(v).to(device) for k, v in batch.items()
            if k != "token_type_ids" or accepts_types}


def window_logits(model, windows: Sequence[Window], *, batch_size: int, device: str, pad_token_id: int
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(start, end)`` logits of every window, in order, from length-sorted batches (as the reader)."""
    import torch

    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(windows)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for idx in length_sorted_batches(windows, batch_size):
            group = [windows[i] for i in idx]
            result = model(**_forward_inputs(model, pad_batch(group, pad_token_id), device))
            start = result.start_logits.float().cpu().numpy()
            end = result.end_logits.float().cpu().numpy()
            for row, i in enumerate(idx):
                n = windows[i].length
                out[i] = (start[row, :n], end[row, :n])
    model.train(was_training)
    return out  # type: ignore[return-value]


def gold_passage_scores(model, tokenizer, examples: Sequence[SquadExample], *, max_seq_length: int,
                        stride: int, max_question_tokens: int, max_answer_length: int | None,
                        batch_size: int, device: str, progress: Callable[[int], None] | None = None
                        ) -> dict[str, float]:
    """SQuAD 2.0 scores of ``model`` reading each question's own paragraph, as ``docqa eval --reader``.

    Reading is the reader's own path on the in-memory model (``build_windows`` → length-sorted batches →
    ``decode_windows``); scoring and the τ search are ``pipelines.evaluation.reader_eval``'s. Keys:
    ``forced_has_ans_exact/f1`` (best span always given, answerable questions only), ``best_exact/best_f1``
    with ``threshold`` (null-score rule at the τ maximising F1: no answer when ``null − best > τ``, the
    reader's rule), ``exact_at_0/f1_at_0`` (τ = 0, the default of an uncalibrated reader), ``no_answer_f1``
    (always saying "no answer"), ``has_ans``/``no_ans``/``questions``.
    """
    from haystack import Document

    from pipelines.evaluation.reader_eval import ReaderExample, ReaderRun, best_threshold, score_runs

    windows: list[Window] = []
    owner: list[int] = []
    for q, ex in enumerate(examples):
        ws = build_windows(tokenizer, ex.question, [ex.context], max_seq_length=max_seq_length,
                           stride=stride, max_question_tokens=max_question_tokens)
        windows += ws
        owner += [q] * len(ws)
    logits = window_logits(model, windows, batch_size=batch_size, device=device,
                           pad_token_id=tokenizer.pad_token_id or 0)
    per_question: list[list[int]] = [[] for _ in examples]
    for w, q in enumerate(owner):
        per_question[q].append(w)
    references: list[ReaderExample] = []
    runs: list[ReaderRun] = []
    for q, ex in enumerate(examples):
        decoded = decode_windows([windows[i] for i in per_question[q]], [logits[i] for i in per_question[q]],
                                 [ex.context], max_answer_length=max_answer_length, top_k=1)
        references.append(ReaderExample(ex.qid, ex.question, [Document(content=ex.context)],
                                        list(ex.gold_texts), ex.is_impossible))
        runs.append(ReaderRun(qid=ex.qid, forced_answer=decoded.answers[0].text if decoded.answers else "",
                              null_score_diff=decoded.null_score_diff,
                              no_answer=decoded.null_score_diff > 0.0,
                              no_answer_score=decoded.null_probability, seconds=0.0))
        if progress:
            progress(q + 1)
    forced = score_runs(references, runs, threshold=math.inf)
    at_zero = score_runs(references, runs, threshold=0.0)
    tau, _ = best_threshold(references, runs)
    at_tau = score_runs(references, runs, threshold=tau)
    has_ans = int(forced["HasAns_total"])
    no_ans = int(forced["NoAns_total"])
    return {
        "questions": len(examples), "has_ans": has_ans, "no_ans": no_ans,
        "forced_has_ans_exact": forced["HasAns_exact"], "forced_has_ans_f1": forced["HasAns_f1"],
        "exact_at_0": at_zero["exact"], "f1_at_0": at_zero["f1"],
        "best_exact": at_tau["exact"], "best_f1": at_tau["f1"], "threshold": float(tau),
        "no_answer_f1": 100.0 * no_ans / len(examples) if examples else 0.0,
    }


# ---------------------------------------------------------------------------------------------- state


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_weights(model, path: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def _prepare_out_dir(config: TrainingConfig) -> dict[str, Any] | None:
    """Check the output directory; the checkpoint to resume from, or ``None`` for a fresh run."""
    import torch

    out = config.out_dir
    checkpoint = out / STATE_DIR / CHECKPOINT_FILE
    if config.resume and checkpoint.exists():
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:  # a torn or foreign file: say which, do not guess
            raise TrainingError(f"{checkpoint}: cannot be read ({type(err).__name__}); delete "
                                f"{out / STATE_DIR} to start over") from err
        saved = state.get("resume_key", {})
        differs = [f"{k}: was {saved.get(k)!r}, now {v!r}" for k, v in config.resume_key().items()
                   if saved.get(k) != v]
        if differs:
            raise TrainingError(f"--resume: the run in {out} used other settings ({'; '.join(differs)}); "
                                f"use the same settings, or another --out to start a new run")
        return state
    if out.exists() and any(out.iterdir()):
        if (out / STATE_DIR).exists() and not config.resume:
            raise TrainingError(f"{out} holds an unfinished training run; pass --resume to continue it, "
                                f"or choose another --out")
        raise TrainingError(f"{out} is not empty; choose a new or empty --out directory")
    return None


# ---------------------------------------------------------------------------------------------- train


def _progress_bar(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=False, disable=not enabled)


def _selected_score(metrics: dict[str, float], config: TrainingConfig) -> float:
    metric = config.select_metric
    if metric == "auto":
        metric = "f1" if metrics["no_ans"] and metrics["has_ans"] else "forced_has_ans_f1"
    return float(metrics["best_f1" if metric == "f1" else metric])


def train_reader(config: TrainingConfig, *, log: Callable[[str], None] | None = None,
                 on_step: Callable[[int], None] | None = None) -> TrainingResult:
    """Train, evaluate after each epoch, keep the best epoch, write the model directory.

    :param log: receives one line per notable event (data report, epoch scores); default: stderr.
    :param on_step: called with the global step after each optimizer step (and after any checkpoint due
        at that step); an exception it raises stops the run as a kill would.
    :raises SquadDataError: unusable train/dev file (message names it).
    :raises ModelUnavailableError: base model not found (message says how to get it).
    :raises TrainingError: settings or output directory problems (message says what to do).
    """
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, get_linear_schedule_with_warmup

    config.validate()
    if log is None:
        from rich.console import Console

        err = Console(stderr=True, highlight=False)

        def log(line: str) -> None:
            err.print(line, markup=False)

    started = time.perf_counter()
    state = _prepare_out_dir(config)
    train_examples, train_report = load_squad(config.train_file)
    log(train_report.format())
    dev_examples: list[SquadExample] = []
    dev_report = None
    if config.dev_file is not None:
        dev_examples, dev_report = load_squad(config.dev_file)
        log(dev_report.format())
    base_dir = resolve_base_model(config.base_model)
    device = _pick_device(config)
    if device == "cpu":
        torch.set_num_threads(min(torch.get_num_threads(), available_cores()))
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise TrainingError(f"{config.base_model}: needs a fast (Rust) tokenizer for character offsets")

    torch.manual_seed(config.seed)
    continuing = _is_qa_model(base_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(base_dir, dtype=torch.float32)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and config.max_seq_length > limit:
        raise TrainingError(f"--max-seq-length {config.max_seq_length} exceeds what {config.base_model} "
                            f"can read ({limit} positions)")
    model.to(device)
    model.train()
    pad_id = tokenizer.pad_token_id or 0

    features, stats = build_training_features(
        tokenizer, train_examples, max_seq_length=config.max_seq_length, stride=config.stride,
        max_question_tokens=config.max_question_tokens)
    log(f"{stats.windows} training windows ({stats.answer_windows} hold an answer) from "
        f"{stats.questions} questions; base {config.base_model} "
        f"({'continuing a QA model' if continuing else 'new QA head on an encoder'}); device {device}")
    plan = _epoch_plan(features, config)
    total_steps = sum(len(batches) for batches in plan)

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps),
                                                total_steps)

    state_dir = config.out_dir / STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    epoch0, batch0, global_step = 0, 0, 0
    loss_sum, loss_count, elapsed_before = 0.0, 0, 0.0
    history: list[dict[str, Any]] = []
    best_score, best_epoch = -math.inf, 0
    resumed_at = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if device.startswith("cuda") and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"])
        epoch0, batch0, global_step = int(state["epoch"]), int(state["batch"]), int(state["global_step"])
        loss_sum, loss_count = float(state["loss_sum"]), int(state["loss_count"])
        elapsed_before = float(state["elapsed"])
        history = list(state["history"])
        best_score, best_epoch = float(state["best_score"]), int(state["best_epoch"])
        resumed_at = global_step
        log(f"resuming at step {global_step}/{total_steps} (epoch {epoch0 + 1}, batch {batch0})")
        del state

    def checkpoint(epoch: int, batch: int) -> None:
        _atomic_torch_save({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if device.startswith("cuda") else None,
            "epoch": epoch, "batch": batch, "global_step": global_step, "loss_sum": loss_sum,
            "loss_count": loss_count, "elapsed": elapsed_before + time.perf_counter() - started,
            "history": history, "best_score": best_score, "best_epoch": best_epoch,
            "resume_key": config.resume_key(),
        }, state_dir / CHECKPOINT_FILE)

    with _progress_bar(config.show_progress) as bars:
        task = bars.add_task("training", total=total_steps, completed=global_step, info="")
        window_count, window_clock = 0, time.perf_counter()
        for epoch in range(epoch0, config.epochs):
            bars.update(task, description=f"epoch {epoch + 1}/{config.epochs}")
            epoch_started = time.perf_counter()
            batches = plan[epoch]
            for b in range(batch0 if epoch == epoch0 else 0, len(batches)):
                group = [features[i] for i in batches[b]]
                inputs = _forward_inputs(model, pad_batch([f.window for f in group], pad_id), device)
                inputs["start_positions"] = torch.tensor([f.start for f in group], device=device)
                inputs["end_positions"] = torch.tensor([f.end for f in group], device=device)
                loss = model(**inputs).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                global_step += 1
                loss_sum += float(loss.detach())
                loss_count += 1
                window_count += len(group)
                rate = window_count / max(time.perf_counter() - window_clock, 1e-9)
                bars.update(task, advance=1, info=f"loss {loss_sum / loss_count:.3f}  {rate:.1f} ex/s")
                if global_step % config.checkpoint_every == 0 and b + 1 < len(batches):
                    checkpoint(epoch, b + 1)
                if on_step is not None:
                    on_step(global_step)
            record: dict[str, Any] = {"epoch": epoch + 1, "steps": global_step,
                                      "train_loss": loss_sum / max(loss_count, 1),
                                      "windows": sum(len(b) for b in batches),
                                      "answerable_only": epoch < config.answerable_warmup_epochs}
            loss_sum, loss_count = 0.0, 0
            if dev_examples:
                eval_task = bars.add_task("dev eval", total=len(dev_examples), info="")
                scores = gold_passage_scores(
                    model, tokenizer, dev_examples, max_seq_length=config.max_seq_length,
                    stride=config.stride, max_question_tokens=config.max_question_tokens,
                    max_answer_length=config.max_answer_length, batch_size=config.eval_batch_size,
                    device=device, progress=lambda n, t=eval_task: bars.update(t, completed=n))
                bars.remove_task(eval_task)
                record["dev"] = scores
                score = _selected_score(scores, config)
            else:
                score = float(epoch)  # no dev set: the last epoch is the best we know
            record["seconds"] = round(time.perf_counter() - epoch_started, 1)
            history.append(record)
            if score > best_score:
                best_score, best_epoch = score, epoch + 1
                _save_weights(model, state_dir / BEST_WEIGHTS_FILE)
            log(_epoch_line(record, best_epoch == epoch + 1))
            checkpoint(epoch + 1, 0)
            window_count, window_clock = 0, time.perf_counter()

    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(state_dir / BEST_WEIGHTS_FILE), device=str(device)))
    seconds = elapsed_before + time.perf_counter() - started
    best = history[best_epoch - 1]
    threshold = best["dev"]["threshold"] if "dev" in best and best["dev"]["no_ans"] else None
    result = TrainingResult(out_dir=config.out_dir, best_epoch=best_epoch, epochs=history,
                            no_answer_threshold=threshold, train_report=train_report, dev_report=dev_report,
                            seconds=seconds, device=device, resumed_at_step=resumed_at,
                            feature_stats=asdict(stats))
    _write_model_dir(model, tokenizer, config, result, continuing)
    shutil.rmtree(state_dir, ignore_errors=True)
    log(f"wrote {config.out_dir} (best epoch {best_epoch}) in {seconds / 60:.1f} min")
    return result


def _epoch_line(record: dict[str, Any], is_best: bool) -> str:
    line = f"epoch {record['epoch']}: train loss {record['train_loss']:.3f}"
    if record.get("answerable_only"):
        line += " (answerable windows only)"
    dev = record.get("dev")
    if dev:
        line += (f"; dev forced-answer HasAns EM/F1 {dev['forced_has_ans_exact']:.1f}/"
                 f"{dev['forced_has_ans_f1']:.1f}")
        if dev["no_ans"]:
            line += (f", null rule EM/F1 {dev['best_exact']:.1f}/{dev['best_f1']:.1f} "
                     f"(τ={dev['threshold']:.2f})")
    line += f"; {record['seconds']:.0f} s" + ("  ← best" if is_best else "")
    return line


# ---------------------------------------------------------------------------------------------- output


def _write_model_dir(model, tokenizer, config: TrainingConfig, result: TrainingResult, continuing: bool
                     ) -> None:
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
        "features": result.feature_stats, "settings": _settings(config),
    }
    (out / "training_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    if result.no_answer_threshold is not None and result.dev_report is not None:
        (out / "calibration.json").write_text(json.dumps({
            "no_answer_threshold": result.no_answer_threshold,
            "calibrated_on": result.dev_report.path.name,
            "f1": result.best["dev"]["best_f1"],
            "rule": "no answer when null_score - best_span_score > no_answer_threshold",
        }, indent=2) + "\n", encoding="utf-8")
    (out / "TRAINING.md").write_text(training_markdown(config, result, continuing), encoding="utf-8")


def _settings(config: TrainingConfig) -> dict[str, Any]:
    keys = ("epochs", "max_seq_length", "stride", "max_question_tokens", "learning_rate", "batch_size",
            "seed", "warmup_ratio", "weight_decay", "max_grad_norm", "answerable_warmup_epochs",
            "bucket_pool", "max_answer_length", "select_metric", "fp16")
    return {k: getattr(config, k) for k in keys}


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
        f"{config.max_question_tokens} tokens (the reader's `pipelines.components.readers.qa_windows`); answers ≤ "
        f"{config.max_answer_length} tokens at evaluation.",
        f"- weights saved in {'float16' if config.fp16 else 'float32'}; device {result.device}; torch "
        f"{torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}.",
        f"- time: {result.seconds / 60:.1f} min" + (f" (resumed at step {result.resumed_at_step})"
                                                     if result.resumed_at_step else "") + ".",
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
            lines.append(f"| {r['epoch']}{mark} | {r['train_loss']:.3f} | {d['forced_has_ans_exact']:.1f} | "
                         f"{d['forced_has_ans_f1']:.1f} | {d['best_exact']:.1f} | {d['best_f1']:.1f} | "
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


# ---------------------------------------------------------------------------------------------- CLI


def run_train_reader_cli(config: TrainingConfig, *, echo: Callable[[str], None] | None = None) -> int:
    """What ``docqa train-reader`` does: train, print a one-line summary; user errors print one clear
    message (no traceback). Returns the exit status: 0 done, 2 a problem the user can fix, 130 stopped
    by Ctrl-C (the last checkpoint stays; ``--resume`` continues)."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    say = echo or (lambda line: console.print(line, markup=False))
    try:
        result = train_reader(config, log=say)
    except (SquadDataError, ModelUnavailableError, TrainingError) as err:
        say(f"error: {err}")
        return 2
    except KeyboardInterrupt:
        state = config.out_dir / STATE_DIR
        if (state / CHECKPOINT_FILE).exists():
            say(f"interrupted; the last checkpoint is in {state} — run the same command with --resume "
                "to continue")
        else:
            say("interrupted before the first checkpoint; nothing to resume")
        return 130
    best = result.best
    summary = f"done: {result.out_dir} (best epoch {result.best_epoch} of {len(result.epochs)}"
    if "dev" in best:
        d = best["dev"]
        summary += (f"; dev forced-answer HasAns EM/F1 {d['forced_has_ans_exact']:.1f}/"
                    f"{d['forced_has_ans_f1']:.1f}")
        if d["no_ans"]:
            summary += f"; null rule F1 {d['best_f1']:.1f} at τ={d['threshold']:.2f}"
    summary += f"; {result.seconds / 60:.1f} min on {result.device})"
    say(summary)
    say(f"use it: export DOCQA_READER_MODEL={result.out_dir.resolve()}")
    return 0
