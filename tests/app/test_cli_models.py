"""`docqa improve` and `docqa models list|use|prune` as a user runs them on a tiny reader: the decision
line, --json's fields, the rollback, and one clear error line for too little feedback or a wrong number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa.app.cli import app
from docqa.pipelines.api import DocQA
from tests.improve_fixtures import give_feedback

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.slow  # trains a reader (tiny) end to end: ~30-60 s
def test_improve_and_models_commands(improve_index: Path, tiny_qa_model_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCQA_READER_FALLBACK", "0")
    index, reader = str(improve_index), str(tiny_qa_model_dir)
    common = ("--index", index, "--reader", reader, "--epochs", "1")
    too_little = run("improve", *common)
    assert too_little.exit_code == 2 and "not enough feedback" in too_little.output
    give_feedback(DocQA(improve_index, reader_model=reader))

    kept = run("improve", *common, "--margin", "1000")
    assert kept.exit_code == 0, kept.output
    assert "kept the current reader: held-out F1 changed by" in kept.output and "regression F1" in kept.output

    promoted = json.loads(run("improve", *common, "--margin", "-1000", "--json").stdout)
    assert promoted["promoted"] is True and promoted["model"] == 1
    assert set(promoted["current"]) == {"f1", "HasAns_f1", "NoAns_f1", "regression_f1"}
    assert promoted["candidate"]["f1"]["n"] == promoted["data"]["heldout_questions"]

    listed = json.loads(run("models", "list", "--index", index, "--json").stdout)
    assert listed["active"] == 1 and [m["number"] for m in listed["models"]] == [1]
    table = run("models", "list", "--index", index)
    assert "answering: models/1" in table.output

    wrong = run("models", "use", "7", "--index", index)
    assert wrong.exit_code == 2 and "no model 7" in wrong.output
    back = run("models", "use", "0", "--index", index)
    assert back.exit_code == 0 and "configured reader" in back.output
    assert json.loads(run("models", "list", "--index", index, "--json").stdout)["active"] == 0
    pruned = run("models", "prune", "--keep", "0", "--index", index)
    assert "Deleted 1 model(s): 1" in pruned.output
    assert json.loads(run("models", "list", "--index", index, "--json").stdout)["models"] == []
