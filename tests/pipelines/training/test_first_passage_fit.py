"""scripts/fit_first_passage_stop.py: how the one-passage checkpoint of adaptive reading was chosen. What
matters: the script's replay of reading gives what the reader really answers with each rule, and the fit
takes the gap that reads least without changing more results than allowed."""

from __future__ import annotations

import json

import pytest
from haystack import Document

from docqa.pipelines.components.readers.adaptive import BASE_RULE, AdaptiveRule
from docqa.pipelines.components.readers.reader import DocQAReader
from docqa.resources import data_path
from scripts.fit_first_passage_stop import apply, fit, fit_lead, observe, rerank_lead

NORMANS = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
           "a region in France. They were descended from Norse raiders and pirates from Denmark, Iceland "
           "and Norway who, under their leader Rollo, agreed to swear fealty to King Charles III.")


def _row(gap: float, changed: bool) -> dict:
    return {"gap1": gap, "changed": changed, "f1_first": 0.0 if changed else 1.0, "f1_shipped": 1.0,
            "cost_first": 0.2, "cost_shipped": 0.4, "reranked": False, "margin1": 0.0}


def test_the_fit_reads_least_within_the_tolerance() -> None:
    # 100 questions a mode: gaps 0.00..0.99; stopping changes the result only below a gap of 0.6
    rows = [_row(i / 100, i < 60) for i in range(100)]
    data = {"rerank": rows, "plain": rows}
    assert fit(data, tolerance=0.0) == 0.6
    assert fit(data, tolerance=0.05) == 0.55  # 5 of each 100 changed are allowed
    at = apply(rows, 0.6)
    assert at["stopped_at_1"] == 0.4 and at["changed"] == 0.0 and at["f1"] == at["f1_shipped"] == 100.0
    assert at["cost"] < at["cost_shipped"]
    assert fit({"rerank": [_row(0.9, True)] * 10, "plain": []}, tolerance=0.0) == float("inf")


def test_the_rerankers_lead_is_fitted_on_the_reranked_questions_within_the_tolerance() -> None:
    # 100 reranked questions: leads 0.0 .. 9.9 logits; stopping at one passage changes the result below 4.0
    reranked = [{**_row(0.1, i < 40), "reranked": True, "rerank_logits": [i / 10, 0.0, -1.0]}
                for i in range(100)]
    rows = {"rerank": reranked + [_row(0.1, True)] * 50, "plain": [_row(0.1, True)] * 50}
    assert rerank_lead(reranked[57]) == pytest.approx(5.7) and rerank_lead(_row(0.1, False)) is None
    assert fit_lead(rows, gap=0.75, tolerance=0.0) == 4.0
    assert fit_lead(rows, gap=0.75, tolerance=0.05) == 3.5  # 5 of the 100 reranked may change
    at = apply(reranked, 0.75, lead=4.0)
    assert at["stopped_at_1"] == 0.6 and at["changed"] == 0.0 and at["cost"] < at["cost_shipped"]
    assert apply(rows["plain"], 0.75, lead=0.0)["stopped_at_1"] == 0.0  # never reranked: no lead


def test_the_replay_gives_what_the_reader_answers(test_reader_dir) -> None:
    reader = DocQAReader(str(test_reader_dir), backend="onnx-fp32", no_answer_threshold=0.0)
    reader.warm_up()
    pairs = json.loads(data_path("reader-calibration.json").read_text(encoding="utf-8"))["pairs"]
    docs = [Document(content=NORMANS, id="normans", score=12.0)] + [
        Document(content=p["context"], id=f"other{i}", score=s) for i, (p, s) in
        enumerate(zip(pairs, [6.0, 5.0, 4.0, 3.0], strict=False))]
    question, golds = "When were the Normans in Normandy?", ["10th and 11th centuries"]
    row = observe(reader, question, golds, docs)
    reader.adaptive_rule = BASE_RULE  # this reader is the test's own: no need to put the rule back
    shipped = reader.run(question, docs, adaptive=True)
    reader.adaptive_rule = AdaptiveRule((1, 2), (float("inf"), float("inf")), (0.0, 0.0))  # always at 1
    first = reader.run(question, docs, adaptive=True)
    assert first["passages_read"] == 1 and row["shipped_read"] == shipped["passages_read"]
    assert row["gap1"] == (12.0 - 6.0) / (12.0 - 3.0)
    assert not row["changed"] and first["answers"][0].data == shipped["answers"][0].data
    assert row["f1_first"] == row["f1_shipped"] == 1.0 and row["cost_first"] < row["cost_shipped"]
