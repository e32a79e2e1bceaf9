"""Adaptive reading stops early only with the answer in hand, gives the answer full reading gives, and
says how many passages it read."""

from __future__ import annotations

import json

import pytest
from haystack import Document

from docqa.pipelines.components.readers.adaptive import (
    DEFAULT_RULE,
    AdaptiveRule,
    PrefixObservation,
    fit_retrieval_rule,
    fit_rule,
    retrieval_gap,
    simulate,
)
from docqa.pipelines.components.readers.reader import DocQAReader
from docqa.resources import data_path

NORMANS = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
           "a region in France. They were descended from Norse raiders and pirates from Denmark, Iceland "
           "and Norway who, under their leader Rollo, agreed to swear fealty to King Charles III.")


def test_batches_follow_the_checkpoints():
    rule = AdaptiveRule((2, 4, 6), (1.0, 1.0, 1.0))
    assert rule.batches(10) == [(0, 2), (2, 4), (4, 6), (6, 10)]
    assert rule.batches(5) == [(0, 2), (2, 4), (4, 5)]
    assert rule.should_stop(2, 1.5) and not rule.should_stop(2, 0.5) and not rule.should_stop(3, 9.0)
    assert not rule.should_stop(2, float("-inf"))
    with pytest.raises(ValueError):
        AdaptiveRule((4, 2), (1.0, 1.0))


def test_fit_keeps_changed_results_within_tolerance():
    # 100 questions: margins 0..9.9 at the first checkpoint; the answer changes only below margin 3
    observations = [PrefixObservation([i / 10, 9.0], [i < 30, False]) for i in range(100)]
    rule = fit_rule(observations, (2, 4), tolerance=0.0)
    assert rule.margins[0] == 3.0  # the smallest margin with no changed result at or above it
    assert fit_rule(observations, (2, 4), tolerance=0.02).margins[0] == 2.8  # 2 changed allowed
    never = [PrefixObservation([5.0], [True]) for _ in range(10)]
    assert fit_rule(never, (2,), tolerance=0.0).margins[0] == float("inf")


def test_retrieval_gap_is_free_of_the_retrievers_scale():
    bm25 = [12.0, 9.0, 5.0, 4.0, 2.0]
    assert retrieval_gap(bm25, 1) == pytest.approx(0.3) and retrieval_gap(bm25, 3) == pytest.approx(0.8)
    # the same ranking as z-scores (shifted, scaled, negative) gives the same gaps
    assert retrieval_gap([(x - 7.0) / 3.0 for x in bm25], 3) == pytest.approx(0.8)
    assert retrieval_gap(bm25, 5) is None  # nothing left to read
    assert retrieval_gap([1.0, None, 0.5], 1) is None and retrieval_gap([2.0, 2.0, 2.0], 1) is None


def test_weak_passages_left_stop_reading_even_without_a_clear_answer():
    rule = AdaptiveRule((2, 4), (1.0, 1.0), (0.75, 0.9))
    steep = [10.0, 9.0, 3.0, 2.5, 2.0, 1.0]  # the 3rd passage is 0.78 of the way down
    flat = [10.0, 9.8, 9.6, 9.4, 9.2, 9.0]
    assert rule.should_stop(2, float("-inf"), steep)  # nothing answered, but what is left is weak
    assert not rule.should_stop(2, float("-inf"), flat) and not rule.should_stop(2, 0.5, None)
    assert rule.should_stop(2, 1.5, flat)  # a clear answer still stops on its own
    assert not rule.should_stop(4, 0.5, steep)  # 0.89 < 0.9 at the second checkpoint
    deep = AdaptiveRule((2, 4), (1.0, 1.0), (0.75, 0.9), (6, 0))
    assert deep.should_stop(2, float("-inf"), steep) and not deep.should_stop(2, float("-inf"), steep[:5])


def test_fitting_with_retrieval_gaps_reads_less_within_the_tolerance():
    # 100 questions: the first 60 have a steep retrieval gap (0.9) and an unchanged result at the first
    # checkpoint; the rest have a flat one (0.2) and stopping would change 30 of them
    obs = [PrefixObservation([0.0, 0.0], [False, False], [0.9, 0.9], [0.3, 0.6]) for _ in range(60)] + [
        PrefixObservation([0.0, 0.0], [i < 30, False], [0.2, 0.2], [0.3, 0.6]) for i in range(40)]
    rule = fit_retrieval_rule(obs, (2, 4), tolerance=0.0)
    changed, cost = simulate(rule, obs)
    assert changed == 0.0
    assert rule.retrieval_gaps is not None and 0.2 < rule.retrieval_gaps[0] <= 0.9
    assert cost == pytest.approx((60 * 0.3 + 40 * 0.6) / 100)  # the flat ones all stop at the 2nd


@pytest.fixture(scope="module")
def reader(test_reader_dir):
    reader = DocQAReader(str(test_reader_dir), backend="onnx-fp32", no_answer_threshold=0.0)
    reader.warm_up()
    return reader


@pytest.fixture(scope="module")
def passages():
    """The answer's passage first (as retrieval ranks it), then nine passages on other subjects, with
    retrieval scores that fall off steeply after the second (as for a question one passage matches)."""
    pairs = json.loads(data_path("reader-calibration.json").read_text(encoding="utf-8"))["pairs"]
    scores = [12.0, 6.0, 4.8, 4.6, 4.4, 4.2, 4.0, 3.8, 3.5, 3.2]
    return [Document(content=NORMANS, id="normans", score=scores[0])] + [
        Document(content=p["context"], id=f"other{i}", score=scores[i + 1]) for i, p in enumerate(pairs[:9])]


def unscored(docs):
    return [Document(content=d.content, id=d.id) for d in docs]


def test_stopping_early_gives_the_full_reading_answer(reader, passages):
    question = "When were the Normans in Normandy?"
    full = reader.run(question, passages, adaptive=False)
    assert full["passages_read"] == 10 and full["answers"][0].data == "10th and 11th centuries"
    reader.adaptive_rule = AdaptiveRule((2, 4, 6), (0.5, 0.5, 0.5))  # best span 0.63 over the null score
    try:
        early = reader.run(question, passages, adaptive=True)
        strict = AdaptiveRule((2, 4, 6), (1.0, 1.0, 1.0))  # ... but not 1.0 over it: read on
        reader.adaptive_rule = strict
        cautious = reader.run(question, passages, adaptive=True)
    finally:
        reader.adaptive_rule = DEFAULT_RULE
    assert early["passages_read"] == 2 and cautious["passages_read"] > 2
    assert early["answers"][0].data == full["answers"][0].data == cautious["answers"][0].data
    assert early["answers"][0].document.id == "normans" and early["no_answer"] is False


def test_the_shipped_rule_stops_when_the_passages_left_are_weak_and_reads_on_otherwise(reader, passages):
    clear = reader.run("When were the Normans in Normandy?", passages, adaptive=True)
    assert clear["passages_read"] == 2 and clear["answers"][0].data == "10th and 11th centuries"
    question = "What is the boiling point of liquid nitrogen?"  # nothing here answers it
    full = reader.run(question, passages, adaptive=False)
    weak_rest = reader.run(question, passages, adaptive=True)
    assert weak_rest["passages_read"] == 2 and weak_rest["no_answer"] == full["no_answer"]
    # without retrieval scores only the reader's margin can stop it, and it has no answer in hand
    unsure = reader.run(question, unscored(passages), adaptive=True)
    assert unsure["passages_read"] == 10 and unsure["no_answer"] == full["no_answer"]


def test_the_shipped_rule_reads_one_passage_only_when_it_stands_far_above_the_rest(reader, passages):
    question = "When were the Normans in Normandy?"
    full = reader.run(question, passages, adaptive=False)
    # the second passage 0.88 of the way down from the first to the last: the first alone is read
    lone = [passages[0]] + [Document(content=d.content, id=d.id, score=s) for d, s in
                            zip(passages[1:], [4.5, 4.4, 4.3, 4.2, 4.1, 4.0, 3.9, 3.8, 3.5], strict=True)]
    alone = reader.run(question, lone, adaptive=True)
    assert alone["passages_read"] == 1 and alone["answers"][0].data == full["answers"][0].data
    assert alone["answers"][0].document.id == "normans"
    # among fewer passages than the gap was fitted on (5), the spread says too little: read on
    assert reader.run(question, lone[:4], adaptive=True)["passages_read"] == 2
    # a second passage close behind (0.68 of the way down) is read too, whatever the reader's margin
    assert reader.run(question, passages, adaptive=True)["passages_read"] == 2
    assert DEFAULT_RULE.checkpoints[0] == 1 and DEFAULT_RULE.margins[0] == float("inf")


def test_adaptive_reading_is_switched_by_the_environment(test_reader_dir, passages, monkeypatch):
    reader = DocQAReader(str(test_reader_dir), backend="onnx-fp32", no_answer_threshold=0.0)
    monkeypatch.delenv("DOCQA_READER_ADAPTIVE", raising=False)
    assert reader.run("When were the Normans in Normandy?", passages)["passages_read"] == 2  # default on
    monkeypatch.setenv("DOCQA_READER_ADAPTIVE", "0")
    assert reader.run("When were the Normans in Normandy?", passages)["passages_read"] == 10
    assert DocQAReader.from_dict(DocQAReader("x", adaptive=False).to_dict()).adaptive is False
