"""Reader-only SQuAD 2.0 evaluation and no-answer calibration.

``docqa eval --reader`` gives each question its own paragraph (the gold passage) and scores the reader
with the official metrics; ``docqa eval --calibrate`` picks the τ that maximises F1 and stores it
(``docqa.pipelines.components.readers.calibration``). One reading pass serves both: we keep, per question, the
best span (forced answer) and ``null_score_diff``, so the metrics for any τ are computed without reading
again. Files are read by :mod:`docqa.pipelines.squad`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from docqa.pipelines.evaluation.squad_metrics import score_question, squad_v2_metrics
from docqa.pipelines.squad import SquadFile, SquadFileError, read_squad

if TYPE_CHECKING:  # imported where Documents are made: training scores dev sets without Haystack
    from haystack import Document

__all__ = ["ReaderExample", "ReaderRun", "SquadFileError", "best_threshold", "calibrate", "evaluate_reader",
           "load_squad_examples", "read_examples", "score_runs", "squad_reader_examples"]


@dataclass
class ReaderExample:
    """One SQuAD question with the passages the reader gets; ``answers=[]`` when unanswerable."""

    qid: str
    question: str
    passages: list[Document]
    answers: list[str] = field(default_factory=list)
    is_impossible: bool = False


@dataclass
class ReaderRun:
    """What the reader said for each question (enough to score any threshold)."""

    qid: str
    forced_answer: str  # best span text, "" when nothing could be read
    null_score_diff: float  # null − best; +inf when nothing could be read
    no_answer: bool  # the reader's own decision with the τ it used
    no_answer_score: float
    seconds: float
    # With an AnswerabilityJudge: its features and P(answer in the documents) (fitting and reports).
    answerability: dict[str, Any] = field(default_factory=dict)


def squad_reader_examples(squad: SquadFile) -> list[ReaderExample]:
    """Every question of a read SQuAD file with its own paragraph as the only passage (one ``Document``
    per paragraph with ``meta["title"]`` and ``meta["paragraph_index"]``, counted over the whole file)."""
    from haystack import Document

    examples: list[ReaderExample] = []
    for paragraph in squad.paragraphs:
        doc = Document(content=paragraph.context,
                       meta={"title": paragraph.title, "paragraph_index": paragraph.number})
        for ex in paragraph.examples:
            answers = [] if ex.marked_impossible else list(ex.gold_texts)
            examples.append(ReaderExample(ex.qid, ex.question, [doc], answers, ex.marked_impossible))
    return examples


def load_squad_examples(path: str | Path) -> list[ReaderExample]:
    """:func:`squad_reader_examples` of the SQuAD 2.0 (or 1.1) file at ``path``.

    :raises SquadFileError: naming the file and the entry when it is missing or not SQuAD-shaped.
    """
    return squad_reader_examples(read_squad(path))


def read_examples(
    reader, examples: Sequence[ReaderExample], *, questions_per_batch: int = 1,
    progress: Callable[[Iterable], Iterable] | None = None, judge: Any = None,
) -> list[ReaderRun]:
    """Run ``reader`` (a warmed-up or lazy ``DocQAReader``) on every example.

    :param judge: an :class:`~docqa.pipelines.components.readers.answerability.AnswerabilityJudge` applied
        after
        the reader, as the QA pipeline does (its decision replaces the reader's ``no_answer``).

    :param questions_per_batch: questions whose windows share forward passes (faster; per-question
        latency is then the batch time divided by its size). Use 1 to measure real latency.
    :param progress: wraps the batch iterator (e.g. ``rich.progress.track``) for long runs.
    """
    reader.warm_up()
    batches = [examples[i : i + questions_per_batch] for i in range(0, len(examples), questions_per_batch)]
    runs: list[ReaderRun] = []
    for batch in progress(batches) if progress else batches:
        t0 = time.perf_counter()
        outputs = reader.run_batch([e.question for e in batch], [e.passages for e in batch])
        per_question = (time.perf_counter() - t0) / len(batch)
        for example, out in zip(batch, outputs, strict=True):
            judged: dict[str, Any] = {}
            if judge is not None:
                judged = judge.run(query=example.question, documents=example.passages, answers=out["answers"],
                                   no_answer=out["no_answer"])
                out = {**out, "no_answer": judged["no_answer"]}
            answers = out["answers"]
            diff = answers[0].meta["null_score_diff"] if answers else None
            runs.append(ReaderRun(
                qid=example.qid,
                forced_answer=answers[0].data if answers else "",
                null_score_diff=math.inf if diff is None else float(diff),
                no_answer=bool(out["no_answer"]),
                no_answer_score=float(out["no_answer_score"]),
                seconds=per_question,
                answerability=judged.get("answerability", {}),
            ))
    return runs


def score_runs(examples: Sequence[ReaderExample], runs: Sequence[ReaderRun],
               threshold: float | None = None) -> dict[str, float]:
    """Official metrics for ``runs``. With ``threshold`` the answers are re-decided as
    ``null_score_diff > threshold`` → no answer; otherwise the reader's own decisions are used.
    ``best_f1_thresh`` is on the ``null_score_diff`` scale, i.e. directly a τ."""
    golds = {e.qid: e.answers for e in examples}
    preds: dict[str, str] = {}
    for run in runs:
        no_answer = run.no_answer if threshold is None else run.null_score_diff > threshold
        preds[run.qid] = "" if no_answer or not run.forced_answer else run.forced_answer
    forced = {r.qid: r.forced_answer for r in runs}
    # +inf (nothing readable) must sort last but stay a finite JSON number in the result
    na = {r.qid: (r.null_score_diff if math.isfinite(r.null_score_diff) else 1e9) for r in runs}
    metrics = squad_v2_metrics(golds, preds, na_probs=na, forced_preds=forced)
    ms = np.array([r.seconds * 1000.0 for r in runs]) if runs else np.zeros(1)
    metrics["p50_ms"] = float(np.percentile(ms, 50))
    metrics["p95_ms"] = float(np.percentile(ms, 95))
    return metrics


def evaluate_reader(reader, examples: Sequence[ReaderExample], *, questions_per_batch: int = 1,
                    progress: Callable[[Iterable], Iterable] | None = None) -> dict[str, Any]:
    """Read every example and return the official SQuAD 2.0 metrics (0–100: ``exact``, ``f1``,
    ``HasAns_*``, ``NoAns_*``, ``best_f1``, ``best_f1_thresh``) plus ``p50_ms``/``p95_ms`` per question,
    using the reader's own τ for ``exact``/``f1``."""
    runs = read_examples(reader, examples, questions_per_batch=questions_per_batch, progress=progress)
    metrics = score_runs(examples, runs)
    metrics["no_answer_threshold"] = reader.threshold()
    return metrics


def best_threshold(examples: Sequence[ReaderExample], runs: Sequence[ReaderRun]) -> tuple[float, float]:
    """(τ, F1) maximising F1 when "no answer" ⇔ ``null_score_diff > τ``.

    Every distinct ``null_score_diff`` is a candidate (plus "always answer"/"never answer"); ties
    go to the smaller τ. Exact, unlike the official search's 0.0 start value.
    """
    golds = {e.qid: e.answers for e in examples}
    gain = []  # (diff, f1 if answered, f1 if not answered)
    for run in runs:
        answers = golds[run.qid]
        answered = score_question(answers, run.forced_answer)[1] if run.forced_answer else None
        silent = score_question(answers, "")[1]
        gain.append((run.null_score_diff, silent if answered is None else answered, silent))
    if not gain:
        return 0.0, 0.0
    gain.sort(key=lambda g: g[0])
    total = sum(g[2] for g in gain)  # τ below every diff: never answer
    best_total = total
    finite = [g[0] for g in gain if math.isfinite(g[0])]
    best_tau = (finite[0] - 1.0) if finite else 0.0
    i = 0
    while i < len(gain):
        diff = gain[i][0]
        if not math.isfinite(diff):
            break
        while i < len(gain) and gain[i][0] == diff:
            total += gain[i][1] - gain[i][2]
            i += 1
        if total > best_total + 1e-12:
            best_total, best_tau = total, diff
    return float(best_tau), 100.0 * best_total / len(gain)


def calibrate(reader, examples: Sequence[ReaderExample], *, questions_per_batch: int = 8,
              progress: Callable[[Iterable], Iterable] | None = None,
              save_as: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """Find the τ that maximises F1 on ``examples``; optionally store it.

    :param save_as: ``(model, backend, calibrated_on)`` → written to the DocQA config so that
        ``DocQAReader(model, backend)`` uses it from now on.
    :returns: ``{"no_answer_threshold": τ, "f1": F1 at τ, "metrics": official metrics at τ, "config": path}``.
    """
    runs = read_examples(reader, examples, questions_per_batch=questions_per_batch, progress=progress)
    tau, f1 = best_threshold(examples, runs)
    result: dict[str, Any] = {"no_answer_threshold": tau, "f1": f1,
                              "metrics": score_runs(examples, runs, threshold=tau), "config": None}
    if save_as is not None:
        from docqa.pipelines.components.readers.calibration import save_reader_calibration

        model, backend, source = save_as
        if backend == "auto":  # τ belongs to the runtime that produced the logits: the one auto chose
            backend = getattr(reader, "active_backend", backend)
        result["config"] = str(save_reader_calibration(model, backend, tau, calibrated_on=source, f1=f1))
    return result
