"""The official SQuAD 2.0 metric definitions, checked on worked examples from evaluate-v2.0.py."""

from __future__ import annotations

import pytest

from docqa.pipelines.evaluation.squad_metrics import (
    compute_exact,
    compute_f1,
    find_best_thresh,
    normalize_answer,
    score_question,
    squad_v2_metrics,
)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Cat sat on a mat.", "cat sat on mat"),
        ("  an   Apple,  the pear!  ", "apple pear"),
        ("Theory of the atom", "theory of atom"),  # "the" only as a whole word
        ("(1066)", "1066"),
        ("", ""),
    ],
)
def test_normalize_answer_lowercases_and_strips_punctuation_articles_whitespace(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match_ignores_case_articles_and_punctuation():
    assert compute_exact("the Normans", "Normans.") == 1
    assert compute_exact("10th century", "10th and 11th centuries") == 0


def test_token_f1_worked_example():
    # gold tokens: cat sat on mat (4); pred tokens: cat on mat (3); overlap 3 → P=1, R=3/4, F1=6/7
    assert compute_f1("the cat sat on the mat", "a cat on the mat") == pytest.approx(6 / 7)
    assert compute_f1("Denmark, Iceland and Norway", "Norway") == pytest.approx(2 * 1 * 0.25 / 1.25)
    assert compute_f1("France", "Paris") == 0.0


def test_unanswerable_scores_one_only_for_empty_prediction():
    assert score_question([], "") == (1, 1.0)
    assert score_question([], "France") == (0, 0.0)
    # gold answers that normalise to nothing count as unanswerable golds
    assert score_question(["the"], "") == (1, 1.0)


def test_max_over_gold_answers():
    golds = ["10th century", "the first half of the 10th century"]
    exact, f1 = score_question(golds, "first half of 10th century")
    assert exact == 1 and f1 == 1.0


def test_aggregate_metrics_split_by_answerability():
    golds = {"a": ["France"], "b": ["Rollo"], "c": [], "d": []}
    preds = {"a": "France", "b": "Charles", "c": "", "d": "Paris"}
    m = squad_v2_metrics(golds, preds)
    assert m["exact"] == pytest.approx(50.0)
    assert m["HasAns_exact"] == pytest.approx(50.0) and m["HasAns_f1"] == pytest.approx(50.0)
    assert m["NoAns_exact"] == pytest.approx(50.0) and m["NoAns_f1"] == pytest.approx(50.0)
    assert m["HasAns_total"] == 2 and m["NoAns_total"] == 2


def test_best_threshold_search_as_official_script():
    # Two answerable (right answer), two unanswerable (model answered something).
    preds = {"a": "France", "b": "Rollo", "c": "x", "d": "y"}
    scores = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.0}
    has = {"a": True, "b": True, "c": False, "d": False}
    na = {"a": 0.1, "b": 0.2, "c": 0.9, "d": 0.8}
    best, thresh = find_best_thresh(preds, scores, na, has)
    # answering a and b (na <= 0.2) and abstaining on c, d is perfect
    assert best == pytest.approx(100.0) and thresh == pytest.approx(0.2)
    m = squad_v2_metrics({"a": ["France"], "b": ["Rollo"], "c": [], "d": []}, preds, na_probs=na)
    assert m["best_f1"] == pytest.approx(100.0) and m["best_f1_thresh"] == pytest.approx(0.2)
    assert m["f1"] == pytest.approx(50.0)  # as predicted, without a threshold
