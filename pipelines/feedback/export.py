"""Stored feedback → SQuAD 2.0 JSON that ``docqa train-reader`` trains on and ``docqa eval`` scores.

What goes in: a ``correct`` answer or a ``wrong`` one with its correction is an answerable question whose
one answer is the marked span (``answer_start`` exact, as stored); ``not_in_documents`` is an unanswerable
question (``is_impossible``) over the passage the user saw; ``wrong`` without a correction is left out
(it says what the answer is not, which SQuAD cannot express). When the same question was judged on the
same passage more than once, the latest record wins: a user who changed their mind meant the last one.

Shape: one SQuAD article per source file (its title), one paragraph per passage (the passage text as it
was when the feedback was given), the record id as question id. ``docqa eval`` indexes exactly these
paragraphs and asks these questions, so a holdout file measures a reader on the user's own questions.

Why the holdout is split by question, deterministically: the same question judged on two passages must not
be trained on and scored at once, and re-running the export with the same ``seed`` must give the same
split (a before/after comparison needs the same held-out questions). Questions are ranked by a hash of the
seed and their normalised text, and the first ``round(fraction × questions)`` are held out.

Usage::

    from docqa.pipelines.feedback.export import export_feedback, write_export

    export = export_feedback(FeedbackStore(index).records(), holdout=0.2, seed=0)
    write_export(export, Path("feedback-train.json"), Path("feedback-holdout.json"))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docqa.atomic import atomic_write_json
from docqa.errors import InvalidInputError
from docqa.pipelines.feedback.store import FeedbackRecord, FeedbackVerdict
from docqa.pipelines.squad import normalize_answer

SQUAD_VERSION = "v2.0"


@dataclass
class FeedbackExport:
    """The exported SQuAD 2.0 files (``train`` and, with a holdout, ``holdout``) and what went into them."""

    train: dict[str, Any]
    holdout: dict[str, Any] | None
    records: int  # stored records read
    answerable: int = 0
    unanswerable: int = 0
    left_out_wrong: int = 0  # "wrong" without a correction
    superseded: int = 0  # older feedback on the same question and passage
    holdout_questions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "left_out_wrong_without_correction": self.left_out_wrong,
            "superseded": self.superseded,
            "train_questions": count_questions(self.train),
            "holdout_questions": count_questions(self.holdout) if self.holdout else 0,
        }


def count_questions(squad: dict[str, Any]) -> int:
    return sum(len(p["qas"]) for article in squad["data"] for p in article["paragraphs"])


def _question_key(question: str) -> str:
    return normalize_answer(question) or question.strip().lower()


def _qa(record: FeedbackRecord) -> dict[str, Any] | None:
    """The SQuAD question for one record, or None when it carries no usable label."""
    if record.verdict is FeedbackVerdict.NOT_IN_DOCUMENTS:
        return {"id": record.id, "question": record.question, "answers": [], "is_impossible": True}
    if not record.has_span:
        return None  # "wrong" without a correction
    answer = {"text": record.answer, "answer_start": record.answer_start}
    return {"id": record.id, "question": record.question, "answers": [answer], "is_impossible": False}


def _squad(records: list[FeedbackRecord]) -> dict[str, Any]:
    """Articles by file (first-seen order), paragraphs by passage text, questions in record order."""
    articles: dict[str, dict[str, Any]] = {}
    paragraphs: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        qa = _qa(record)
        if qa is None:
            continue
        title = record.title or Path(record.file).name or "feedback"
        article = articles.setdefault(record.file or title, {"title": title, "paragraphs": []})
        key = (record.file or title, record.passage)
        paragraph = paragraphs.get(key)
        if paragraph is None:
            paragraph = {"context": record.passage, "qas": []}
            paragraphs[key] = paragraph
            article["paragraphs"].append(paragraph)
        paragraph["qas"].append(qa)
    return {"version": SQUAD_VERSION, "data": list(articles.values())}


def holdout_questions(questions: Iterable[str], fraction: float, seed: int) -> set[str]:
    """The normalised questions held out: ``round(fraction × n)`` of them (at least one and at most
    ``n - 1`` when there are two or more), chosen by a hash of ``seed`` and the question — the same
    every run, and independent of the order feedback was given in.

    :raises InvalidInputError: when ``fraction`` is not between 0 and 1 (exclusive).
    """
    if not 0.0 < fraction < 1.0:
        raise InvalidInputError(f"--holdout must be a fraction between 0 and 1 (exclusive), got {fraction}")
    unique = sorted(set(questions))
    ranked = sorted(unique, key=lambda q: hashlib.sha256(f"{seed}\x00{q}".encode()).hexdigest())
    count = round(fraction * len(ranked))
    if len(ranked) >= 2:
        count = min(max(count, 1), len(ranked) - 1)
    return set(ranked[:count])


def export_feedback(
    records: Iterable[FeedbackRecord], *, holdout: float | None = None, seed: int = 0
) -> FeedbackExport:
    """SQuAD 2.0 data from stored feedback (see the module docstring for what goes in).

    :param holdout: the fraction of distinct questions to put into a separate held-out file (None: none).
    :raises InvalidInputError: for a ``holdout`` outside (0, 1).
    """
    records = list(records)
    latest: dict[tuple[str, str], FeedbackRecord] = {}
    for record in records:  # oldest first: later feedback on the same question and passage replaces
        latest[(_question_key(record.question), record.passage_id)] = record
    kept = [r for r in records if latest[(_question_key(r.question), r.passage_id)] is r]
    export = FeedbackExport(train={}, holdout=None, records=len(records), superseded=len(records) - len(kept))
    usable = []
    for record in kept:
        if record.verdict is FeedbackVerdict.NOT_IN_DOCUMENTS:
            export.unanswerable += 1
        elif record.has_span:
            export.answerable += 1
        else:
            export.left_out_wrong += 1
            continue
        usable.append(record)
    held: set[str] = set()
    if holdout is not None:
        held = holdout_questions((_question_key(r.question) for r in usable), holdout, seed)
    export.train = _squad([r for r in usable if _question_key(r.question) not in held])
    if holdout is not None:
        held_records = [r for r in usable if _question_key(r.question) in held]
        export.holdout = _squad(held_records)
        export.holdout_questions = sorted({r.question for r in held_records})
    return export


def write_export(export: FeedbackExport, out: Path, holdout_out: Path | None = None) -> None:
    """Write the train file (and the holdout file) atomically: a crash never leaves half a JSON file.

    :raises InvalidInputError: a holdout without ``holdout_out``, or both paths the same file.
    """
    if export.holdout is None and holdout_out is not None:
        raise InvalidInputError("--holdout-out needs --holdout FRACTION (the share of questions to hold out)")
    if export.holdout is not None:
        if holdout_out is None:
            raise InvalidInputError("--holdout needs --holdout-out FILE for the held-out questions")
        if Path(holdout_out).resolve() == Path(out).resolve():
            raise InvalidInputError("--holdout-out must be another file than --out")
    atomic_write_json(out, export.train)
    if export.holdout is not None and holdout_out is not None:
        atomic_write_json(holdout_out, export.holdout)
