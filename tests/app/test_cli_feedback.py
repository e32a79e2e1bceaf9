"""`docqa feedback list|export` as a user types them, and the export feeding train-reader and eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa.app.cli import app
from tests.feedback_fixtures import ENGINE, NORMANS, open_docqa, write_index

runner = CliRunner()
ENV = {"HF_HUB_OFFLINE": "1"}


def run(*args: str):
    return runner.invoke(app, list(args), env=ENV, catch_exceptions=False)


@pytest.fixture
def with_feedback(tmp_path: Path) -> Path:
    index = tmp_path / "index"
    ids = write_index(index)
    qa = open_docqa(index)
    rollo = NORMANS.index("Rollo")
    qa.feedback("Who led the Norse?", ids[NORMANS], "correct", rollo, rollo + 5)
    qa.feedback("Who improved the engine?", ids[ENGINE], "wrong", correct_answer="James Watt")
    qa.feedback("Who invented the telephone?", ids[ENGINE], "not_in_documents", comment="not here")
    qa.feedback("When was the engine built?", ids[ENGINE], "wrong")
    qa.feedback("Which region did they name?", ids[NORMANS], "wrong", correct_answer="Normandy")
    return index


def test_list_shows_every_record(with_feedback: Path, tmp_path: Path) -> None:
    listed = run("feedback", "list", "--index", str(with_feedback), "--json")
    assert listed.exit_code == 0, listed.output
    records = json.loads(listed.stdout)
    assert [r["verdict"] for r in records] == ["correct", "wrong", "not_in_documents", "wrong", "wrong"]
    assert records[1]["answer"] == "James Watt" and records[2]["comment"] == "not here"
    table = run("feedback", "list", "--index", str(with_feedback))
    assert "5 feedback records" in table.stdout and "James Watt" in table.stdout  # rich wraps long cells
    empty = run("feedback", "list", "--index", str(tmp_path / "nothing"))
    assert empty.exit_code == 0 and "No feedback yet" in empty.stdout


def test_export_writes_squad_with_a_question_holdout(with_feedback: Path, tmp_path: Path) -> None:
    out, held = tmp_path / "train.json", tmp_path / "held.json"
    result = run("feedback", "export", "--index", str(with_feedback), "--out", str(out),
                 "--holdout", "0.25", "--holdout-out", str(held), "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["train_questions"] + summary["holdout_questions"] == 4  # the uncorrected "wrong" is out
    assert summary["holdout_questions"] == 1 and summary["left_out_wrong_without_correction"] == 1
    for path in (out, held):
        for article in json.loads(path.read_text())["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    for answer in qa["answers"]:
                        start = answer["answer_start"]
                        assert paragraph["context"][start : start + len(answer["text"])] == answer["text"]
    again = run("feedback", "export", "--index", str(with_feedback), "--out", str(tmp_path / "t2.json"),
                "--holdout", "0.25", "--holdout-out", str(tmp_path / "h2.json"), "--seed", "3")
    assert again.exit_code == 0 and (tmp_path / "h2.json").read_text() == held.read_text()


def test_export_option_errors_are_one_line(with_feedback: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["feedback", "export", "--index", str(with_feedback), "--out",
                                 str(tmp_path / "o.json"), "--holdout", "0.3"], env=ENV)
    assert result.exit_code == 2 and result.stderr.startswith("error:")
    assert "--holdout needs --holdout-out" in result.stderr and not (tmp_path / "o.json").exists()


@pytest.mark.slow  # trains a reader, then evaluates it
def test_train_reader_and_eval_take_the_export(
    with_feedback: Path, tmp_path: Path, tiny_qa_model_dir
) -> None:
    """The loop from the CLI: export, fine-tune the current reader on it, score readers on it."""
    out = tmp_path / "feedback.json"
    assert run("feedback", "export", "--index", str(with_feedback), "--out", str(out)).exit_code == 0
    trained = tmp_path / "trained"
    train = run("train-reader", "--train", str(out), "--base", str(tiny_qa_model_dir), "--out", str(trained),
                "--epochs", "1", "--max-seq-length", "64", "--stride", "16", "--batch-size", "4",
                "--device", "cpu")
    assert train.exit_code == 0, train.output
    assert "4 questions usable (3 answerable, 1 unanswerable) of 4" in " ".join(train.output.split())
    assert (trained / "config.json").exists()
    scored = run("eval", str(out), "--reader", str(trained), "--backend", "torch", "--json")
    assert scored.exit_code == 0, scored.output
    result = json.loads(scored.stdout)
    assert result["reader"]["total"] == 4 and result["end_to_end"]["total"] == 4
    assert result["reader"]["HasAns_total"] == 3 and result["reader"]["NoAns_total"] == 1
