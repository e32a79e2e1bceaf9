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
gives fixed minutes. After every epoch (and the last, partial one) the model reranks the dev questions'
hybrid candidates (:func:`dev_scores`) and the best epoch by dev MRR at N = ``select_n`` is kept.

No Haystack import (the GPU machine has none): only torch, transformers, numpy and DocQA modules that
import neither.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import lzma
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from docqa.pipelines.components.rankers.cross_encoder import WORD_EMBEDDINGS, save_cross_encoder
from docqa.pipelines.components.rankers.pairs import (
    PairFormat,
    length_batches,
    pad_pairs,
    pair_ids,
    token_ids,
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
    """``dev.json.gz`` (questions with their hybrid candidates), tokenised once."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        raw = json.load(fh)
    rows = raw["questions"][:limit] if limit else raw["questions"]
    meta = {k: v for k, v in raw.items() if k not in ("passages", "questions")}
    return DevData(passages=token_ids(tokenizer, raw["passages"], fmt.max_length),
                   questions=token_ids(tokenizer, [r["question"] for r in rows], fmt.max_question_tokens),
                   gold=[int(r["gold"]) for r in rows], candidates=[list(r["candidates"]) for r in rows],
                   meta={**meta, "questions": len(rows)})


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


def dev_scores(score_pairs: Callable[[list[tuple[list[int], int]]], np.ndarray], dev: DevData,
               fmt: PairFormat, ns: Sequence[int] = DEV_NS) -> dict[str, Any]:
    """Rerank every dev question's top-N hybrid candidates for each N; hybrid order as the baseline."""
    pairs, spans = [], []
    for q, cands in zip(dev.questions, dev.candidates, strict=True):
        start = len(pairs)
        pairs += [pair_ids(q, dev.passages[c], fmt) for c in cands]
        spans.append((start, len(pairs)))
    scores = score_pairs(pairs) if pairs else np.zeros(0)

    def rank(order: list[int], gold: int) -> int | None:
        return order.index(gold) + 1 if gold in order else None

    out: dict[str, Any] = {"questions": len(dev.questions),
                           "hybrid": rank_metrics([rank(c, g) for c, g in zip(dev.candidates, dev.gold,
                                                                                strict=True)])}
    for n in ns:
        ranks = [rank(reranked_order(c, scores[s:e].tolist(), n), g)
                 for c, g, (s, e) in zip(dev.candidates, dev.gold, spans, strict=True)]
        out[f"rerank@{n}"] = rank_metrics(ranks)
    gold_scores = [float(scores[s + c.index(g)]) for c, g, (s, e) in zip(dev.candidates, dev.gold, spans,
                                                                          strict=True) if g in c]
    out["gold_score_mean"] = float(np.mean(gold_scores)) if gold_scores else None
    out["other_score_mean"] = float(np.mean([float(x) for c, g, (s, e) in zip(
        dev.candidates, dev.gold, spans, strict=True) for i, x in enumerate(scores[s:e]) if c[i] != g]))
    return out


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
                   eval_batch_size: int = 256, log: Log = print) -> dict[str, Any]:
    """Train ``recipe``; write the best epoch's model to ``out_dir``; return the training record."""
    import torch

    started = time.perf_counter()
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    model = build_model(base_dir, recipe.layers, recipe.freeze_word_embeddings).to(device)
    model.train()

    def autocast() -> Any:
        if bf16:
            return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
        return contextlib.nullcontext()

    scorer = _Scorer(model, device, fmt, autocast, eval_batch_size)
    n_questions = len(data.questions)
    steps_per_epoch = max(1, n_questions // recipe.batch_questions)
    planned = steps_per_epoch * recipe.epochs
    no_decay = ("bias", "LayerNorm.weight")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in params if not n.endswith(no_decay)], "weight_decay": recipe.weight_decay},
         {"params": [p for n, p in params if n.endswith(no_decay)], "weight_decay": 0.0}],
        lr=recipe.learning_rate, fused=device.startswith("cuda"))
    schedule = LinearSchedule(int(recipe.warmup_ratio * planned), planned)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    epoch_ends = [steps_per_epoch * (e + 1) for e in range(recipe.epochs)]
    budget = (StepBudget(time_limit_s, epoch_ends, eval_guess_s=15.0 if device != "cpu" else 60.0,
                         final_s=10.0) if time_limit_s else None)
    log(f"{n_questions} questions, {steps_per_epoch} steps/epoch × {recipe.epochs} planned; "
        f"{recipe.layers} layers, device {device}, bf16 {bf16}, "
        f"{sum(p.numel() for _, p in params) / 1e6:.1f}M trainable parameters")

    baseline = dev_scores(scorer, dev, fmt)
    log(f"dev before training: MRR@{recipe.select_n} {baseline[f'rerank@{recipe.select_n}']['mrr']:.3f} "
        f"(hybrid {baseline['hybrid']['mrr']:.3f}, R@1 {baseline['hybrid']['recall@1']:.3f})")
    history: list[dict[str, Any]] = []
    best_state, best_score, best_epoch = None, -math.inf, 0
    step, train_clock, train_steps = 0, 0.0, 0
    loss_acc, loss_n = torch.zeros((), device=device), 0
    stopped = None
    for epoch in range(recipe.epochs):
        epoch_started = time.perf_counter()
        order = rng.permutation(n_questions)
        partial = False
        done_steps = 0
        for b in range(steps_per_epoch):
            step_started = time.perf_counter()
            chosen = order[b * recipe.batch_questions:(b + 1) * recipe.batch_questions]
            groups = sample_groups(data, chosen, recipe, rng)
            pairs = [pair_ids(data.questions[q], data.paragraphs[p], fmt)
                     for q, group in zip(chosen, groups, strict=True) for p in group]
            with autocast():
                parts = []
                for idx in length_batches([len(p[0]) for p in pairs], recipe.chunk_pairs):
                    batch = pad_pairs([pairs[i] for i in idx], fmt.pad_id)
                    inputs = {k: _to_device(v, device) for k, v in batch.items()}
                    parts.append((idx, model(**inputs).logits.float().view(-1)))
            flat = torch.cat([values for _, values in parts])
            where = torch.as_tensor([i for idx, _ in parts for i in idx], device=device)
            logits = torch.zeros_like(flat).index_copy(0, where, flat)  # back to the pairs' order
            grouped = logits.view(len(chosen), recipe.group_size)
            target = torch.zeros(len(chosen), dtype=torch.long, device=device)
            loss = torch.nn.functional.cross_entropy(grouped, target)
            if recipe.bce_weight:
                labels = torch.zeros_like(grouped)
                labels[:, 0] = 1.0
                loss = loss + recipe.bce_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                    grouped, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in params], recipe.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            done_steps += 1
            loss_acc += loss.detach()
            loss_n += 1
            now = time.perf_counter()
            train_clock += now - step_started
            train_steps += 1
            if step % 100 == 0:
                log(f"step {step}/{schedule.total} loss {float(loss_acc) / loss_n:.4f} "
                    f"lr {scheduler.get_last_lr()[0]:.2e} {train_clock / train_steps * 1000:.0f} ms/step "
                    f"{now - started:.0f} s")
            if budget is not None and train_steps >= 10 and train_steps % 25 == 0:
                schedule.total = budget.fitted_total(step=step, elapsed_s=now - started,
                                                     seconds_per_step=train_clock / train_steps,
                                                     planned=planned)
                schedule.warmup = min(schedule.warmup, int(recipe.warmup_ratio * schedule.total))
            if step >= schedule.total:
                partial = b + 1 < steps_per_epoch
                break
        eval_started = time.perf_counter()
        scores = dev_scores(scorer, dev, fmt)
        if budget is not None:
            budget.eval_s = time.perf_counter() - eval_started
        record: dict[str, Any] = {"epoch": epoch + 1, "steps": step,
                                  "train_loss": float(loss_acc) / max(1, loss_n),
                                  "questions_seen": done_steps * recipe.batch_questions,
                                  "seconds": round(time.perf_counter() - epoch_started, 1), "dev": scores}
        if partial:
            record["partial"] = round(done_steps / steps_per_epoch, 3)
        loss_acc, loss_n = torch.zeros((), device=device), 0
        history.append(record)
        score = scores[f"rerank@{recipe.select_n}"]["mrr"]
        kept = score > best_score
        if kept:
            best_score, best_epoch = score, epoch + 1
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        sel = scores[f"rerank@{recipe.select_n}"]
        share = f" ({record['partial']:.0%})" if partial else ""
        log(f"epoch {epoch + 1}{share}: "
            f"loss {record['train_loss']:.4f}; dev rerank@{recipe.select_n} R@1 {sel['recall@1']:.3f} "
            f"R@5 {sel['recall@5']:.3f} MRR {sel['mrr']:.3f}{' (kept)' if kept else ''}; "
            f"{record['seconds']:.0f} s")
        if step >= schedule.total:
            if step < planned:
                stopped = (f"fitted to the time limit ({time_limit_s:.0f} s): the learning rate decayed to 0 "
                           f"at step {step} of {planned} planned")
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    base_tensor = model.get_input_embeddings().weight if share_word_embeddings_from else None
    settings = {"format": 1, "max_length": recipe.max_length,
                "max_question_tokens": recipe.max_question_tokens,
                "score": "logit: higher = the passage answers the question; sigmoid ≈ P(relevant)"}
    save_cross_encoder(model.cpu(), out_dir, settings, share_word_embeddings_from=share_word_embeddings_from,
                       base_tensor=base_tensor)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (Path(tokenizer_dir) / name).exists():
            (Path(out_dir) / name).write_bytes((Path(tokenizer_dir) / name).read_bytes())
    result = {"recipe": asdict(recipe), "best_epoch": best_epoch, "baseline": baseline, "epochs": history,
              "stopped_early": stopped, "seconds": round(time.perf_counter() - started, 1), "device": device,
              "bf16": bf16, "base": str(base_dir), "shared_word_embeddings": share_word_embeddings_from,
              "train_questions": n_questions, "dev": dev.meta, "versions": _versions()}
    metrics = json.dumps(result, indent=1) + "\n"
    (Path(out_dir) / "training_metrics.json").write_text(metrics, encoding="utf-8")
    return result


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
