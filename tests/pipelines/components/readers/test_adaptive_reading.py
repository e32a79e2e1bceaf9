"""Adaptive reading stops early only with the answer in hand, gives the answer full reading gives, and
says how many passages it read."""

from __future__ import annotations

import json

import pytest
from haystack import Document

from docqa.resources import data_path
from pipelines.components.readers.adaptive import DEFAULT_RULE, AdaptiveRule, PrefixObservation, fit_rule
from pipelines.components.readers.reader import DocQAReader

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


@pytest.fixture(scope="module")
def reader(test_reader_dir):
    reader = DocQAReader(str(test_reader_dir), backend="onnx-fp32", no_answer_threshold=0.0)
    reader.warm_up()
    return reader


@pytest.fixture(scope="module")
def passages():
    """The answer's passage first (as retrieval ranks it), then nine passages on other subjects."""
    pairs = json.loads(data_path("reader-calibration.json").read_text(encoding="utf-8"))["pairs"]
    return [Document(content=NORMANS, id="normans")] + [
        Document(content=p["context"], id=f"other{i}") for i, p in enumerate(pairs[:9])]


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


def test_the_shipped_rule_stops_on_a_clear_answer_and_reads_on_without_one(reader, passages):
    clear = reader.run("When were the Normans in Normandy?", passages, adaptive=True)
    assert clear["passages_read"] == 2 and clear["answers"][0].data == "10th and 11th centuries"
    # nothing here answers this: the reader must not stop on a guess, so it reads every passage
    unanswerable = reader.run("What is the boiling point of liquid nitrogen?", passages, adaptive=True)
    full = reader.run("What is the boiling point of liquid nitrogen?", passages, adaptive=False)
    assert unanswerable["passages_read"] == 10
    assert unanswerable["no_answer"] == full["no_answer"]


def test_adaptive_reading_is_switched_by_the_environment(test_reader_dir, passages, monkeypatch):
    reader = DocQAReader(str(test_reader_dir), backend="onnx-fp32", no_answer_threshold=0.0)
    monkeypatch.delenv("DOCQA_READER_ADAPTIVE", raising=False)
    assert reader.run("When were the Normans in Normandy?", passages)["passages_read"] == 10  # default off
    monkeypatch.setenv("DOCQA_READER_ADAPTIVE", "1")
    assert reader.run("When were the Normans in Normandy?", passages)["passages_read"] == 2
    assert DocQAReader.from_dict(DocQAReader("x", adaptive=False).to_dict()).adaptive is False
