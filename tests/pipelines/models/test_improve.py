"""docqa improve end to end on a tiny reader: feedback → guarded training → gate → registry → answers.

The tiny random reader cannot get better by training, so the gate's margin is set by the test to force
each outcome; what is checked is what a user sees: which model answers, what the decision says, and that
nothing is promoted when it should not be."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.errors import InvalidInputError
from docqa.pipelines.api import DocQA
from docqa.pipelines.models.gate import GateSettings
from docqa.pipelines.models.improve import ImproveSettings
from tests.improve_fixtures import give_feedback

FAST = {"epochs": 1, "batch_size": 8, "replay_ratio": 1.0, "device": "cpu"}


@pytest.mark.slow  # trains a reader (tiny) end to end: ~30-60 s
def test_improve_promotes_only_through_the_gate_and_the_promoted_reader_answers(
    improve_index: Path, tiny_qa_model_dir: Path
) -> None:
    qa = DocQA(improve_index, reader_model=str(tiny_qa_model_dir), reader_fallback=False)
    with pytest.raises(InvalidInputError, match="not enough feedback"):
        qa.improve(ImproveSettings(**FAST))
    given = give_feedback(qa)
    stages: list[tuple[str, float]] = []

    refused = qa.improve(ImproveSettings(**FAST, gate=GateSettings(margin=1000.0)),
                         progress=lambda stage, done: stages.append((stage, done)))
    assert not refused.promoted and refused.model is None
    assert refused.reason.startswith("kept the current reader: held-out F1 changed by")
    assert qa.models()["models"] == [] and qa.reader_info().name == str(tiny_qa_model_dir)
    data = refused.data
    assert data["feedback_records"] == given and data["heldout_questions"] >= 5
    assert data["replayed_questions"] == data["train_feedback_questions"]  # replay ratio 1
    for side in ("current", "candidate", "delta"):
        f1 = getattr(refused, side)["f1"]
        assert f1["n"] == data["heldout_questions"] and f1["ci95"][0] <= f1["mean"] <= f1["ci95"][1]
    assert refused.current["regression_f1"]["n"] == 96
    assert stages[0] == ("exporting feedback", 0.0) and stages[-1][1] == 1.0
    assert any(stage.startswith("training") for stage, _ in stages)

    dry = qa.improve(ImproveSettings(**FAST, gate=GateSettings(margin=-1000.0), dry_run=True))
    assert not dry.promoted and dry.reason.startswith("dry run: promoted")
    assert qa.model_registry().entries() == []

    promoted = qa.improve(ImproveSettings(**FAST, gate=GateSettings(margin=-1000.0)))
    assert promoted.promoted and promoted.model == 1 and "now answering as models/1" in promoted.reason
    listing = qa.models()
    assert listing["active"] == 1 and listing["active_name"] == "models/1"
    card = listing["models"][0]
    assert card["parent"] == str(tiny_qa_model_dir) and card["feedback_records"] == given
    assert card["scores"]["candidate"]["f1"]["n"] == data["heldout_questions"]
    assert (improve_index / "models" / "1" / "TRAINING.md").is_file()
    assert not list((improve_index / "models").glob(".work-*")), "the work directory is removed"

    answer = qa.ask("Who founded the Duchy of Normandy?", use_faq=False)
    assert answer.reader == "models/1"
    passage = answer.passages[0]
    record = qa.feedback("Who founded the Duchy of Normandy?", passage.id, "not_in_documents")
    assert record.reader == "models/1", "feedback records the model that answered"

    # Another process's DocQA (a running service) follows a rollback at its next question.
    other = DocQA(improve_index, reader_model=str(tiny_qa_model_dir), reader_fallback=False)
    assert other.reader_info().name == "models/1"
    qa.use_model(0)
    assert other.ask("Who founded the Duchy of Normandy?", use_faq=False).reader == str(tiny_qa_model_dir)
