"""``/feedback`` as a client uses it: give feedback on an /ask answer, list it, and get 422s naming fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.app.server.app import create_app
from docqa.pipelines.feedback.export import export_feedback
from docqa.pipelines.feedback.limits import MAX_COMMENT_CHARS, MAX_QUESTION_CHARS
from docqa.pipelines.feedback.store import FeedbackStore
from tests.app.service_client import service_client
from tests.feedback_fixtures import ENGINE, NORMANS, open_docqa, write_index

ROLLO = NORMANS.index("Rollo")


@pytest.fixture
def served(tmp_path: Path):
    ids = write_index(tmp_path / "index")
    client = service_client(create_app(open_docqa(tmp_path / "index"), api_key="", warm_up=False))
    return client, ids, tmp_path / "index"


def body(passage_id: str, **fields) -> dict:
    return {"question": "Who led the Norse?", "passage_id": passage_id, "verdict": "correct",
            "answer_start": ROLLO, "answer_end": ROLLO + 5, **fields}


def test_feedback_is_stored_returned_and_listed(served) -> None:
    client, ids, index = served
    created = client.post("/feedback", json=body(ids[NORMANS], comment="spot on"))
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["answer"] == "Rollo" and record["passage"] == NORMANS
    assert record["file"] == "/docs/normans.txt"
    assert record["verdict"] == "correct" and record["comment"] == "spot on" and record["page"] == 1
    correction = {"question": "Who built the first engine?", "passage_id": ids[ENGINE], "verdict": "wrong",
                  "correct_answer": "Thomas Newcomen"}
    wrong = client.post("/feedback", json=correction)
    assert wrong.status_code == 201 and wrong.json()["answer_start"] == 0
    listed = client.get("/feedback", params={"offset": 1, "limit": 1}).json()
    assert listed["total"] == 2 and [r["id"] for r in listed["records"]] == [wrong.json()["id"]]
    assert [r.id for r in FeedbackStore(index).records()] == [record["id"], wrong.json()["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"answer_end": len(NORMANS) + 1}, "answer_end"),
        ({"answer_start": 50, "answer_end": 40}, "answer_end"),
        ({"passage_id": "no-such-passage"}, "passage_id"),
        ({"verdict": "not_in_documents"}, "answer_start"),
        ({"answer_start": None, "answer_end": None}, "answer_start"),
        ({"correct_answer": "Napoleon", "answer_start": None, "answer_end": None}, "correct_answer"),
        ({"question": ""}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "q" * (MAX_QUESTION_CHARS + 1)}, "question"),
        ({"comment": "c" * (MAX_COMMENT_CHARS + 1)}, "comment"),
        ({"verdict": "perhaps"}, "verdict"),
        ({"answer_start": -3}, "answer_start"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_feedback_is_a_422_naming_the_field_and_stores_nothing(served, change, field) -> None:
    client, ids, index = served
    response = client.post("/feedback", json=body(ids[NORMANS]) | change)
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["detail"]] == [field]
    assert FeedbackStore(index).records() == []


def test_paging_parameters_are_checked(served) -> None:
    client, _, _ = served
    assert client.get("/feedback", params={"limit": 0}).status_code == 422
    assert client.get("/feedback", params={"offset": -1}).status_code == 422
    assert client.get("/feedback").json() == {"total": 0, "offset": 0, "limit": 50, "records": []}


def test_feedback_needs_the_api_key_like_every_endpoint(tmp_path: Path) -> None:
    ids = write_index(tmp_path / "index")
    client = service_client(create_app(open_docqa(tmp_path / "index"), api_key="s3cret", warm_up=False))
    assert client.post("/feedback", json=body(ids[NORMANS])).status_code == 401
    assert client.get("/feedback", headers={"X-API-Key": "wrong"}).status_code == 401
    keyed = client.post("/feedback", json=body(ids[NORMANS]), headers={"X-API-Key": "s3cret"})
    assert keyed.status_code == 201
    assert client.get("/feedback", headers={"X-API-Key": "s3cret"}).json()["total"] == 1


def test_offsets_from_an_ask_answer_mark_that_answer_in_the_export(tmp_path: Path, tiny_qa_model_dir) -> None:
    """The loop a page runs: /ask, then 'correct' with the answer's own passage offsets."""
    from docqa.pipelines.api import DocQA

    write_index(tmp_path / "index")
    qa = DocQA(tmp_path / "index", reader_model=str(tiny_qa_model_dir), reader_fallback=False)
    client = service_client(create_app(qa, api_key="", warm_up=False))
    asked = client.post("/ask", json={"question": "Who led the Norse raiders?", "top_k": 2})
    assert asked.status_code == 200, asked.text
    answer = asked.json()["answers"][0]
    source = answer["sources"][0]
    sent = {"question": "Who led the Norse raiders?", "passage_id": source["document_id"],
            "verdict": "correct", "answer_start": source["passage_start"],
            "answer_end": source["passage_end"]}
    stored = client.post("/feedback", json=sent)
    assert stored.status_code == 201, stored.text
    assert stored.json()["answer"].strip() == answer["text"].strip()
    assert stored.json()["reader"] == str(tiny_qa_model_dir)
    squad = export_feedback(FeedbackStore(tmp_path / "index").records()).train
    (qa_item,) = [q for a in squad["data"] for p in a["paragraphs"] for q in p["qas"]]
    (gold,) = qa_item["answers"]
    context = next(p["context"] for a in squad["data"] for p in a["paragraphs"])
    assert context[gold["answer_start"] : gold["answer_start"] + len(gold["text"])] == gold["text"]
