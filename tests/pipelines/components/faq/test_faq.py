"""FAQ mode through DocQA: curated answers first, documents otherwise, and the reading slot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from docqa.pipelines.components.faq.matcher import DEFAULT_FAQ_THRESHOLD
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.faq.files import read_faq_file
from docqa.pipelines.faq.store import FaqStore
from tests.pipelines.components.faq.helpers import SUPPORT_FAQ, fake_embed_factory


@pytest.fixture
def faq_yaml(tmp_path) -> Path:
    """The support FAQ as a YAML file."""
    import yaml

    path = tmp_path / "support-faq.yaml"
    path.write_text(yaml.safe_dump(SUPPORT_FAQ), encoding="utf-8")
    return path


def test_paraphrase_gets_the_curated_answer_marked_as_faq(tmp_path, faq_yaml, monkeypatch):
    from docqa.pipelines.api import DocQA

    monkeypatch.delenv("DOCQA_FAQ_THRESHOLD", raising=False)
    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader-needed"))
    report = qa.load_faq(faq_yaml)
    assert report.to_dict()["counts"]["added"] == 3
    assert [e.question for e in qa.faq_entries()] == [e["question"] for e in SUPPORT_FAQ]

    result = qa.ask("I forgot my password, how can I get a new one?")
    assert result.from_faq
    assert [a.text for a in result.answers] == ["Open Settings > Account > Reset password."]
    assert result.faq.entry.question == "How do I reset my password?"
    assert result.faq.similarity >= DEFAULT_FAQ_THRESHOLD
    assert result.answers[0].faq["question"] == "How do I reset my password?"
    assert result.answers[0].sources == [] and result.passages == [] and not result.no_answer
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["faq"]["matched"] is True and as_json["answers"][0]["faq"]["id"] == result.faq.entry.id

    # A stricter threshold for this call sends the same question to the documents (no reader here).
    strict = qa.ask("I forgot my password, how can I get a new one?", faq_threshold=0.99)
    assert not strict.from_faq and strict.faq.entry.question == "How do I reset my password?"
    assert strict.reader_error and "not available" in strict.reader_error


def test_unmatched_question_is_answered_from_the_documents(tmp_path, sample_index, faq_yaml, test_reader_dir):
    from docqa.pipelines.api import DocQA

    index = tmp_path / "index"
    shutil.copytree(sample_index, index)  # the session index stays read-only
    qa = DocQA(index, reader_model=str(test_reader_dir))
    qa.load_faq(faq_yaml)
    result = qa.ask("Who agreed to swear fealty to King Charles III of West Francia?")
    assert not result.from_faq
    assert result.faq is not None and result.faq.similarity < result.faq.threshold
    assert "Rollo" in result.answers[0].text
    assert result.answers[0].sources[0].file.endswith("normans.txt")
    assert {"faq", "retrieval", "reading", "total"} <= set(result.timings_ms)


def test_reloading_changes_the_answer_seen_by_an_open_docqa(tmp_path, faq_yaml):
    import yaml

    from docqa.pipelines.api import DocQA

    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    qa.load_faq(faq_yaml)
    revised = [dict(e) for e in SUPPORT_FAQ[:2]]
    revised[0]["answer"] = "Use the 'Forgot password' link on the sign-in page."
    revised.append({"question": "Do I need a GPU?", "answer": "No."})
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(revised), encoding="utf-8")
    other_process = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    report = other_process.load_faq(path)
    assert (report.added, report.changed, report.removed) == (
        ["Do I need a GPU?"], ["How do I reset my password?"], ["How can I contact customer support?"]
    )
    answer = qa.ask("How do I reset my password?").answers[0].text
    assert answer == "Use the 'Forgot password' link on the sign-in page."


def test_vectors_of_another_embedding_model_are_not_compared(tmp_path, faq_yaml):
    """An FAQ stored by another model's vectors (here: random ones) is re-embedded, not trusted."""
    from docqa.pipelines.api import DocQA

    index = LocalIndex(tmp_path / "index")
    FaqStore(index).replace(read_faq_file(faq_yaml), fake_embed_factory([]), "some-other-model")
    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    result = qa.ask("I forgot my password, how can I get a new one?")
    assert result.from_faq and result.faq.entry.question == "How do I reset my password?"


def test_invalid_questions_are_refused_before_any_work(tmp_path):
    from docqa.pipelines.api import DocQA

    qa = DocQA(tmp_path / "index")
    with pytest.raises(ValueError, match="must not be empty"):
        qa.ask("   ")
    with pytest.raises(ValueError, match="at least 1"):
        qa.ask("Why?", top_k=0)


class RecordingSlot:
    """A reading slot that records when it was entered, and whether it was held at a given moment."""

    def __init__(self) -> None:
        self.entered = 0
        self.held = False

    def __enter__(self) -> RecordingSlot:
        self.entered += 1
        self.held = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.held = False


def test_reading_slot_is_entered_only_for_document_questions(tmp_path, faq_yaml, monkeypatch):
    from docqa.pipelines.api import DocQA

    monkeypatch.delenv("DOCQA_FAQ_THRESHOLD", raising=False)
    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    qa.load_faq(faq_yaml)
    slot = RecordingSlot()
    held_while_reading: list[bool] = []
    ask_documents = qa.ask_documents

    def recording_ask_documents(*args, **kwargs):
        held_while_reading.append(slot.held)
        return ask_documents(*args, **kwargs)

    monkeypatch.setattr(qa, "ask_documents", recording_ask_documents)
    curated = qa.ask("I forgot my password, how can I get a new one?", reading_slot=slot)
    assert curated.from_faq and slot.entered == 0 and held_while_reading == []

    from_documents = qa.ask("What is the boiling point of mercury?", reading_slot=slot)
    assert not from_documents.from_faq and from_documents.reader_error
    assert slot.entered == 1 and held_while_reading == [True] and not slot.held
