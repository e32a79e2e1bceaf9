"""`docqa train-reader`: fine-tune an extractive QA reader on SQuAD-format questions.

Why DocQA trains readers itself: people adapt the reader to their own documents (cdQA, DrQA and txtai let
them; Haystack 3 no longer does), and an air-gapped machine needs a reader it can build from the packaged
MiniLM encoder. What matters, and where it lives:

- **The same windows as the reader** (:mod:`docqa.pipelines.training.features`): questions and paragraphs are
  cut by the reader's own ``build_windows``; a window that does not hold the whole answer, and every
  window of an unanswerable question, is labelled with the window's ``cls_index`` (the null score), as
  SQuAD 2.0 training does. Windows of similar length are batched together.
- **The same scores as ``docqa eval``** (:mod:`docqa.pipelines.training.dev_scores`): after each epoch the dev
  questions are read from their own paragraph (gold passage) by the reader's decoder and scored with the
  official metrics: forced-answer HasAns EM/F1, and EM/F1 of the null-score rule at the τ that maximises
  F1 on dev (written to ``calibration.json``).
- **Best epoch, resumable** (:mod:`docqa.pipelines.training.checkpoints`): the best epoch's weights are kept;
a
  checkpoint is written every ``checkpoint_every`` steps and at every epoch end, atomically, so
  ``--resume`` continues a killed run where it stopped, with the same final weights on CPU.
- **A normal model directory** (:mod:`docqa.pipelines.training.report`): config, tokenizer and safetensors,
  plus ``TRAINING.md``, ``training_metrics.json`` and ``calibration.json``.

This module holds the loop that ties them together.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from docqa.config import READER_MODEL
from docqa.pipelines.components.readers.backends import available_cores, limit_torch_threads
from docqa.pipelines.components.readers.qa_windows import pad_batch
from docqa.pipelines.model_loading import ModelUnavailableError, resolve_model_dir
from docqa.pipelines.squad import SquadExample, load_squad
from docqa.pipelines.training.checkpoints import (
    BEST_WEIGHTS_FILE,
    CHECKPOINT_FILE,
    STATE_DIR,
    load_best_weights,
    prepare_out_dir,
    save_checkpoint,
    save_weights,
)
from docqa.pipelines.training.dev_scores import forward_inputs, gold_passage_scores
from docqa.pipelines.training.features import FeatureStats, TrainFeature, build_training_features, epoch_plan
from docqa.pipelines.training.report import epoch_line, write_model_dir
from docqa.pipelines.training.settings import TrainingConfig, TrainingError, TrainingResult
from docqa.pipelines.training.time_budget import LinearSchedule, StepBudget

__all__ = ["CHECKPOINT_FILE", "STATE_DIR", "TrainingConfig", "TrainingError", "TrainingResult",
           "resolve_base_model", "train_reader"]


def resolve_base_model(name: str) -> Path:
    """Directory of the base model: ``compact`` (bundled reader), the packaged MiniLM sentinel, a
    directory or a Hub id. :raises ModelUnavailableError: with a how-to-fetch message."""
    if name == "compact":
        from docqa.pipelines.components.readers.selection import compact_reader_dir

        directory = compact_reader_dir()
        if not (directory / "config.json").exists():
            raise ModelUnavailableError("compact", "base", f"the bundled compact reader is missing "
                                        f"({directory})", READER_MODEL)
        return directory
    return resolve_model_dir(name, role="base", env_var=READER_MODEL)


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


def _eval_guess_s(questions: int, batch_size: int, device: str) -> float:
    """A first guess at one dev evaluation's seconds (replaced by the measured time after the first)."""
    per_batch = 0.05 if device.startswith("cuda") else 1.5
    return 5.0 + per_batch * questions * 1.2 / max(batch_size, 1)


def _selected_score(metrics: dict[str, float], config: TrainingConfig) -> float:
    metric = config.select_metric
    if metric == "auto":
        metric = "f1" if metrics["no_ans"] and metrics["has_ans"] else "forced_has_ans_f1"
    return float(metrics["best_f1" if metric == "f1" else metric])


def train_reader(config: TrainingConfig, *, log: Callable[[str], None] | None = None,
                 on_step: Callable[[int], None] | None = None,
                 features: tuple[list[TrainFeature], FeatureStats] | None = None) -> TrainingResult:
    """Train, evaluate after each epoch, keep the best epoch, write the model directory.

    :param log: receives one line per notable event (data report, epoch scores); default: stderr.
    :param on_step: called with the global step after each optimizer step (and after any checkpoint due
        at that step); an exception it raises stops the run as a kill would.
    :param features: training windows already built by :func:`build_training_features` from this
        config's train file, tokenizer and window settings (several runs over the same data tokenise
        it once); default: built here.
    :raises SquadFileError: unusable train/dev file (message names it).
    :raises ModelUnavailableError: base model not found (message says how to get it).
    :raises TrainingError: settings or output directory problems (message says what to do).
    """
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    config.validate()
    if log is None:
        from rich.console import Console

        err = Console(stderr=True, highlight=False)

        def log(line: str) -> None:
            err.print(line, markup=False)

    started = time.perf_counter()
    state = prepare_out_dir(config)
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
        limit_torch_threads()
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
    autocast = (torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if config.bf16
                else contextlib.nullcontext())

    if features is None:
        features = build_training_features(
            tokenizer, train_examples, max_seq_length=config.max_seq_length, stride=config.stride,
            max_question_tokens=config.max_question_tokens,
            workers=config.feature_workers or available_cores())
    features, stats = features
    log(f"{stats.windows} training windows ({stats.answer_windows} hold an answer) from "
        f"{stats.questions} questions; base {config.base_model} "
        f"({'continuing a QA model' if continuing else 'new QA head on an encoder'}); device {device}")
    plan = epoch_plan(features, config)
    total_steps = sum(len(batches) for batches in plan)

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, fused=device.startswith("cuda"))
    schedule = LinearSchedule(int(config.warmup_ratio * total_steps), total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    epoch_ends = list(itertools.accumulate(len(batches) for batches in plan))
    budget = (StepBudget(config.time_limit_s, epoch_ends,
                         eval_guess_s=_eval_guess_s(len(dev_examples), config.eval_batch_size, device))
              if config.fit_to_time_limit and config.time_limit_s else None)

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
        save_checkpoint({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if device.startswith("cuda") else None,
            "epoch": epoch, "batch": batch, "global_step": global_step, "loss_sum": loss_sum,
            "loss_count": loss_count, "elapsed": elapsed_before + time.perf_counter() - started,
            "history": history, "best_score": best_score, "best_epoch": best_epoch,
            "resume_key": config.resume_key(),
        }, state_dir / CHECKPOINT_FILE)

    def out_of_time(extra: float = 0.0) -> bool:
        limit = config.time_limit_s
        return limit is not None and elapsed_before + time.perf_counter() - started + extra > limit

    stopped_early = None
    loss_acc = torch.zeros((), device=device)  # summed on the device: no GPU sync per step
    train_clock, train_steps = 0.0, 0  # time and steps spent in optimizer steps (evaluations excluded)
    with _progress_bar(config.show_progress) as bars:
        task = bars.add_task("training", total=total_steps, completed=global_step, info="")
        window_count, window_clock = 0, time.perf_counter()
        for epoch in range(epoch0, config.epochs):
            if stopped_early or global_step >= schedule.total:
                break
            bars.update(task, description=f"epoch {epoch + 1}/{config.epochs}")
            epoch_started = time.perf_counter()
            batches = plan[epoch]
            partial = False
            first = batch0 if epoch == epoch0 else 0
            last = first - 1  # the last batch trained in this epoch
            step_clock = time.perf_counter()
            for b in range(first, len(batches)):
                last = b
                group = [features[i] for i in batches[b]]
                inputs = forward_inputs(model, pad_batch([f.window for f in group], pad_id), device)
                inputs["start_positions"] = torch.tensor([f.start for f in group], device=device)
                inputs["end_positions"] = torch.tensor([f.end for f in group], device=device)
                with autocast:
                    loss = model(**inputs).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                global_step += 1
                loss_acc += loss.detach()
                loss_count += 1
                window_count += len(group)
                if global_step % 25 == 0 or b + 1 == len(batches):
                    rate = window_count / max(time.perf_counter() - window_clock, 1e-9)
                    mean = (loss_sum + float(loss_acc)) / loss_count
                    bars.update(task, completed=global_step, info=f"loss {mean:.3f}  {rate:.1f} ex/s")
                if global_step % config.checkpoint_every == 0 and b + 1 < len(batches):
                    loss_sum, loss_acc = loss_sum + float(loss_acc), loss_acc.zero_()
                    checkpoint(epoch, b + 1)
                if on_step is not None:
                    on_step(global_step)
                now = time.perf_counter()
                train_clock, train_steps, step_clock = train_clock + now - step_clock, train_steps + 1, now
                if budget is not None and train_steps >= 10 and train_steps % 25 == 0:
                    schedule.total = budget.fitted_total(
                        step=global_step, elapsed_s=elapsed_before + now - started,
                        seconds_per_step=train_clock / train_steps, planned=total_steps)
                    schedule.warmup = int(config.warmup_ratio * schedule.total)  # the same share of the run
                if budget is not None and global_step >= schedule.total:
                    partial = b + 1 < len(batches)
                    break
                if out_of_time() and (history or budget is not None):
                    if budget is not None:  # the prediction was wrong: evaluate what was trained
                        partial = True
                        break
                    stopped_early = (f"time limit {config.time_limit_s:.0f} s reached during epoch "
                                     f"{epoch + 1}; that epoch was dropped")
                    break
            if stopped_early:
                break
            record: dict[str, Any] = {"epoch": epoch + 1, "steps": global_step,
                                      "train_loss": (loss_sum + float(loss_acc)) / max(loss_count, 1),
                                      "windows": sum(len(x) for x in batches[:last + 1]),
                                      "answerable_only": epoch < config.answerable_warmup_epochs}
            if partial:
                record["partial"] = round((last + 1) / max(len(batches), 1), 3)
            loss_sum, loss_count, loss_acc = 0.0, 0, loss_acc.zero_()
            if dev_examples:
                eval_started = time.perf_counter()
                eval_task = bars.add_task("dev eval", total=len(dev_examples), info="")
                scores = gold_passage_scores(
                    model, tokenizer, dev_examples, max_seq_length=config.max_seq_length,
                    stride=config.stride, max_question_tokens=config.max_question_tokens,
                    max_answer_length=config.max_answer_length, batch_size=config.eval_batch_size,
                    device=device, progress=lambda n, t=eval_task: bars.update(t, completed=n))
                bars.remove_task(eval_task)
                if budget is not None:
                    budget.eval_s = time.perf_counter() - eval_started
                record["dev"] = scores
                score = _selected_score(scores, config)
            else:
                score = float(epoch)  # no dev set: the last epoch is the best we know
            record["seconds"] = round(time.perf_counter() - epoch_started, 1)
            history.append(record)
            if score > best_score:
                best_score, best_epoch = score, epoch + 1
                save_weights(model, state_dir / BEST_WEIGHTS_FILE)
            log(epoch_line(record, best_epoch == epoch + 1))
            checkpoint(epoch + 1, 0)
            window_count, window_clock = 0, time.perf_counter()
            if partial or (budget is not None and global_step >= schedule.total):
                if global_step < total_steps:
                    stopped_early = (f"fitted to the time limit ({config.time_limit_s:.0f} s): the learning "
                                     f"rate decayed to 0 at step {global_step} of {total_steps} planned")
                    log(stopped_early)
                break
            if budget is None and epoch + 1 < config.epochs and out_of_time(extra=float(record["seconds"])):
                stopped_early = (f"time limit {config.time_limit_s:.0f} s: stopped after epoch {epoch + 1} "
                                 f"of {config.epochs} (another epoch would not fit)")
                log(stopped_early)

    load_best_weights(model, state_dir, device)
    seconds = elapsed_before + time.perf_counter() - started
    best = history[best_epoch - 1]
    threshold = best["dev"]["threshold"] if "dev" in best and best["dev"]["no_ans"] else None
    result = TrainingResult(out_dir=config.out_dir, best_epoch=best_epoch, epochs=history,
                            no_answer_threshold=threshold, train_report=train_report, dev_report=dev_report,
                            seconds=seconds, device=device, resumed_at_step=resumed_at,
                            feature_stats=asdict(stats), stopped_early=stopped_early)
    write_model_dir(model, tokenizer, config, result, continuing)
    shutil.rmtree(state_dir, ignore_errors=True)
    log(f"wrote {config.out_dir} (best epoch {best_epoch}) in {seconds / 60:.1f} min")
    return result
