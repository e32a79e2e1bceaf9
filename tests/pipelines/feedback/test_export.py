"""Exported feedback is SQuAD 2.0 whose offsets point at the marked text, split by question."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from haystack import Document

from docqa.errors import InvalidInputError
from docqa.pipelines.feedback.export import count_questions, export_feedback, holdout_questions, write_export
from docqa.pipelines.feedback.store import build_record
from docqa.pipelines.squad import read_squad
from tests.feedback_fixtures import ENGINE, NORMANS

NORMANS_DOC = Document(id="n1", content=NORMANS, meta={"file": "/docs/normans.txt", "title": "normans"})
ENGINE_DOC = Document(id="e1", content=ENGINE, meta={"file": "/docs/steam.md", "title": "steam"})


def sample_records():
    rollo = NORMANS.index("Rollo")
    return [
        build_record("Who led the Norse?", NORMANS_DOC, "correct", rollo, rollo + 5),
        build_record("Who improved the engine?", ENGINE_DOC, "wrong", correct_answer="James Watt"),
        build_record("Who invented the telephone?", ENGINE_DOC, "not_in_documents"),
        build_record("When was the engine built?", ENGINE_DOC, "wrong"),  # no correction: left out
        build_record("Which region?", NORMANS_DOC, "wrong", correct_answer="France"),  # superseded below
        build_record("Which region?", NORMANS_DOC, "wrong", correct_answer="Normandy"),
    ]


def qas_by_question(squad: dict) -> dict[str, tuple[str, dict]]:
    paragraphs = [p for article in squad["data"] for p in article["paragraphs"]]
    return {qa["question"]: (p["context"], qa) for p in paragraphs for qa in p["qas"]}


def test_export_marks_answers_at_their_offsets_and_groups_questions_by_passage() -> None:
    export = export_feedback(sample_records())
    qas = qas_by_question(export.train)
    assert set(qas) == {"Who led the Norse?", "Who improved the engine?", "Who invented the telephone?",
                        "Which region?"}
    for question, text in [("Who led the Norse?", "Rollo"), ("Who improved the engine?", "James Watt"),
                           ("Which region?", "Normandy")]:
        context, qa = qas[question]
        (answer,) = qa["answers"]
        assert answer["text"] == text and not qa["is_impossible"]
        assert context[answer["answer_start"] : answer["answer_start"] + len(text)] == text
    context, qa = qas["Who invented the telephone?"]
    assert qa["is_impossible"] and qa["answers"] == [] and context == ENGINE
    titles = {a["title"]: [p["context"] for p in a["paragraphs"]] for a in export.train["data"]}
    assert titles == {"normans": [NORMANS], "steam": [ENGINE]}
    assert (export.answerable, export.unanswerable, export.left_out_wrong, export.superseded) == (3, 1, 1, 1)


def test_exported_file_reads_as_squad_without_repairs(tmp_path: Path) -> None:
    out = tmp_path / "feedback.json"
    write_export(export_feedback(sample_records()), out)
    squad = read_squad(out, strict=True, require_spans=True)
    assert squad.report.version == "v2.0"
    assert (squad.report.answerable, squad.report.unanswerable) == (3, 1)
    assert squad.report.repaired_offsets == 0 and not squad.report.problems


def many_records(n: int):
    return [build_record(f"Question number {i}?", NORMANS_DOC, "correct", correct_answer="Rollo")
            for i in range(n)]


def test_holdout_is_deterministic_by_question_and_changes_with_the_seed() -> None:
    records = many_records(40)
    # The same question judged on another passage must land on the same side of the split.
    records += [build_record("Question number 3?", ENGINE_DOC, "correct", correct_answer="James Watt")]
    first = export_feedback(records, holdout=0.25, seed=7)
    again = export_feedback(list(reversed(records)), holdout=0.25, seed=7)
    assert first.holdout is not None and again.holdout is not None
    assert first.holdout_questions == again.holdout_questions and len(first.holdout_questions) == 10
    train_questions = set(qas_by_question(first.train))
    held = qas_by_question(first.holdout)
    assert not train_questions & set(held)
    assert count_questions(first.train) + count_questions(first.holdout) == 41
    other = export_feedback(records, holdout=0.25, seed=8)
    assert other.holdout_questions != first.holdout_questions


def test_holdout_keeps_at_least_one_question_on_each_side() -> None:
    assert len(holdout_questions(["a", "b", "c"], 0.01, 0)) == 1
    assert len(holdout_questions(["a", "b", "c"], 0.99, 0)) == 2


@pytest.mark.parametrize(
    ("holdout", "holdout_out", "message"),
    [(1.5, "h.json", "between 0 and 1"), (0.2, None, "--holdout needs --holdout-out"),
     (None, "h.json", "--holdout-out needs --holdout"), (0.2, "out.json", "another file than --out")],
)
def test_export_options_are_checked(tmp_path: Path, holdout, holdout_out, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        export = export_feedback(many_records(4), holdout=holdout)
        write_export(export, tmp_path / "out.json", tmp_path / holdout_out if holdout_out else None)
    assert not (tmp_path / "out.json").exists()


def test_empty_feedback_exports_an_empty_squad_file(tmp_path: Path) -> None:
    write_export(export_feedback([]), tmp_path / "empty.json")
    assert json.loads((tmp_path / "empty.json").read_text()) == {"version": "v2.0", "data": []}
