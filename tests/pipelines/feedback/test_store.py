"""The feedback store: records survive crashes and concurrent writers, and bad feedback names its field."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from haystack import Document

from docqa.errors import InvalidInputError, StorageError
from docqa.pipelines.feedback.limits import MAX_COMMENT_CHARS, MAX_QUESTION_CHARS, VERDICTS
from docqa.pipelines.feedback.store import (
    FEEDBACK_FILE,
    FeedbackFieldError,
    FeedbackRecord,
    FeedbackStore,
    FeedbackVerdict,
    build_record,
)
from tests.feedback_fixtures import ENGINE, NORMANS, open_docqa, write_index

PASSAGE = Document(
    id="p1", content=NORMANS, meta={"file": "/docs/normans.txt", "title": "normans", "page": 2}
)
ROLLO = NORMANS.index("Rollo")


def record(question: str = "Who led the Norse?", **kwargs) -> FeedbackRecord:
    kwargs.setdefault("verdict", "correct")
    kwargs.setdefault("answer_start", ROLLO)
    kwargs.setdefault("answer_end", ROLLO + 5)
    return build_record(question, PASSAGE, **kwargs)


# ----- validation -----
def test_a_correct_answer_keeps_the_passage_span_file_and_page() -> None:
    r = record(comment="  thanks  ")
    assert (r.answer, r.answer_start, r.answer_end) == ("Rollo", ROLLO, ROLLO + 5)
    assert r.passage == NORMANS and r.file == "/docs/normans.txt" and r.page == 2
    assert r.verdict is FeedbackVerdict.CORRECT and r.comment == "thanks" and len(r.id) == 32


def test_typed_answer_is_located_in_the_passage_and_selection_whitespace_is_trimmed() -> None:
    typed = build_record("Which region?", PASSAGE, "wrong", correct_answer="normandy")
    assert typed.answer == "Normandy" and NORMANS[typed.answer_start : typed.answer_end] == "Normandy"
    selected = record(answer_start=ROLLO - 1, answer_end=ROLLO + 6)  # " Rollo," from a mouse selection
    assert (selected.answer, selected.answer_start, selected.answer_end) == ("Rollo,", ROLLO, ROLLO + 6)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"answer_start": ROLLO, "answer_end": 10_000}, "answer_end", "past the end of the passage"),
        ({"answer_start": -1, "answer_end": 3}, "answer_start", "outside the passage"),
        ({"answer_start": 10, "answer_end": 10}, "answer_end", "greater than answer_start"),
        ({"answer_start": 10, "answer_end": None}, "answer_end", "together"),
        ({"answer_start": None, "answer_end": None}, "answer_start", "a correct answer needs its span"),
        ({"answer_start": None, "answer_end": None, "correct_answer": "Napoleon"}, "correct_answer",
         "is not in the passage"),
        ({"correct_answer": "Charles"}, "correct_answer", "is not the text at answer_start"),
        ({"verdict": "not_in_documents"}, "answer_start", "takes no answer span"),
        ({"verdict": "maybe"}, "verdict", "choose one of: correct, wrong, not_in_documents"),
        ({"comment": "x" * (MAX_COMMENT_CHARS + 1)}, "comment", f"at most {MAX_COMMENT_CHARS}"),
    ],
)
def test_unusable_feedback_names_its_field(kwargs, field, words) -> None:
    with pytest.raises(FeedbackFieldError) as caught:
        record(**kwargs)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ") and words in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)


@pytest.mark.parametrize("question", ["", "   ", "q" * (MAX_QUESTION_CHARS + 1)])
def test_empty_or_too_long_question_is_refused(question: str) -> None:
    with pytest.raises(FeedbackFieldError, match="^question: "):
        record(question)


def test_wrong_without_a_correction_and_not_in_documents_store_no_span() -> None:
    wrong = build_record("Who led the Norse?", PASSAGE, "wrong")
    missing = build_record("Who built the pyramids?", PASSAGE, FeedbackVerdict.NOT_IN_DOCUMENTS)
    assert wrong.answer is None and wrong.answer_start is None
    assert missing.answer is None and missing.verdict.value == "not_in_documents"


def test_verdict_names_match_the_schema_and_parse_loosely() -> None:
    assert tuple(v.value for v in FeedbackVerdict) == VERDICTS
    assert FeedbackVerdict.from_str(" Not-In-Documents ") is FeedbackVerdict.NOT_IN_DOCUMENTS


# ----- the file -----
def test_records_round_trip_in_order(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path)
    first, second = store.append(record("one?")), store.append(record("two?", verdict="wrong"))
    assert store.records() == [first, second]
    page = store.page(offset=1, limit=1)
    assert page.total == 2 and page.records == [second]


def test_a_torn_last_line_is_ignored_and_the_next_append_is_intact(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path)
    kept = store.append(record("kept?"))
    with open(tmp_path / FEEDBACK_FILE, "ab") as handle:  # a crash in the middle of writing a record
        handle.write(b'{"format": 1, "id": "torn", "question": "half a rec')
    assert store.records() == [kept]
    later = store.append(record("later?"))
    assert store.records() == [kept, later]
    lines = (tmp_path / FEEDBACK_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(json.loads(line)["id"] in (kept.id, later.id) for line in lines)


def test_a_file_that_is_only_a_torn_record_is_empty(tmp_path: Path) -> None:
    (tmp_path / FEEDBACK_FILE).write_bytes(b'{"id": "to')
    store = FeedbackStore(tmp_path)
    assert store.records() == []
    appended = store.append(record())
    assert store.records() == [appended]
    assert (tmp_path / FEEDBACK_FILE).read_bytes().startswith(b'{"format": 1')


def test_an_edited_broken_line_is_reported_by_number(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path)
    store.append(record())
    with open(tmp_path / FEEDBACK_FILE, "ab") as handle:
        handle.write(b"not json\n")
    store.append(record("after?"))
    with pytest.raises(StorageError, match="line 2 is not a feedback record"):
        store.records()


def test_concurrent_appends_from_threads_do_not_interleave(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path)
    long_comment = "c" * 1500  # records of ~2 KB: a torn or interleaved write would break a line
    errors: list[BaseException] = []

    def give(worker: int) -> None:
        try:
            for n in range(25):
                FeedbackStore(tmp_path).append(record(f"question {worker}-{n}?", comment=long_comment))
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=give, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    records = store.records()
    assert len(records) == 200 and len({r.id for r in records}) == 200
    assert {r.question for r in records} == {f"question {w}-{n}?" for w in range(8) for n in range(25)}


# ----- through DocQA: the passage comes from the index -----
def test_feedback_copies_the_passage_and_survives_deleting_its_document(tmp_path: Path) -> None:
    ids = write_index(tmp_path / "index")
    qa = open_docqa(tmp_path / "index")
    stored = qa.feedback("Who improved the engine?", ids[ENGINE], "wrong", correct_answer="James Watt")
    assert stored.answer == "James Watt" and stored.passage == ENGINE and stored.file == "/docs/steam.md"
    assert stored.reader == "compact"
    qa.delete("/docs/steam.md")
    again = open_docqa(tmp_path / "index").feedback_records()
    assert again.total == 1 and again.records[0] == stored
    with pytest.raises(FeedbackFieldError, match="^passage_id: no passage .* re-ingested or deleted"):
        qa.feedback("Who improved the engine?", ids[ENGINE], "not_in_documents")
    with pytest.raises(FeedbackFieldError, match="^limit: "):
        qa.feedback_records(limit=0)


# Each child appends records built here (with a real passage) and handed over as JSON: the child imports
# only the feedback store, not haystack (importing haystack loads torch: ~6 s per child on a busy machine).
APPENDER = """
import json, sys
from docqa.pipelines.feedback.store import FeedbackRecord, FeedbackStore
store = FeedbackStore(sys.argv[1])
for data in json.loads(open(sys.argv[2], encoding="utf-8").read()):
    store.append(FeedbackRecord.from_dict(data))
"""


def test_appends_from_several_processes_are_all_kept_whole(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    passage = Document(id="p1", content="Rollo led the Norse raiders who settled in Normandy.")
    batches = []
    for w in range(3):
        batch = tmp_path / f"batch{w}.json"
        records = [build_record(f"process {w} question {n}?", passage, "wrong", comment="x" * 1900).to_dict()
                   for n in range(20)]
        batch.write_text(json.dumps(records), encoding="utf-8")
        batches.append(batch)
    store_dir = tmp_path / "store"
    workers = [subprocess.Popen([sys.executable, "-c", APPENDER, str(store_dir), str(batch)], cwd=REPO)
               for batch in batches]
    assert all(worker.wait(timeout=120) == 0 for worker in workers)
    records = FeedbackStore(store_dir).records()
    assert sorted(r.question for r in records) == sorted(
        f"process {w} question {n}?" for w in range(3) for n in range(20)
    )
