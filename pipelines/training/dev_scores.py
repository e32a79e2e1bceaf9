"""Dev-set scores of an in-memory model, computed the way ``docqa eval --reader`` computes them.

Why not save and reload the model for each epoch's score: reading here is the reader's own path on the
in-memory model (``build_windows`` → length-sorted batches → ``decode_windows``), and scoring and the τ
search are ``docqa.pipelines.evaluation.reader_eval``'s over the official ``squad_metrics``, so an epoch's
score
is the number ``docqa eval`` would print for the saved model.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from docqa.pipelines.components.readers.backends import length_sorted_batches
from docqa.pipelines.components.readers.qa_windows import Window, build_windows, pad_batch
from docqa.pipelines.components.readers.span_decoding import decode_windows
from docqa.pipelines.squad import SquadExample


def forward_inputs(model, batch: dict[str, np.ndarray], device: str) -> dict[str, Any]:
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
            result = model(**forward_inputs(model, pad_batch(group, pad_token_id), device))
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
    ``decode_windows``); scoring and the τ search are ``docqa.pipelines.evaluation.reader_eval``'s. Keys:
    ``forced_has_ans_exact/f1`` (best span always given, answerable questions only), ``best_exact/best_f1``
    with ``threshold`` (null-score rule at the τ maximising F1: no answer when ``null − best > τ``, the
    reader's rule), ``exact_at_0/f1_at_0`` (τ = 0, the default of an uncalibrated reader), ``no_answer_f1``
    (always saying "no answer"), ``has_ans``/``no_ans``/``questions``.
    """
    from docqa.pipelines.evaluation.reader_eval import ReaderExample, ReaderRun, best_threshold, score_runs

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
        # scoring reads only the gold answers: no passages (and no Haystack, absent on training GPUs)
        references.append(ReaderExample(ex.qid, ex.question, [], list(ex.gold_texts), ex.is_impossible))
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
