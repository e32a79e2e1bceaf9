"""Train the reranker's cross-encoder: (question, passage) → one logit, on questions with mined negatives.

What a step sees: ``batch_questions`` questions, each with a group of ``group_size`` passages — its gold
paragraph, hard negatives drawn from the passages DocQA's own hybrid retrieval ranks highest for it
(``scripts/mine_reranker_data.py``; the gold and every paragraph holding a gold answer string removed)
and ``random_negatives`` random paragraphs. Loss: softmax cross-entropy over the group (the gold must
beat its retrieval neighbours: that is the reranker's job) plus ``bce_weight`` × per-pair binary
cross-entropy, which pins the logit's *level* — listwise loss alone leaves it free per question, and the
answerability model reads the best passage's score as evidence that the documents are about the question
at all. Random negatives are what an off-corpus question retrieves.

The schedule is fitted to a wall-clock limit (:mod:`docqa.pipelines.training.time_budget`): a lent GPU
gives fixed minutes, a CPU run an hour or two. Every ``eval_every`` steps, at every epoch end and at the
last step, the model reranks the dev questions' hybrid candidates (:func:`dev_scores`) and the best
evaluation by dev MRR at N = ``select_n`` is kept (a CPU run never reaches the end of an epoch of 115k
questions: one hour on two cores is a few hundred steps). Checkpoints every few minutes and
``resume=True`` survive a killed process (:mod:`docqa.pipelines.training.reranker_state`).

No Haystack import (the GPU machine has none): only torch, transformers, numpy and DocQA modules that
import neither.
"""

from __future__ import annotations

import gzip
import json
import lzma
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from docqa.pipelines.components.rankers.cross_encoder import WORD_EMBEDDINGS, save_cross_encoder
from docqa.pipelines.components.rankers.fusion import best_weight, fused_scores
from docqa.pipelines.components.rankers.pairs import (
    PairFormat,
    length_batches,
    pad_pairs,
    pair_ids,
    token_ids,
)
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

DEV_NS = (5, 10, 15, 20, 30)
Log = Callable[[str], None]


@dataclass(frozen=True)
class RerankerRecipe:
    """One training run's settings (``layers`` < the base's keeps its first layers)."""

    name: str
    layers: int = 6
    learning_rate: float = 1e-4
    epochs: int = 3
    batch_questions: int = 32
    group_size: int = 8  # gold + hard negatives + random negatives
    random_negatives: int = 1
    max_length: int = 256
    max_question_tokens: int = 64
    bce_weight: float = 0.5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    freeze_word_embeddings: bool = True
    chunk_pairs: int = 64  # pairs per forward pass (length-sorted inside a step: little padding)
    select_n: int = 20
    seed: int = 42
    eval_every: int = 0  # steps between dev evaluations (0: epoch ends only); a CPU run never ends an epoch
    dev_ns: tuple[int, ...] = DEV_NS  # N values scored on dev (the top max(N) candidates are scored)
    log_every: int = 100  # steps between progress lines


@dataclass
class TrainData:
    paragraphs: list[list[int]]  # token ids, cut to max_length
    questions: list[list[int]]
    gold: np.ndarray  # [Q] paragraph index
    candidates: np.ndarray  # [Q, K] hard negatives (-1 = none), best hybrid rank first


@dataclass
class DevData:
    passages: list[list[int]]
    questions: list[list[int]]
    gold: list[int]
    candidates: list[list[int]]  # hybrid order
    meta: dict[str, Any] = field(default_factory=dict)
    hybrid_scores: list[list[float]] = field(default_factory=list)  # retrieval's score of each candidate


def load_train_data(folder: Path, tokenizer: Any, fmt: PairFormat, limit: int | None = None) -> TrainData:
    """``train.json.xz`` + ``train-negatives.npz`` of ``folder``, tokenised once."""
    with lzma.open(folder / "train.json.xz", "rt", encoding="utf-8") as fh:
        raw = json.load(fh)
    arrays = np.load(folder / "train-negatives.npz")
    candidates = arrays["candidates"].astype(np.int64)
    if arrays["candidates"].dtype == np.uint16:  # 65535 = no candidate (mine_reranker_data.py)
        candidates[candidates == np.iinfo(np.uint16).max] = -1
    questions, gold = raw["questions"], np.asarray(raw["gold"], dtype=np.int64)
    if len(candidates) != len(questions):
        raise ValueError(f"{folder}: {len(candidates)} candidate rows for {len(questions)} questions")
    if limit:
        questions, gold, candidates = questions[:limit], gold[:limit], candidates[:limit]
    return TrainData(paragraphs=token_ids(tokenizer, raw["paragraphs"], fmt.max_length),
                     questions=token_ids(tokenizer, questions, fmt.max_question_tokens),
                     gold=gold, candidates=candidates)


def load_dev_data(path: Path, tokenizer: Any, fmt: PairFormat, limit: int | None = None) -> DevData:
    """``dev.json.gz`` (questions with their hybrid candidates), tokenised once; with ``limit``, that many
    questions spread evenly over the file (both dev articles, not the first one's opening questions)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        raw = json.load(fh)
    rows = raw["questions"]
    if limit and limit < len(rows):
        rows = [rows[i] for i in sorted({int(x) for x in np.linspace(0, len(rows) - 1, limit).round()})]
    meta = {k: v for k, v in raw.items() if k not in ("passages", "questions")}
    return DevData(passages=token_ids(tokenizer, raw["passages"], fmt.max_length),
                   questions=token_ids(tokenizer, [r["question"] for r in rows], fmt.max_question_tokens),
                   gold=[int(r["gold"]) for r in rows], candidates=[list(r["candidates"]) for r in rows],
                   meta={**meta, "questions": len(rows)},
                   hybrid_scores=[list(r["hybrid_scores"]) for r in rows if "hybrid_scores" in r])


def rank_metrics(ranks: Sequence[int | None], ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """Recall@k and MRR from 1-based gold ranks (``None`` = not retrieved: counts 0)."""
    n = max(1, len(ranks))
    out = {f"recall@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in ks}
    out["mrr"] = sum(1.0 / r for r in ranks if r is not None) / n
    return out


def reranked_order(candidates: Sequence[int], scores: Sequence[float], n: int) -> list[int]:
    """The first ``n`` candidates sorted by score (stable), then the rest in their original order."""
    head = sorted(range(min(n, len(candidates))), key=lambda i: -scores[i])
    return [candidates[i] for i in head] + list(candidates[n:])


def fused_metrics(rows: Sequence[tuple[Sequence[int], int, Any, Sequence[float]]], n: int, weight: float,
                  ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """Recall@k and MRR when each question's top ``n`` is ordered by the fused score; ``rows`` are
    (candidates in retrieval order, gold, the cross-encoder's logits of the first candidates, retrieval's
    scores of the candidates). Used by training's dev scores and ``scripts/fit_reranker_fusion.py``."""
    ranks = []
    for candidates, gold, logits, retrieval in rows:
        order = reranked_order(candidates, fused_scores(logits[:n], retrieval[:n], weight).tolist(), n)
        ranks.append(order.index(gold) + 1 if gold in order else None)
    return rank_metrics(ranks, ks)


def dev_scores(score_pairs: Callable[[list[tuple[list[int], int]]], np.ndarray], dev: DevData,
               fmt: PairFormat, ns: Sequence[int] = DEV_NS) -> dict[str, Any]:
    """Rerank every dev question's top-N hybrid candidates for each N in ``ns``; hybrid order as the
    baseline. Only the top ``max(ns)`` candidates are scored (on a CPU, scoring is the cost)."""
    depth = max(ns)
    pairs, spans = [], []
    for q, cands in zip(dev.questions, dev.candidates, strict=True):
        start = len(pairs)
        pairs += [pair_ids(q, dev.passages[c], fmt) for c in cands[:depth]]
        spans.append((start, len(pairs)))
    scores = score_pairs(pairs) if pairs else np.zeros(0)

    def rank(order: list[int], gold: int) -> int | None:
        return order.index(gold) + 1 if gold in order else None

    rows = list(zip(dev.candidates, dev.gold, spans, strict=True))
    out: dict[str, Any] = {"questions": len(dev.questions),
                           "hybrid": rank_metrics([rank(c, g) for c, g, _ in rows])}
    for n in ns:
        out[f"rerank@{n}"] = rank_metrics([rank(reranked_order(c, scores[s:e].tolist(), n), g)
                                           for c, g, (s, e) in rows])
    if len(dev.hybrid_scores) == len(rows):  # fused with retrieval's score, the weight chosen per N
        fusable = [(c, g, scores[s:e], h) for (c, g, (s, e)), h in zip(rows, dev.hybrid_scores, strict=True)]
        for n in ns:
            weight, _ = best_weight(lambda w, n=n: fused_metrics(fusable, n, w)["mrr"])
            out[f"fused@{n}"] = {**fused_metrics(fusable, n, weight), "weight": weight}
    gold_scores = [float(scores[s + c.index(g)]) for c, g, (s, e) in rows if g in c[:depth]]
    others = [float(x) for c, g, (s, e) in rows for i, x in enumerate(scores[s:e]) if c[i] != g]
    out["gold_score_mean"] = float(np.mean(gold_scores)) if gold_scores else None
    out["other_score_mean"] = float(np.mean(others)) if others else None
    return out


def selection_score(scores: dict[str, Any], n: int) -> float:
    """What picks the evaluation that ships: dev MRR at N = ``n`` as the product ranks, fused with
    retrieval's score where the dev data has it (:mod:`~docqa.pipelines.components.rankers.fusion`)."""
    return float(scores.get(f"fused@{n}", scores[f"rerank@{n}"])["mrr"])


def _fused_line(scores: dict[str, Any], n: int) -> str:
    fused = scores.get(f"fused@{n}")
    if not fused:
        return ""
    return (f"; fused (weight {fused['weight']}) R@1 {fused['recall@1']:.3f} R@5 {fused['recall@5']:.3f} "
            f"MRR {fused['mrr']:.3f}")


def build_model(base_dir: Path, layers: int, freeze_word_embeddings: bool) -> Any:
    """A one-logit sequence classifier from ``base_dir``'s encoder (its first ``layers`` layers; a new
    pooler and head when the base has none)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(base_dir)
    if layers > config.num_hidden_layers:
        raise ValueError(f"--layers {layers}: {base_dir} has only {config.num_hidden_layers}")
    config.num_hidden_layers = layers
    config.num_labels = 1
    config.problem_type = "regression"  # one logit; the loss is ours
    config.architectures = ["BertForSequenceClassification"]
    model = AutoModelForSequenceClassification.from_pretrained(base_dir, config=config, dtype=torch.float32)
    if freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model


class _Scorer:
    """Scores pairs with the model in length-sorted batches (eval mode, autocast when asked)."""

    def __init__(self, model: Any, device: str, fmt: PairFormat, autocast: Any, batch_size: int) -> None:
        self.model, self.device, self.fmt, self.autocast, self.batch_size = model, device, fmt, autocast, \
            batch_size

    def __call__(self, pairs: list[tuple[list[int], int]]) -> np.ndarray:
        import torch

        out = np.zeros(len(pairs), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode(), self.autocast():
            for idx in length_batches([len(p[0]) for p in pairs], self.batch_size):
                batch = pad_pairs([pairs[i] for i in idx], self.fmt.pad_id)
                inputs = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
                out[idx] = self.model(**inputs).logits.float().view(-1).cpu().numpy()
        self.model.train(was_training)
        return out


def sample_groups(data: TrainData, questions: np.ndarray, recipe: RerankerRecipe,
                  rng: np.random.Generator) -> list[list[int]]:
    """Per question: [gold, hard negatives..., random negatives...], ``group_size`` paragraph indices."""
    hard_wanted = recipe.group_size - 1 - recipe.random_negatives
    groups = []
    for q in questions:
        gold = int(data.gold[q])
        pool = data.candidates[q]
        pool = pool[pool >= 0]
        take = min(hard_wanted, len(pool))
        hard = rng.choice(pool, size=take, replace=False).tolist() if take else []
        group = [gold, *hard]
        while len(group) < recipe.group_size:
            x = int(rng.integers(len(data.paragraphs)))
            if x not in group:
                group.append(x)
        groups.append(group)
    return groups


def train_reranker(recipe: RerankerRecipe, data: TrainData, dev: DevData, base_dir: Path, out_dir: Path, *,
                   fmt: PairFormat, tokenizer_dir: Path, share_word_embeddings_from: str | None,
                   device: str = "cpu", bf16: bool = False, time_limit_s: float | None = None,
                   eval_batch_size: int = 256, log: Log = print, state_dir: Path | None = None,
                   resume: bool = False, checkpoint_s: float = 300.0,
                   on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Train ``recipe``; write the best evaluation's model to ``out_dir``; return the training record.

    Dev scores are taken every ``recipe.eval_every`` steps (and at every epoch end and the last step);
    the best by MRR at N = ``recipe.select_n`` is kept. With ``state_dir`` a checkpoint is written there
    every ``checkpoint_s`` seconds and after every evaluation (:mod:`.reranker_state`); ``resume``
    continues from it (the time limit and the schedule fitted to it are the checkpoint's; the seconds
    between the kill and the restart do not count). ``on_step(step)`` is called after every optimizer
    step (progress; an exception from it stops the run as a kill would).

    :raises ResumeError: ``resume`` over a checkpoint of other settings, or a fresh run over one.
    """
    import torch

    started = time.perf_counter()
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    model = build_model(base_dir, recipe.layers, recipe.freeze_word_embeddings).to(device)
    model.train()
    autocast = autocast_for(device, bf16)
    scorer = _Scorer(model, device, fmt, autocast, eval_batch_size)
    n_questions = len(data.questions)
    steps_per_epoch = max(1, n_questions // recipe.batch_questions)
    planned = steps_per_epoch * recipe.epochs
    params, optimizer = adamw(model, recipe.learning_rate, recipe.weight_decay, device)
    schedule = LinearSchedule(int(recipe.warmup_ratio * planned), planned)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    evaluations = set(evaluation_steps(steps_per_epoch, recipe.epochs, recipe.eval_every))
    resume_key = {"recipe": json.dumps(asdict(recipe), sort_keys=True), "base": str(base_dir),
                  "train_questions": n_questions, "train_paragraphs": len(data.paragraphs),
                  "dev_questions": len(dev.questions), "format": json.dumps(asdict(fmt), sort_keys=True)}

    state = open_run(state_dir, resume_key, resume)
    if state is not None:
        time_limit_s = state["time_limit_s"]
    budget = (StepBudget(time_limit_s, sorted(evaluations), eval_guess_s=15.0 if device != "cpu" else 60.0,
                         final_s=10.0) if time_limit_s else None)
    log(f"{n_questions} questions, {steps_per_epoch} steps/epoch × {recipe.epochs} planned; "
        f"{recipe.layers} layers, device {device}, bf16 {bf16}, "
        f"{sum(p.numel() for p in params) / 1e6:.1f}M trainable parameters")

    history: list[dict[str, Any]] = []
    best = BestWeights()
    step, train_clock, train_steps, order = 0, 0.0, 0, None
    loss_acc = torch.zeros((), device=device, dtype=torch.float64)  # summed on the device: no sync per step
    loss_n, since_eval_s = 0, 0.0
    if state is None:
        eval_started = time.perf_counter()
        baseline = dev_scores(scorer, dev, fmt, recipe.dev_ns)
        if budget is not None:
            budget.eval_s = time.perf_counter() - eval_started
        log(f"dev before training: MRR@{recipe.select_n} "
            f"{baseline[f'rerank@{recipe.select_n}']['mrr']:.3f} (hybrid {baseline['hybrid']['mrr']:.3f}, "
            f"R@1 {baseline['hybrid']['recall@1']:.3f}){_fused_line(baseline, recipe.select_n)}")
    else:
        run = RunState()
        run.restore(state, model, optimizer, scheduler, rng)  # the scheduler brings its fitted total
        step, train_clock, train_steps, order = run.step, run.train_clock, run.train_steps, run.order
        loss_acc += state["loss_sum"]
        loss_n = state["loss_n"]
        since_eval_s = state["since_eval_s"]
        history, baseline = state["history"], state["baseline"]
        best = BestWeights.resumed(state, state_dir)
        if budget is not None:
            budget.eval_s = state["eval_s"]
        started -= state["elapsed_s"]
        log(f"resumed at step {step} of {schedule.total} ({state['elapsed_s']:.0f} s trained before; "
            f"{len(history)} dev evaluations)")
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
            "loss_sum": float(loss_acc), "loss_n": loss_n, "since_eval_s": since_eval_s, "history": history,
            "baseline": baseline, **best.saved()})
        last_checkpoint = time.perf_counter()

    stopped = None
    while step < schedule.total:
        step_started = time.perf_counter()
        order, chosen = epoch_batch(step, steps_per_epoch, order, rng, n_questions, recipe.batch_questions)
        groups = sample_groups(data, chosen, recipe, rng)
        pairs = [pair_ids(data.questions[q], data.paragraphs[p], fmt)
                 for q, group in zip(chosen, groups, strict=True) for p in group]
        loss = _group_loss(model, pairs, len(chosen), recipe, fmt, device, autocast)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_acc += loss.detach()
        loss_n += 1
        now = time.perf_counter()
        train_clock += now - step_started
        since_eval_s += now - step_started
        train_steps += 1
        if step % recipe.log_every == 0:
            log(f"step {step}/{schedule.total} loss {float(loss_acc) / max(1, loss_n):.4f} "
                f"lr {scheduler.get_last_lr()[0]:.2e} {train_clock / train_steps * 1000:.0f} ms/step "
                f"{now - started:.0f} s")
        refit_schedule(budget, schedule, step=step, train_steps=train_steps, train_clock=train_clock,
                       elapsed_s=now - started, planned=planned, warmup_ratio=recipe.warmup_ratio)
        if step in evaluations or step >= schedule.total:
            eval_started = time.perf_counter()
            scores = dev_scores(scorer, dev, fmt, recipe.dev_ns)
            eval_s = time.perf_counter() - eval_started
            if budget is not None:
                budget.eval_s = eval_s
            record: dict[str, Any] = {
                "evaluation": len(history) + 1, "step": step, "epoch": round(step / steps_per_epoch, 4),
                "train_loss": float(loss_acc) / max(1, loss_n),
                "questions_seen": step * recipe.batch_questions, "seconds": round(since_eval_s + eval_s, 1),
                "elapsed_s": round(time.perf_counter() - started, 1), "dev": scores}
            history.append(record)
            loss_acc.zero_()
            loss_n, since_eval_s = 0, 0.0
            score = selection_score(scores, recipe.select_n)
            kept = best.offer(score, record["evaluation"], model, state_dir)
            sel = scores[f"rerank@{recipe.select_n}"]
            log(f"evaluation {record['evaluation']} at step {step} (epoch {record['epoch']:.3f}): "
                f"loss {record['train_loss']:.4f}; dev rerank@{recipe.select_n} R@1 {sel['recall@1']:.3f} "
                f"R@5 {sel['recall@5']:.3f} MRR {sel['mrr']:.3f}{_fused_line(scores, recipe.select_n)}"
                f"{' (kept)' if kept else ''}; {record['seconds']:.0f} s")
            checkpoint()
        elif state_dir is not None and now - last_checkpoint >= checkpoint_s:
            checkpoint()
            log(f"checkpoint at step {step}")
        if on_step is not None:
            on_step(step)
    if step < planned:
        stopped = (f"fitted to the time limit ({time_limit_s:.0f} s): the learning rate decayed to 0 at step "
                   f"{step} of {planned} planned")
    if best.weights is None:
        raise ValueError("no dev evaluation was made: the run took no step")
    model.load_state_dict(best.weights)
    base_tensor = model.get_input_embeddings().weight if share_word_embeddings_from else None
    settings = {"format": 1, "max_length": recipe.max_length,
                "max_question_tokens": recipe.max_question_tokens,
                "score": "logit: higher = the passage answers the question; sigmoid ≈ P(relevant)",
                "retrieval_weight": float(history[best.index - 1]["dev"].get(f"fused@{recipe.select_n}", {})
                                          .get("weight", 0.0))}
    save_cross_encoder(model.cpu(), out_dir, settings, share_word_embeddings_from=share_word_embeddings_from,
                       base_tensor=base_tensor)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (Path(tokenizer_dir) / name).exists():
            (Path(out_dir) / name).write_bytes((Path(tokenizer_dir) / name).read_bytes())
    result = {"recipe": asdict(recipe), "best_evaluation": best.index, "baseline": baseline,
              "evaluations": history, "steps_per_epoch": steps_per_epoch, "steps": step,
              "stopped_early": stopped, "seconds": round(time.perf_counter() - started, 1), "device": device,
              "bf16": bf16, "base": str(base_dir), "shared_word_embeddings": share_word_embeddings_from,
              "train_questions": n_questions, "dev": dev.meta, "versions": _versions(),
              "threads": torch.get_num_threads()}
    metrics = json.dumps(result, indent=1) + "\n"
    (Path(out_dir) / "training_metrics.json").write_text(metrics, encoding="utf-8")
    return result


def evaluation_steps(steps_per_epoch: int, epochs: int, every: int) -> list[int]:
    """Steps after which the dev questions are scored: every ``every`` steps (0: none between) and
    every epoch end (the last step of a time-fitted run is scored too, wherever it falls)."""
    planned = steps_per_epoch * epochs
    ends = {steps_per_epoch * (e + 1) for e in range(epochs)}
    return sorted(ends | (set(range(every, planned + 1, every)) if every > 0 else set()))


def _group_loss(model: Any, pairs: list[tuple[list[int], int]], n_questions: int, recipe: RerankerRecipe,
                fmt: PairFormat, device: str, autocast: Callable[[], Any]) -> Any:
    """Softmax cross-entropy over each question's group (gold first) + ``bce_weight`` × per-pair BCE."""
    import torch

    with autocast():
        parts = []
        for idx in length_batches([len(p[0]) for p in pairs], recipe.chunk_pairs):
            batch = pad_pairs([pairs[i] for i in idx], fmt.pad_id)
            inputs = {k: _to_device(v, device) for k, v in batch.items()}
            parts.append((idx, model(**inputs).logits.float().view(-1)))
    flat = torch.cat([values for _, values in parts])
    where = torch.as_tensor([i for idx, _ in parts for i in idx], device=device)
    logits = torch.zeros_like(flat).index_copy(0, where, flat)  # back to the pairs' order
    grouped = logits.view(n_questions, recipe.group_size)
    target = torch.zeros(n_questions, dtype=torch.long, device=device)
    loss = torch.nn.functional.cross_entropy(grouped, target)
    if recipe.bce_weight:
        labels = torch.zeros_like(grouped)
        labels[:, 0] = 1.0
        bce = torch.nn.functional.binary_cross_entropy_with_logits(grouped, labels)
        loss = loss + recipe.bce_weight * bce
    return loss


def _to_device(array: np.ndarray, device: str) -> Any:
    """A host array on ``device``; on CUDA through pinned memory, so the copy does not wait for the
    kernels already queued (the next step's inputs are built while the GPU runs this one)."""
    import torch

    tensor = torch.from_numpy(array)
    if device.startswith("cuda"):
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def _versions() -> dict[str, str]:
    import platform

    import torch
    import transformers

    info = {"torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


__all__ = ["WORD_EMBEDDINGS", "DevData", "RerankerRecipe", "TrainData", "dev_scores", "load_dev_data",
           "load_train_data", "rank_metrics", "reranked_order", "train_reranker"]
