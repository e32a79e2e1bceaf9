"""FAQ mode: loading and validating FAQ files, storing them atomically, matching questions, fall-through."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines.components.faq.faq import (
    DEFAULT_FAQ_THRESHOLD,
    FAQ_FILE,
    FaqEntry,
    FaqFileError,
    FaqMatcher,
    FaqStore,
    faq_entries,
    load_faq,
    parse_faq,
    read_faq_file,
    resolve_threshold,
)
from pipelines.document_stores.snapshots import DocumentIndex, IndexLockedError

SUPPORT_FAQ = [
    {"question": "How do I reset my password?", "answer": "Open Settings > Account > Reset password."},
    {"question": "Which file types can I upload?", "answer": "PDF, plain text (.txt) and Markdown (.md)."},
    {"question": "How can I contact customer support?", "answer": "Email support@example.com."},
]


# ---------------------------------------------------------------- parsing and validation


def test_csv_with_header_in_any_case_extra_columns_and_blank_lines():
    data = (
        b"Question,Answer,Owner\n"
        b"How do I reset my password?,\"Open Settings, then Account.\",ops\n"
        b"\n"
        b"Which file types can I upload?,PDF and text files.,docs\n"
    )
    entries = parse_faq(data, "faq.csv")
    assert [e.question for e in entries] == ["How do I reset my password?", "Which file types can I upload?"]
    assert entries[0].answer == "Open Settings, then Account."


def test_csv_semicolons_and_windows_1252_bytes_are_read():
    data = "question;answer\nWhere is the café?;Next to the gare.\n".encode("cp1252")
    (entry,) = parse_faq(data, "faq.csv")
    assert entry.question == "Where is the café?"
    assert entry.answer == "Next to the gare."


def test_csv_errors_name_the_file_row_and_field_and_all_are_reported():
    data = (
        b"question,answer\n"
        b"How do I reset my password?,Open Settings.\n"
        b"Which file types can I upload?,\n"
        b",An answer without a question.\n"
        b"how do I reset my password,A second answer to the same question.\n"
    )
    with pytest.raises(FaqFileError) as caught:
        parse_faq(data, "support/faq.csv")
    err = caught.value
    assert err.problems == [
        "row 3: field 'answer' is empty",
        "row 4: field 'question' is empty",
        "row 5: duplicate question (same as row 2): 'how do I reset my password'",
    ]
    assert str(err).startswith("support/faq.csv: 3 problems; nothing was loaded")


def test_csv_without_the_columns_says_which_are_missing():
    with pytest.raises(FaqFileError, match=r"(?s)faq.csv: .*row 1 \(header\): no column named 'answer'"):
        parse_faq(b"question,reply\nA?,B\n", "faq.csv")


def test_json_list_and_wrapped_list():
    listed = json.dumps(SUPPORT_FAQ).encode()
    wrapped = json.dumps({"faq": SUPPORT_FAQ}).encode()
    assert parse_faq(listed, "faq.json") == parse_faq(wrapped, "faq.json")
    assert len(parse_faq(listed, "faq.json")) == 3


def test_json_errors_name_entry_and_field():
    data = json.dumps([
        {"question": "Fine?", "answer": "Yes."},
        {"question": 42, "answer": "Numbers are not questions."},
        "just a string",
        {"question": "No answer?"},
    ]).encode()
    with pytest.raises(FaqFileError) as caught:
        parse_faq(data, "faq.json")
    assert caught.value.problems == [
        "entry 2: field 'question' must be text, not int",
        "entry 3: expected an object with 'question' and 'answer', found str",
        "entry 4: field 'answer' is missing",
    ]


def test_invalid_json_and_yaml_report_line_and_column():
    with pytest.raises(FaqFileError, match=r"(?s)faq.json: .*line 2, column \d+: invalid JSON"):
        parse_faq(b'[{"question": "A?",\n "answer": }]', "faq.json")
    with pytest.raises(FaqFileError, match=r"(?s)faq.yaml: .*line \d+, column \d+: invalid YAML"):
        parse_faq(b"- question: A?\n  answer: [unclosed\n", "faq.yaml")


def test_yaml_list_is_read():
    data = (
        b"- question: How do I reset my password?\n  answer: Open Settings.\n"
        b"- question: Q2?\n  answer: A2.\n"
    )
    assert [e.answer for e in parse_faq(data, "faq.yml")] == ["Open Settings.", "A2."]


def test_unsupported_type_binary_empty_and_overlong_are_refused(tmp_path):
    with pytest.raises(FaqFileError, match="unsupported FAQ file type '.txt'"):
        parse_faq(b"question,answer\nA?,B\n", "faq.txt")
    with pytest.raises(FaqFileError, match="binary data"):
        parse_faq(b"question,answer\n\x00\x01\x02", "faq.csv")
    with pytest.raises(FaqFileError, match="the file is empty"):
        parse_faq(b"  \n", "faq.csv")
    with pytest.raises(FaqFileError, match=r"entry 1: field 'question' is 1001 characters \(at most 1000\)"):
        parse_faq(json.dumps([{"question": "x" * 1001, "answer": "a"}]).encode(), "faq.json")
    with pytest.raises(FaqFileError, match="no such file"):
        read_faq_file(tmp_path / "missing.csv")


# ---------------------------------------------------------------- storing


def fake_embed_factory(calls: list[str]):
    """Deterministic unit vectors from the question text; records what was embedded."""

    def embed(texts):
        calls.extend(texts)
        rows = []
        for text in texts:
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows)

    return embed


def entries(*pairs: tuple[str, str]) -> list[FaqEntry]:
    return [FaqEntry(q, a) for q, a in pairs]


def test_reloading_reports_added_changed_removed_and_embeds_only_new_questions(tmp_path):
    store = FaqStore(DocumentIndex(tmp_path / "index"))
    calls: list[str] = []
    embed = fake_embed_factory(calls)
    first = store.replace(entries(("Q one?", "A1"), ("Q two?", "A2"), ("Q three?", "A3")), embed, "model-x")
    assert first.to_dict()["counts"] == {"added": 3, "changed": 0, "removed": 0, "unchanged": 0}
    calls.clear()
    second = store.replace(
        entries(("Q one?", "A1"), ("Q two?", "A2 revised"), ("Q four?", "A4")),
        embed,
        "model-x",
        source="v2.csv",
    )
    assert second.added == ["Q four?"]
    assert second.changed == ["Q two?"]
    assert second.removed == ["Q three?"]
    assert second.unchanged == 1
    assert calls == ["Q four?"]  # unchanged and changed-answer questions keep their stored vectors
    stored = store.load()
    assert [e.answer for e in stored.entries] == ["A1", "A2 revised", "A4"]
    assert stored.embeddings.shape == (3, 16)
    assert np.allclose(np.linalg.norm(stored.embeddings, axis=1), 1.0, atol=1e-5)
    assert stored.source == "v2.csv"
    # No temporary files are left next to the store.
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == [FAQ_FILE, "writer.lock"]


def test_faq_load_waits_for_the_writer_lock_and_changes_nothing_when_locked(tmp_path):
    index = DocumentIndex(tmp_path / "index")
    store = FaqStore(index)
    embed = fake_embed_factory([])
    store.replace(entries(("Old?", "Old answer")), embed, "model-x")
    before = store.path.read_bytes()
    with index.writer(), pytest.raises(IndexLockedError, match="being written by another DocQA process"):
        store.replace(entries(("New?", "New answer")), embed, "model-x", lock_timeout=0.2)
    assert store.path.read_bytes() == before


def test_a_damaged_store_is_reported_clearly(tmp_path):
    index = DocumentIndex(tmp_path / "index")
    index.directory.mkdir(parents=True)
    (index.directory / FAQ_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(FaqFileError, match="(?s)faq.json: .*cannot be read.*load your FAQ file again"):
        FaqStore(index).load()


def test_matcher_threshold_and_following_a_replaced_file(tmp_path):
    index = DocumentIndex(tmp_path / "index")
    store = FaqStore(index)
    embed = fake_embed_factory([])
    store.replace(entries(("Alpha?", "first"), ("Beta?", "second")), embed, "model-x")
    matcher = FaqMatcher(store, "model-x", lambda text: embed([text])[0])
    hit = matcher.nearest("Alpha?", threshold=0.9)
    assert hit.matched and hit.entry.answer == "first" and hit.similarity == pytest.approx(1.0, abs=1e-5)
    miss = matcher.nearest("Something else entirely", threshold=0.9)
    assert not miss.matched
    # Another writer replaces the file: the matcher sees the new entries on the next question.
    store.replace(entries(("Gamma?", "third")), embed, "model-x")
    assert matcher.nearest("Gamma?", threshold=0.9).entry.answer == "third"
    assert [e.question for e in matcher.entries()] == ["Gamma?"]


def test_threshold_from_argument_environment_or_default(monkeypatch):
    monkeypatch.delenv("DOCQA_FAQ_THRESHOLD", raising=False)
    assert resolve_threshold() == DEFAULT_FAQ_THRESHOLD
    monkeypatch.setenv("DOCQA_FAQ_THRESHOLD", "0.9")
    assert resolve_threshold() == 0.9
    assert resolve_threshold(0.5) == 0.5
    monkeypatch.setenv("DOCQA_FAQ_THRESHOLD", "high")
    with pytest.raises(ValueError, match="DOCQA_FAQ_THRESHOLD='high' is not a number"):
        resolve_threshold()
    with pytest.raises(ValueError, match="between 0 and 1"):
        resolve_threshold(1.5)


# ---------------------------------------------------------------- with the real embedder (and reader)


@pytest.fixture
def faq_yaml(tmp_path) -> Path:
    import yaml

    path = tmp_path / "support-faq.yaml"
    path.write_text(yaml.safe_dump(SUPPORT_FAQ), encoding="utf-8")
    return path


def test_paraphrase_gets_the_curated_answer_marked_as_faq(tmp_path, faq_yaml, monkeypatch):
    from pipelines.api import DocQA

    monkeypatch.delenv("DOCQA_FAQ_THRESHOLD", raising=False)
    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader-needed"))
    report = load_faq(qa, faq_yaml)
    assert report.to_dict()["counts"]["added"] == 3
    assert [e.question for e in faq_entries(qa)] == [e["question"] for e in SUPPORT_FAQ]

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
    from pipelines.api import DocQA

    index = tmp_path / "index"
    shutil.copytree(sample_index, index)  # the session index stays read-only
    qa = DocQA(index, reader_model=str(test_reader_dir))
    load_faq(qa, faq_yaml)
    result = qa.ask("Who agreed to swear fealty to King Charles III of West Francia?")
    assert not result.from_faq
    assert result.faq is not None and result.faq.similarity < result.faq.threshold
    assert "Rollo" in result.answers[0].text
    assert result.answers[0].sources[0].file.endswith("normans.txt")
    assert {"faq", "retrieval", "reading", "total"} <= set(result.timings_ms)


def test_reloading_changes_the_answer_seen_by_an_open_docqa(tmp_path, faq_yaml):
    import yaml

    from pipelines.api import DocQA

    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    load_faq(qa, faq_yaml)
    revised = [dict(e) for e in SUPPORT_FAQ[:2]]
    revised[0]["answer"] = "Use the 'Forgot password' link on the sign-in page."
    revised.append({"question": "Do I need a GPU?", "answer": "No."})
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(revised), encoding="utf-8")
    other_process = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    report = load_faq(other_process, path)
    assert (report.added, report.changed, report.removed) == (
        ["Do I need a GPU?"], ["How do I reset my password?"], ["How can I contact customer support?"]
    )
    answer = qa.ask("How do I reset my password?").answers[0].text
    assert answer == "Use the 'Forgot password' link on the sign-in page."


def test_vectors_of_another_embedding_model_are_not_compared(tmp_path, faq_yaml):
    """An FAQ stored by another model's vectors (here: random ones) is re-embedded, not trusted."""
    from pipelines.api import DocQA

    index = DocumentIndex(tmp_path / "index")
    FaqStore(index).replace(read_faq_file(faq_yaml), fake_embed_factory([]), "some-other-model")
    qa = DocQA(tmp_path / "index", reader_model=str(tmp_path / "no-reader"))
    result = qa.ask("I forgot my password, how can I get a new one?")
    assert result.from_faq and result.faq.entry.question == "How do I reset my password?"


def test_invalid_questions_are_refused_before_any_work(tmp_path):
    from pipelines.api import DocQA

    qa = DocQA(tmp_path / "index")
    with pytest.raises(ValueError, match="must not be empty"):
        qa.ask("   ")
    with pytest.raises(ValueError, match="at least 1"):
        qa.ask("Why?", top_k=0)
