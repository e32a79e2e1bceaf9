"""scripts/make_unanswerable_data.py: the made SQuAD 2.0-style questions the compact reader v3 learned
"no answer" from. What matters to a user of the reader: each made question really differs from its
answerable original by the edit it names, sits on that original's paragraph beside it, and no dev or
test article leaks into training."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from scripts.make_unanswerable_data import (
    delete_answer_sentence,
    make,
    negate,
    swap_antonym,
    swap_entity,
    swap_number,
)

ARTICLE = ("Harvard College is in Massachusetts, older than Yale College. Students of Yale College and "
           "of Harvard College compete. Harvard College was founded in 1636 and Yale College in 1701.")


def test_each_edit_changes_what_the_question_asks() -> None:
    rng = random.Random(0)
    assert negate("When was the Duchy of Normandy founded?") == "When wasn't the Duchy of Normandy founded?"
    assert negate("Do they have a twitter?") is None  # no wh-word first: "Do they haven't" is not asked
    assert swap_antonym("What is the largest city?", rng) == "What is the smallest city?"
    assert swap_number("Who was founded in 1636?", ARTICLE, rng) == "Who was founded in 1701?"
    assert (swap_entity("In what state is Harvard College located?", ARTICLE, rng)
            == "In what state is Yale College located?")
    assert swap_entity("In what state is it located?", ARTICLE, rng) is None


def test_deleting_the_answer_sentence_removes_the_whole_sentence_and_nothing_else() -> None:
    context = ("St. Mary's College was founded by Dr. Smith in 1901. It stands by the river. "
               "Its library opened in 1910.")
    shortened = delete_answer_sentence(context, {"text": "1901"})
    assert shortened == "It stands by the river. Its library opened in 1910."  # no "St." or "Dr." left over
    assert delete_answer_sentence(context, {"text": "Oxford"}) is None  # nothing to delete
    assert delete_answer_sentence("Only one sentence here, in 1901.", {"text": "1901"}) is None


def _squad(title: str, context: str, qas: list[dict]) -> dict:
    return {"title": title, "paragraphs": [{"context": context, "qas": qas}]}


def test_made_questions_sit_beside_their_answerable_originals_and_no_held_out_article_is_used(
        tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    train = [_squad(f"T{i}", ARTICLE, [
        {"id": f"q{i}a", "question": "In what year was Harvard College founded?",
         "answers": [{"text": "1636", "answer_start": ARTICLE.index("1636")}]},
        {"id": f"q{i}b", "question": "What is the largest school in Massachusetts?",
         "answers": [{"text": "Harvard College", "answer_start": 0}]},
    ]) for i in range(6)]
    with gzip.open(shared / "qa-train-squad11-shifts.json.gz", "wt", encoding="utf-8") as fh:
        json.dump({"data": train}, fh)
    public = [_squad(t, "Some text.", [{"id": t, "question": "Why?", "answers": [], "is_impossible": True}])
              for t in ("European_Union_law", "Scottish_Parliament", "Islamism", "French_and_Indian_War",
                        "Harvard_University", "Force", "Normans", "Steam_engine")]
    (shared / "squad2-dev-public.json").write_text(json.dumps({"data": public}), encoding="utf-8")

    make(tmp_path / "out", shared, questions=6, replay=1, deletions=1, seed=1)
    data = json.loads((tmp_path / "out" / "train-continue.json").read_text(encoding="utf-8"))["data"]
    titles = {a["title"] for a in data}
    assert not titles & {"Harvard_University", "Force", "Normans", "Steam_engine"}
    assert "European_Union_law" in titles
    made = 0
    for paragraph in data[0]["paragraphs"]:
        by_id = {q["id"]: q for q in paragraph["qas"]}
        for q in paragraph["qas"]:
            if q.get("is_impossible"):
                original = by_id[q["id"].rsplit("-", 1)[0]]
                assert original["answers"] and original["question"] != q["question"]
                made += 1
    assert made >= 4
    deleted = data[1]["paragraphs"]
    assert deleted and all("1636" not in p["context"] for p in deleted
                           if p["qas"][0]["question"].startswith("In what year"))
