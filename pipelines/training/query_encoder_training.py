"""Fit the question side of dense retrieval: fine-tune a copy of the embedder on questions only, against
the passage vectors the packaged MiniLM already wrote into every index.

Why the question side only (an asymmetric dual encoder):

- **Every existing index stays valid.** Passages keep the vectors the packaged MiniLM gave them, so a user
  who upgrades re-embeds nothing; the fitted encoder only changes how a *question* is turned into a
  vector. (A fully fine-tuned embedder would need ``docqa reindex`` of every collection.)
- **It trains on two CPU cores.** A question is ~16 tokens; a passage ~150. With the passage tower frozen,
  its vectors are computed once and a step is a forward and backward pass over questions alone. That
  buys the strongest negatives there are: the softmax of each question runs over *all* 24,551 training
  paragraphs (a [batch × 24,551] product, cheap next to the encoder), so every step sees every hard
  negative rather than the handful a mined list or a batch holds.
- Paragraphs that hold one of the question's gold answer strings (checked among its ``mask_top`` best-scored
  paragraphs each step) are taken out of its softmax: they are more often second positives than negatives.

Loss: cross-entropy of ``scale`` × cosine over all paragraphs, gold as the target (the
MultipleNegativesRanking loss of sentence-transformers, with the whole corpus as the batch).
Selection: every ``eval_every`` steps the ``evaluate`` callback scores the dev questions (the script
passes the product's own hybrid retrieval over the dev articles and distractors); the best evaluation by
its ``select`` metric is kept. Checkpoints and ``resume`` as for the reranker
(:mod:`docqa.pipelines.training.reranker_state`, whose files are model-agnostic).

No Haystack import: only torch, transformers, numpy and DocQA modules that import neither.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from docqa.pipelines.components.rankers.pairs import pad_pairs
from docqa.pipelines.training import reranker_state
from docqa.pipelines.training.loop_parts import (
    BestWeights,
    RunState,
    adamw,
    autocast_for,
    epoch_batch,
    open_run,
    refit_schedule,
)
from docqa.pipelines.training.time_budget import LinearSchedule, StepBudget

Log = Callable[[str], None]
Evaluate = Callable[[Callable[[list[str]], np.ndarray]], dict[str, Any]]


@dataclass(frozen=True)
class QueryEncoderRecipe:
    """One run's settings."""

    learning_rate: float = 3e-5
    epochs: int = 2
    batch_questions: int = 128
    scale: float = 20.0  # cosine → logit; sentence-transformers' MNRL default
    max_question_tokens: int = 64
    mask_top: int = 64  # best-scored paragraphs checked per question for its answer strings
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    freeze_word_embeddings: bool = True  # the shipped model then shares them with the packaged MiniLM
    select: str = "hybrid_mrr"
    seed: int = 42
    eval_every: int = 150
    log_every: int = 25


@dataclass
class QueryTrainData:
    """What training reads: question token ids, their gold paragraph, answer strings, and the frozen
    passage tower's output (unit vectors of every paragraph, as an index holds them)."""

    questions: list[list[int]]
    gold: np.ndarray  # [Q] paragraph index
    answers: list[tuple[str, ...]]
    paragraphs_lower: list[str]  # for the answer-string check
    passage_vectors: np.ndarray  # [P, d] float32, unit length


def mean_pooled(model: Any, input_ids: Any, attention_mask: Any) -> Any:
    """Unit-length mean-pooled token states: what the packaged MiniLM's sentence-transformers head does."""
    import torch

    hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def false_negative_mask(top: np.ndarray, gold: np.ndarray, answers: Sequence[tuple[str, ...]],
                        paragraphs_lower: Sequence[str]) -> list[tuple[int, int]]:
    """(row, paragraph) pairs to take out of the softmax: among each question's best-scored paragraphs,
    those other than the gold that contain one of its answer strings (case-insensitive)."""
    out = []
    for row, (cands, g, ans) in enumerate(zip(top, gold, answers, strict=True)):
        needles = [a.strip().lower() for a in ans if a.strip()]
        for p in cands:
            if int(p) != int(g) and any(n in paragraphs_lower[int(p)] for n in needles):
                out.append((row, int(p)))
    return out


class QuestionEncoder:
    """Encodes question texts with the model being trained (eval mode, no grad), for the dev callback."""

    def __init__(self, model: Any, tokenizer: Any, max_tokens: int, device: str, autocast: Any,
                 batch_size: int = 256) -> None:
        self.model, self.tokenizer, self.max_tokens = model, tokenizer, max_tokens
        self.device, self.autocast, self.batch_size = device, autocast, batch_size

    def __call__(self, texts: list[str]) -> np.ndarray:
        import torch

        was_training = self.model.training
        self.model.eval()
        out = []
        with torch.inference_mode(), self.autocast():
            for start in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(texts[start:start + self.batch_size], truncation=True,
                                     max_length=self.max_tokens, padding=True, return_tensors="pt")
                out.append(mean_pooled(self.model, enc["input_ids"].to(self.device),
                                       enc["attention_mask"].to(self.device)).cpu().numpy())
        self.model.train(was_training)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def train_query_encoder(recipe: QueryEncoderRecipe, data: QueryTrainData, evaluate: Evaluate,
                        base_dir: Path, *, tokenizer: Any, device: str = "cpu", bf16: bool = False,
                        time_limit_s: float | None = None, log: Log = print, state_dir: Path | None = None,
                        resume: bool = False, checkpoint_s: float = 300.0,
                        on_step: Callable[[int], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train ``recipe``; return (the model with the best evaluation's weights, the training record).
    ``on_step(step)`` is called after every optimizer step (an exception from it stops the run as a kill
    would: how the tests kill a run).

    :raises ResumeError: ``resume`` over a checkpoint of other settings, or a fresh run over one.
    """
    import torch
    from transformers import AutoModel

    started = time.perf_counter()
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    model = AutoModel.from_pretrained(base_dir, dtype=torch.float32).to(device)
    if recipe.freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    model.train()
    autocast = autocast_for(device, bf16)
    encode = QuestionEncoder(model, tokenizer, recipe.max_question_tokens, device, autocast)
    passages = torch.from_numpy(np.ascontiguousarray(data.passage_vectors, dtype=np.float32)).to(device)
    n_questions = len(data.questions)
    steps_per_epoch = max(1, n_questions // recipe.batch_questions)
    planned = steps_per_epoch * recipe.epochs
    params, optimizer = adamw(model, recipe.learning_rate, recipe.weight_decay, device)
    schedule = LinearSchedule(int(recipe.warmup_ratio * planned), planned)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    evaluations = {s for s in range(recipe.eval_every, planned + 1, recipe.eval_every)} if recipe.eval_every \
        else set()
    evaluations |= {steps_per_epoch * e for e in range(1, recipe.epochs + 1)}
    resume_key = {"recipe": json.dumps(asdict(recipe), sort_keys=True), "base": str(base_dir),
                  "train_questions": n_questions, "paragraphs": len(data.passage_vectors)}
    state = open_run(state_dir, resume_key, resume)
    if state is not None:
        time_limit_s = state["time_limit_s"]
    budget = (StepBudget(time_limit_s, sorted(evaluations), eval_guess_s=20.0, final_s=10.0)
              if time_limit_s else None)
    log(f"{n_questions} questions against {len(data.passage_vectors)} frozen paragraph vectors; "
        f"{steps_per_epoch} steps/epoch × {recipe.epochs}; device {device}, bf16 {bf16}, "
        f"{sum(p.numel() for p in params) / 1e6:.1f}M trainable parameters")

    history: list[dict[str, Any]] = []
    best = BestWeights()
    step, train_clock, train_steps, order = 0, 0.0, 0, None
    loss_sum, loss_n, masked = 0.0, 0, 0
    if state is None:
        baseline = evaluate(encode)
        log(f"dev before training: {_line(baseline)}")
    else:
        run = RunState()
        run.restore(state, model, optimizer, scheduler, rng)
        step, train_clock, train_steps, order = run.step, run.train_clock, run.train_steps, run.order
        loss_sum, loss_n, masked = state["loss_sum"], state["loss_n"], state["masked"]
        history, baseline = state["history"], state["baseline"]
        best = BestWeights.resumed(state, state_dir)
        if budget is not None:
            budget.eval_s = state["eval_s"]
        started -= state["elapsed_s"]
        log(f"resumed at step {step} of {schedule.total} ({state['elapsed_s']:.0f} s trained before)")
    last_checkpoint = time.perf_counter()

    def checkpoint() -> None:
        nonlocal last_checkpoint
        if state_dir is None:
            return
        reranker_state.save_state(state_dir, {
            "resume_key": resume_key, "time_limit_s": time_limit_s,
            "elapsed_s": time.perf_counter() - started,
            "eval_s": budget.eval_s if budget is not None else None,
            **RunState(step, train_clock, train_steps, order).saved(model, optimizer, scheduler, rng),
            "loss_sum": loss_sum, "loss_n": loss_n,
            "masked": masked, "history": history, "baseline": baseline, **best.saved()})
        last_checkpoint = time.perf_counter()

    pad_id = int(tokenizer.pad_token_id or 0)
    while step < schedule.total:
        step_started = time.perf_counter()
        order, chosen = epoch_batch(step, steps_per_epoch, order, rng, n_questions, recipe.batch_questions)
        # single sequences: a "pair" whose second segment starts at its end
        batch = pad_pairs([(data.questions[q], len(data.questions[q])) for q in chosen], pad_id)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        gold = torch.from_numpy(data.gold[chosen]).to(device)
        with autocast():
            vectors = mean_pooled(model, torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))
        logits = recipe.scale * vectors.float() @ passages.T
        with torch.no_grad():
            top = logits.topk(min(recipe.mask_top, logits.shape[1]), dim=1).indices.cpu().numpy()
        drop = false_negative_mask(top, data.gold[chosen], [data.answers[q] for q in chosen],
                                   data.paragraphs_lower)
        if drop:
            rows, cols = zip(*drop, strict=True)
            logits = logits.index_put((torch.tensor(rows, device=device), torch.tensor(cols, device=device)),
                                      torch.tensor(-1e4, device=device))
            masked += len(drop)
        loss = torch.nn.functional.cross_entropy(logits, gold)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_sum += float(loss.detach())
        loss_n += 1
        now = time.perf_counter()
        train_clock += now - step_started
        train_steps += 1
        if step % recipe.log_every == 0:
            log(f"step {step}/{schedule.total} loss {loss_sum / max(1, loss_n):.4f} "
                f"lr {scheduler.get_last_lr()[0]:.2e} {train_clock / train_steps * 1000:.0f} ms/step "
                f"{now - started:.0f} s")
        refit_schedule(budget, schedule, step=step, train_steps=train_steps, train_clock=train_clock,
                       elapsed_s=now - started, planned=planned, warmup_ratio=recipe.warmup_ratio)
        if step in evaluations or step >= schedule.total:
            eval_started = time.perf_counter()
            scores = evaluate(encode)
            eval_s = time.perf_counter() - eval_started
            if budget is not None:
                budget.eval_s = eval_s
            record = {"evaluation": len(history) + 1, "step": step,
                      "epoch": round(step / steps_per_epoch, 4), "train_loss": loss_sum / max(1, loss_n),
                      "masked_false_negatives": masked, "questions_seen": step * recipe.batch_questions,
                      "elapsed_s": round(time.perf_counter() - started, 1), "dev": scores}
            history.append(record)
            loss_sum, loss_n, masked = 0.0, 0, 0
            score = float(scores[recipe.select])
            kept = best.offer(score, record["evaluation"], model, state_dir)
            log(f"evaluation {record['evaluation']} at step {step} (epoch {record['epoch']:.3f}): loss "
                f"{record['train_loss']:.4f}; {_line(scores)}{' (kept)' if kept else ''}; {eval_s:.0f} s")
            checkpoint()
        elif state_dir is not None and now - last_checkpoint >= checkpoint_s:
            checkpoint()
        if on_step is not None:
            on_step(step)
    if best.weights is None:
        raise ValueError("no dev evaluation was made: the run took no step")
    model.load_state_dict(best.weights)
    stopped = (f"fitted to the time limit ({time_limit_s:.0f} s): the learning rate decayed to 0 at step "
               f"{step} of {planned} planned") if step < planned else None
    record = {"recipe": asdict(recipe), "best_evaluation": best.index, "baseline": baseline,
              "evaluations": history, "steps_per_epoch": steps_per_epoch, "steps": step,
              "stopped_early": stopped, "seconds": round(time.perf_counter() - started, 1), "device": device,
              "bf16": bf16, "base": str(base_dir), "train_questions": n_questions,
              "paragraphs": len(data.passage_vectors), "threads": torch.get_num_threads()}
    return model.cpu().eval(), record


def _line(scores: dict[str, Any]) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in scores.items() if isinstance(v, float))


__all__ = ["QueryEncoderRecipe", "QueryTrainData", "QuestionEncoder", "false_negative_mask", "mean_pooled",
           "train_query_encoder"]
