"""Rows for fitting and measuring "not in your documents": one per question asked end to end.

Each row holds the answerability features of the question (``answerability_features``), where it came
from (``in``: its article is indexed; ``off``: it is not), the reader's own τ decision, the forced answer
and what answering or staying silent would score. ``scripts/fit_answerability.py`` fits on such rows and
``benchmarks/answerability.py`` scores a fitted model on rows of other articles, so both read the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from docqa.pipelines.components.readers.answerability import AnswerabilityModel, answerability_features
from docqa.pipelines.evaluation.reader_eval import ReaderExample
from docqa.pipelines.evaluation.squad_metrics import score_question


def collect_rows(reader, search: Callable[[str], list], items: Sequence[ReaderExample], origin: str,
                 progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Ask every item end to end (``search`` gives the passages) and describe what happened."""
    rows = []
    for i, example in enumerate(items):
        docs = search(example.question)
        out = reader.run(query=example.question, documents=docs)
        answers = out["answers"]
        forced = answers[0].data if answers else ""
        f1_answered = score_question(example.answers, forced)[1] if forced else None
        rows.append({"origin": origin, "qid": example.qid, "answerable": bool(example.answers),
                     "label": int(origin == "in" and bool(example.answers) and (f1_answered or 0.0) >= 0.5),
                     "reader_no_answer": bool(out["no_answer"]), "forced": forced,
                     "f1_if_answered": f1_answered, "f1_silent": score_question(example.answers, "")[1],
                     **answerability_features(example.question, docs, answers)})
        if progress is not None:
            progress(i + 1, len(items))
    return rows


def decisions(rows: Sequence[dict[str, Any]], model: AnswerabilityModel | None,
              cut: float | None = None, tau: float | None = None) -> list[bool]:
    """Whether each row gets a confident answer: the reader's τ says answer and (with a model) P ≥ cut.

    ``tau``: judge the τ rule again at this τ from the row's margin (``null − best > τ`` ⇔
    ``margin < −τ``) instead of the reader's recorded decision — for fitting τ and the model together."""
    threshold = cut if cut is not None else (model.threshold if model else 0.0)
    return [bool(r["forced"]) and not (r["reader_no_answer"] if tau is None else r["margin"] < -tau)
            and (model is None or model.probability(r) >= threshold) for r in rows]


def summarise(rows: Sequence[dict[str, Any]], answered: Sequence[bool]) -> dict[str, float]:
    """Off-corpus answered rate; in-corpus F1 / HasAns F1 with these decisions and when answering all."""
    pairs = list(zip(rows, answered, strict=True))
    off = [a for r, a in pairs if r["origin"] == "off"]
    inside = [(r, a) for r, a in pairs if r["origin"] == "in"]
    has = [(r, a) for r, a in inside if r["answerable"]]

    def f1(items, force: bool = False) -> float:
        if not items:
            return 0.0
        total = sum((r["f1_if_answered"] or 0.0) if (a or force) and r["forced"] else r["f1_silent"]
                    for r, a in items)
        return 100.0 * total / len(items)

    return {"off_corpus_questions": len(off), "off_corpus_answered_rate": sum(off) / len(off) if off else 0.0,
            "in_corpus_questions": len(inside), "in_corpus_f1": f1(inside),
            "in_corpus_HasAns_f1": f1(has), "in_corpus_HasAns_f1_answer_all": f1(has, force=True),
            "in_corpus_answered_rate": sum(a for _, a in inside) / len(inside) if inside else 0.0}
