"""The official SQuAD 2.0 metrics (``evaluate-v2.0.py``), written out cleanly.

Why not import a package: the official script is a CLI, and the ``evaluate`` package pulls the network.
The definitions below are the official ones, including their quirks (e.g. ``best_f1_thresh`` starts
from "answer nothing" with threshold 0.0), so our numbers are comparable with published ones.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence

from docqa.pipelines.squad import (
    normalize_answer,  # the one answer normaliser (the reader merges answers by it)
)

__all__ = ["compute_exact", "compute_f1", "find_best_thresh", "get_tokens", "gold_answers_for_scoring",
           "normalize_answer", "score_question", "squad_v2_metrics"]


def get_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def compute_exact(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    gold_toks, pred_toks = get_tokens(gold), get_tokens(pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if not gold_toks or not pred_toks:
        # If either is no-answer, F1 is 1 if they agree, 0 otherwise
        return float(gold_toks == pred_toks)
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def gold_answers_for_scoring(answers: Sequence[str]) -> list[str]:
    """Official rule: golds that normalise to nothing are dropped; unanswerable questions get ``[""]``."""
    golds = [a for a in answers if normalize_answer(a)]
    return golds or [""]


def score_question(answers: Sequence[str], pred: str) -> tuple[float, float]:
    """(exact, f1) of one prediction, max over gold answers; ``answers=[]`` means unanswerable."""
    golds = gold_answers_for_scoring(answers)
    return max(compute_exact(g, pred) for g in golds), max(compute_f1(g, pred) for g in golds)


def find_best_thresh(
    preds: Mapping[str, str], scores: Mapping[str, float], na_probs: Mapping[str, float],
    qid_to_has_ans: Mapping[str, bool],
) -> tuple[float, float]:
    """Official search: answer exactly the questions with ``na_prob <= thresh``; return (best %, thresh)."""
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        # answering a has-answer question earns its score; answering a no-answer question costs 1
        diff = scores[qid] if qid_to_has_ans[qid] else (-1 if preds[qid] else 0)
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def squad_v2_metrics(
    golds: Mapping[str, Sequence[str]],
    preds: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    forced_preds: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Aggregate official metrics on a 0–100 scale.

    :param golds: qid → gold answer texts (empty list = unanswerable).
    :param preds: qid → prediction ("" = no answer) — what the system actually said.
    :param na_probs: qid → no-answer score (higher = more likely unanswerable); enables ``best_f1`` and
        ``best_f1_thresh`` (and ``best_exact``/``best_exact_thresh``).
    :param forced_preds: the answers to use when a threshold says "answer" (default ``preds``). Pass the
        best non-empty span per question so the threshold search can trade answers for "no answer".
    """
    exact: dict[str, float] = {}
    f1: dict[str, float] = {}
    has_ans = {qid: bool(a) for qid, a in golds.items()}  # official: raw answer list non-empty
    for qid, answers in golds.items():
        exact[qid], f1[qid] = score_question(answers, preds.get(qid, ""))
    total = len(golds)
    out: dict[str, float] = {
        "exact": 100.0 * sum(exact.values()) / total if total else 0.0,
        "f1": 100.0 * sum(f1.values()) / total if total else 0.0,
        "total": float(total),
    }
    for name, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [q for q in golds if has_ans[q] == wanted]
        out[f"{name}_total"] = float(len(qids))
        out[f"{name}_exact"] = 100.0 * sum(exact[q] for q in qids) / len(qids) if qids else 0.0
        out[f"{name}_f1"] = 100.0 * sum(f1[q] for q in qids) / len(qids) if qids else 0.0
    if na_probs is not None and total:
        search_preds = forced_preds if forced_preds is not None else preds
        s_exact: dict[str, float] = {}
        s_f1: dict[str, float] = {}
        for qid, answers in golds.items():
            s_exact[qid], s_f1[qid] = score_question(answers, search_preds.get(qid, ""))
        best = find_best_thresh(search_preds, s_exact, na_probs, has_ans)
        out["best_exact"], out["best_exact_thresh"] = best
        out["best_f1"], out["best_f1_thresh"] = find_best_thresh(search_preds, s_f1, na_probs, has_ans)
    if forced_preds is not None:  # span accuracy alone: every answerable question answered, no-answer ignored
        answerable = [q for q in golds if has_ans[q]]
        scored = [score_question(golds[q], forced_preds.get(q, "")) for q in answerable]
        out["forced_HasAns_exact"] = 100.0 * sum(e for e, _ in scored) / len(scored) if scored else 0.0
        out["forced_HasAns_f1"] = 100.0 * sum(f for _, f in scored) / len(scored) if scored else 0.0
    return out
