"""The data of one ``docqa improve`` run: the feedback split, the guarded training file, the held-out
questions and the regression set.

Guards against the failure the feedback loop benchmark measured (a fine-tune on 100 feedback records
answered "no answer" to almost everything):

- **replay**: the training file mixes ``replay_ratio`` × (feedback questions) questions of the compact
  reader's own training distribution (``data/replay-questions.json``, even-numbered articles), so a few
  dozen records cannot pull the reader away from what it knew;
- **class balance**: at most ``max_no_answer_share`` of the feedback questions in training are "not in
  these documents" (the newest are kept), so a run of such feedback cannot teach "never answer";
- **epoch choice on unseen questions**: epochs are scored on the replay set's odd-numbered articles, never
  trained on, and the kept epoch's τ is calibrated there (``train_reader``'s dev file); the held-out
  feedback is left for the gate alone, so the gate's figures are not the ones the training chose by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haystack import Document

from docqa.errors import InvalidInputError
from docqa.pipelines.evaluation.reader_eval import ReaderExample, load_squad_examples
from docqa.pipelines.feedback.export import FeedbackExport, count_questions, export_feedback
from docqa.pipelines.feedback.store import FeedbackRecord
from docqa.resources import data_path

REPLAY_FILE = "replay-questions.json"
REGRESSION_FILE = "reader-calibration.json"
SQUAD_VERSION = "v2.0"


@dataclass
class ImproveData:
    """What one run trains and is judged on (see the module docstring)."""

    export: FeedbackExport
    train: dict[str, Any]  # SQuAD 2.0: feedback (balanced) + replay
    dev: dict[str, Any] | None  # SQuAD 2.0: replay dev half (epoch choice, τ)
    heldout: list[ReaderExample] = field(default_factory=list)  # passages filled at scoring time
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {**self.counts, "feedback_records": self.export.records}


def _questions(squad: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    return [(a, p, q) for a in squad.get("data", []) for p in a["paragraphs"] for q in p["qas"]]


def _subset(squad: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    """The articles/paragraphs of ``squad`` holding only the questions whose id is in ``keep``."""
    articles = []
    for article in squad.get("data", []):
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = [q for q in paragraph["qas"] if q["id"] in keep]
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    return {"version": SQUAD_VERSION, "data": articles}


def balance(squad: dict[str, Any], max_no_answer_share: float) -> tuple[dict[str, Any], int]:
    """Drop the oldest unanswerable questions beyond ``max_no_answer_share`` of the file; returns the
    file and how many were dropped. Questions keep the export's order (oldest feedback first)."""
    questions = _questions(squad)
    impossible = [q["id"] for _, _, q in questions if q.get("is_impossible")]
    answerable = len(questions) - len(impossible)
    if max_no_answer_share >= 1.0 or not impossible:
        return squad, 0
    allowed = int(max_no_answer_share / (1.0 - max_no_answer_share) * answerable) if answerable else 0
    drop = set(impossible[: max(0, len(impossible) - allowed)])
    keep = {q["id"] for _, _, q in questions if q["id"] not in drop}
    return _subset(squad, keep), len(drop)


def replay_halves() -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped replay questions split by article: (even-numbered for training, odd for epoch choice)."""
    squad = json.loads(data_path(REPLAY_FILE).read_text(encoding="utf-8"))
    articles = squad["data"]
    return (
        {"version": SQUAD_VERSION, "data": articles[0::2]},
        {"version": SQUAD_VERSION, "data": articles[1::2]},
    )


def take_questions(squad: dict[str, Any], count: int) -> dict[str, Any]:
    """The first ``count`` questions of ``squad`` taken round-robin over its articles (varied topics)."""
    per_article = [
        [q["id"] for _, q in ((p, q) for p in a["paragraphs"] for q in p["qas"])]
        for a in squad.get("data", [])
    ]
    keep: list[str] = []
    depth = 0
    while len(keep) < count and any(depth < len(ids) for ids in per_article):
        keep += [ids[depth] for ids in per_article if depth < len(ids)][: count - len(keep)]
        depth += 1
    return _subset(squad, set(keep))


def merge(*files: dict[str, Any]) -> dict[str, Any]:
    return {"version": SQUAD_VERSION, "data": [a for f in files for a in f.get("data", [])]}


def heldout_examples(export: FeedbackExport) -> list[ReaderExample]:
    """One example per held-out question: its answers are the confirmed or corrected spans of all its
    records; a question whose every record says "not in these documents" is unanswerable. Passages are
    retrieved when the readers are scored (end to end, as the page would)."""
    by_question: dict[str, ReaderExample] = {}
    for article in (export.holdout or {}).get("data", []):
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                key = " ".join(qa["question"].lower().split())
                example = by_question.setdefault(
                    key, ReaderExample(f"heldout-{len(by_question)}", qa["question"], [], [], True)
                )
                if not qa.get("is_impossible"):
                    example.answers += [a["text"] for a in qa["answers"] if a["text"] not in example.answers]
                    example.is_impossible = False
    return list(by_question.values())


def regression_examples(path: str | Path | None = None) -> list[ReaderExample]:
    """The regression set, read from each question's own passage: a user's SQuAD file, or by default the
    shipped calibration pairs (48 SQuAD 1.1 training questions) plus as many unanswerable ones made by
    pairing each question with a passage of another article — so the set catches a reader that stopped
    answering as well as one that answers everything.

    :raises SquadFileError: a ``path`` that is missing or not SQuAD-shaped (named in the message).
    """
    if path is not None:
        return load_squad_examples(path)
    pairs = json.loads(data_path(REGRESSION_FILE).read_text(encoding="utf-8"))["pairs"]
    examples = []
    for i, pair in enumerate(pairs):
        own = Document(content=pair["context"], meta={"title": pair["article"]})
        examples.append(ReaderExample(f"regression-{i}", pair["question"], [own], [pair["answer"]], False))
        # The next pair of another article: same length of list, deterministic, never its own passage.
        other = next(p for p in pairs[i + 1 :] + pairs[:i] if p["article"] != pair["article"])
        foreign = Document(content=other["context"], meta={"title": other["article"]})
        examples.append(ReaderExample(f"regression-{i}-neg", pair["question"], [foreign], [], True))
    return examples


def prepare(
    records: list[FeedbackRecord],
    *,
    holdout: float,
    seed: int,
    replay_ratio: float,
    max_no_answer_share: float,
    min_train: int,
    min_heldout: int,
) -> ImproveData:
    """Split, guard and assemble (see the module docstring).

    :raises InvalidInputError: too little usable feedback to train on or to judge by (the message says
        how much there is and how much is needed).
    """
    export = export_feedback(records, holdout=holdout, seed=seed) if records else None
    if export is None or export.answerable + export.unanswerable < min_train + min_heldout:
        usable = 0 if export is None else export.answerable + export.unanswerable
        raise InvalidInputError(
            f"not enough feedback to improve the reader: {usable} usable records (a confirmed or corrected "
            f"answer, or 'not in these documents'); at least {min_train + min_heldout} are needed "
            f"({min_train} to train on, {min_heldout} held out to judge by)"
        )
    heldout = heldout_examples(export)
    if len(heldout) < min_heldout:
        raise InvalidInputError(
            f"only {len(heldout)} distinct held-out questions; at least {min_heldout} are "
            "needed to judge a candidate (give feedback on more questions)"
        )
    feedback, dropped = balance(export.train, max_no_answer_share)
    feedback_questions = count_questions(feedback)
    replay_train, replay_dev = replay_halves()
    replay = take_questions(replay_train, int(round(replay_ratio * feedback_questions)))
    counts = {
        "train_feedback_questions": feedback_questions,
        "dropped_no_answer": dropped,
        "replayed_questions": count_questions(replay),
        "heldout_questions": len(heldout),
        "dev_questions": count_questions(replay_dev),
    }
    return ImproveData(export, merge(feedback, replay), replay_dev, heldout, counts)
