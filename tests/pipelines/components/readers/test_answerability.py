""""Not found in your documents": the answerability model fits, ships in the reader's directory, loads,
and turns confident off-corpus answers into unsure candidates; the reader reads a shipped τ."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from haystack import Document
from haystack.dataclasses import ExtractedAnswer

from docqa.errors import ConfigError
from docqa.pipelines.components.readers.answerability import (
    ANSWERABILITY_FILE,
    FEATURES,
    RERANK_ANSWERABILITY_FILE,
    RERANK_FEATURES,
    AnswerabilityJudge,
    AnswerabilityModel,
    answerability_features,
    coverage,
    fit_logistic,
)

STEAM = Document(id="steam", meta={"dense_score": 0.71},
                 content="James Watt improved the steam engine with a separate condenser in 1776.")
PHONE_QUESTION = "Who invented the telephone?"


def answer(doc: Document, text: str, null_score_diff: float) -> ExtractedAnswer:
    start = (doc.content or "").index(text)
    return ExtractedAnswer(query="q", score=0.8, data=text, document=doc,
                           document_offset=ExtractedAnswer.Span(start, start + len(text)),
                           meta={"null_score_diff": null_score_diff, "unsure": False})


def test_features_read_the_question_words_the_passages_hold_and_the_readers_margin():
    features = answerability_features("Who improved the steam engine?", [STEAM],
                                      [answer(STEAM, "James Watt", -6.0)])
    assert features["coverage_top"] == features["coverage_answer"] == 1.0  # improv, steam, engin
    assert features["dense_top"] == features["dense_answer"] == pytest.approx(0.71)
    assert features["margin"] == 6.0
    off = answerability_features(PHONE_QUESTION, [STEAM], [answer(STEAM, "James Watt", -6.0)])
    assert off["coverage_top"] == 0.0  # neither "invent" nor "telephon" is in the passage
    assert coverage(set(), "anything") == 1.0


def test_logistic_fit_separates_answerable_from_off_corpus_rows():
    rng = random.Random(0)
    rows, labels = [], []
    for i in range(400):
        label = i % 2
        rows.append({"margin": rng.gauss(4 if label else -1, 2),
                     "dense_top": rng.gauss(0.6 if label else 0.3, 0.1),
                     "dense_answer": rng.gauss(0.55 if label else 0.25, 0.1),
                     "coverage_top": rng.gauss(0.8 if label else 0.3, 0.15), "coverage_answer": rng.random()})
        labels.append(label)
    weights, bias, means, scales = fit_logistic(rows, labels)
    model = AnswerabilityModel(weights, bias, means, scales, threshold=0.5)
    right = sum((model.probability(r) >= 0.5) == bool(y) for r, y in zip(rows, labels, strict=True))
    assert right / len(rows) > 0.9
    assert weights[FEATURES.index("margin")] > 0 and weights[FEATURES.index("coverage_top")] > 0


def shipped(tmp_path, threshold: float = 0.5):
    """A model that trusts only question-word coverage (weight 4 on coverage_top, centred at 0.5)."""
    weights = [4.0 if name == "coverage_top" else 0.0 for name in FEATURES]
    model = AnswerabilityModel(weights, 0.0, [0.5] * len(FEATURES), [1.0] * len(FEATURES), threshold)
    model.save(tmp_path)
    return tmp_path


def test_the_judge_turns_an_off_corpus_answer_into_unsure_candidates(tmp_path):
    judge = AnswerabilityJudge(model_dir=shipped(tmp_path))
    out = judge.run(query=PHONE_QUESTION, documents=[STEAM], answers=[answer(STEAM, "James Watt", -6.0)],
                    no_answer=False)
    assert out["no_answer"] is True
    assert out["answers"][0].data == "James Watt" and out["answers"][0].meta["unsure"] is True
    assert out["answerability"]["not_in_documents"] is True
    assert out["answerability"]["probability"] < out["answerability"]["threshold"]

    kept = judge.run(query="Who improved the steam engine?", documents=[STEAM],
                     answers=[answer(STEAM, "James Watt", -6.0)], no_answer=False)
    assert kept["no_answer"] is False and kept["answers"][0].meta["unsure"] is False
    same = AnswerabilityJudge.from_dict(judge.to_dict())
    assert same.model is not None and same.model.threshold == 0.5


def test_without_a_shipped_model_the_readers_decision_passes_through(tmp_path):
    out = AnswerabilityJudge(model_dir=tmp_path).run(
        query=PHONE_QUESTION, documents=[STEAM], answers=[answer(STEAM, "James Watt", -6.0)], no_answer=False)
    assert out["no_answer"] is False and out["answerability"] == {}


def test_reranked_passages_are_judged_by_the_model_fitted_with_the_rerankers_score(tmp_path):
    """The steam passage covers the question's words (the five-feature model says "in the documents"),
    but the cross-encoder scored it −6: the reranked model, which trusts that score, says "not found"."""
    shipped(tmp_path)
    weights = [4.0 if name == "rerank_top" else 0.0 for name in RERANK_FEATURES]
    AnswerabilityModel(weights, 0.0, [0.0] * len(RERANK_FEATURES), [1.0] * len(RERANK_FEATURES), 0.5,
                       features=RERANK_FEATURES).save(tmp_path)
    assert (tmp_path / RERANK_ANSWERABILITY_FILE).exists() and (tmp_path / ANSWERABILITY_FILE).exists()
    judge = AnswerabilityJudge(model_dir=tmp_path)
    question, found = "Who improved the steam engine?", answer(STEAM, "James Watt", -6.0)
    plain = judge.run(query=question, documents=[STEAM], answers=[found], no_answer=False)
    assert plain["no_answer"] is False and "rerank_top" not in plain["answerability"]["features"]
    reranked_doc = Document(id="steam", content=STEAM.content, meta={**STEAM.meta, "rerank_score": -6.0})
    reranked = judge.run(query=question, documents=[reranked_doc], answers=[answer(reranked_doc, "James Watt",
                                                                                   -6.0)], no_answer=False)
    assert reranked["answerability"]["features"]["rerank_top"] == -6.0
    assert reranked["no_answer"] is True and reranked["answers"][0].meta["unsure"] is True
    # a reader that ships no reranked model judges reranked passages with the five-feature one
    (tmp_path / RERANK_ANSWERABILITY_FILE).unlink()
    fallback = AnswerabilityJudge(model_dir=tmp_path).run(query=question, documents=[reranked_doc],
                                                          answers=[answer(reranked_doc, "James Watt", -6.0)],
                                                          no_answer=False)
    assert fallback["no_answer"] is False


def test_a_reranked_model_file_with_other_features_is_named_in_the_error(tmp_path):
    shipped(tmp_path)
    (tmp_path / RERANK_ANSWERABILITY_FILE).write_text(
        json.dumps({"features": list(FEATURES), "weights": [0.0] * 5, "bias": 0.0, "means": [0.0] * 5,
                    "scales": [1.0] * 5, "threshold": 0.5}), encoding="utf-8")
    with pytest.raises(ConfigError, match=RERANK_ANSWERABILITY_FILE):
        AnswerabilityJudge(model_dir=tmp_path).warm_up()


def test_a_broken_model_file_is_named_in_the_error(tmp_path):
    (tmp_path / ANSWERABILITY_FILE).write_text('{"features": ["margin"]}', encoding="utf-8")
    with pytest.raises(ConfigError, match=ANSWERABILITY_FILE):
        AnswerabilityJudge(model_dir=tmp_path).warm_up()


def test_the_reader_uses_the_shipped_tau_unless_the_user_calibrated_one(tmp_path, tiny_qa_model_dir,
                                                                        monkeypatch):
    from docqa.pipelines.components.readers.calibration import save_reader_calibration
    from docqa.pipelines.components.readers.reader import DocQAReader

    model_dir = tmp_path / "reader"
    shutil.copytree(tiny_qa_model_dir, model_dir)
    (model_dir / "calibration.json").write_text(json.dumps({"no_answer_threshold": -2.5}), encoding="utf-8")
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "config.json"))
    reader = DocQAReader(str(model_dir), backend="torch")
    reader.warm_up()
    assert reader.threshold() == -2.5
    save_reader_calibration(str(model_dir), "torch", 1.25, calibrated_on="mine.json", f1=50.0)
    again = DocQAReader(str(model_dir), backend="torch")
    again.warm_up()
    assert again.threshold() == 1.25
    assert again.threshold(0.0) == 0.0


def test_summaries_count_off_corpus_answers_and_the_in_corpus_cost(tmp_path):
    from docqa.pipelines.evaluation.answerability_eval import decisions, summarise

    def row(origin, answerable, coverage_top, f1):
        return {"origin": origin, "answerable": answerable, "reader_no_answer": False, "forced": "x",
                "f1_if_answered": f1, "f1_silent": 0.0 if answerable else 1.0, "margin": 0.0,
                "dense_top": 0.0, "dense_answer": 0.0, "coverage_top": coverage_top, "coverage_answer": 0.0}

    rows = [row("in", True, 1.0, 1.0), row("in", True, 0.0, 0.0), row("off", False, 0.0, 0.0),
            row("off", False, 1.0, 0.0)]
    model = AnswerabilityModel.load(shipped(tmp_path))
    plain = summarise(rows, decisions(rows, None))
    judged = summarise(rows, decisions(rows, model))
    assert plain["off_corpus_answered_rate"] == 1.0 and judged["off_corpus_answered_rate"] == 0.5
    # only the wrong in-corpus answer was withheld: HasAns F1 unchanged
    assert judged["in_corpus_HasAns_f1"] == plain["in_corpus_HasAns_f1"] == 50.0
    assert judged["in_corpus_HasAns_f1_answer_all"] == 50.0
