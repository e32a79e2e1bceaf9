"""Span decoding on hand-made logits: valid spans only, null score, ranking, overlaps, merging."""

from __future__ import annotations

import math

import numpy as np
import pytest

from docqa.pipelines.components.readers.qa_windows import Window
from docqa.pipelines.components.readers.span_decoding import decode_windows, remove_overlaps


def make_window(passage_index: int, text: str, question_tokens: int = 2) -> Window:
    """[CLS] q.. [SEP] words of `text` [SEP], offsets at word boundaries."""
    words, pos = [], 0
    for word in text.split(" "):
        words.append((pos, pos + len(word)))
        pos += len(word) + 1
    n = 1 + question_tokens + 1 + len(words) + 1
    offsets = np.zeros((n, 2), dtype=np.int64)
    mask = np.zeros(n, dtype=bool)
    first = question_tokens + 2
    offsets[first : first + len(words)] = words
    mask[first : first + len(words)] = True
    return Window(passage_index, np.arange(n, dtype=np.int64), None, offsets, mask, 0)


def logits_for(window: Window, start: dict[int, float], end: dict[int, float], null=(0.0, 0.0)):
    s = np.full(window.length, -5.0)
    e = np.full(window.length, -5.0)
    s[0], e[0] = null
    first = int(np.flatnonzero(window.context_mask)[0])
    for word, value in start.items():
        s[first + word] = value
    for word, value in end.items():
        e[first + word] = value
    return s, e


TEXT = "Rollo led the Normans to Normandy in 911 ."


def test_best_span_uses_context_tokens_only_and_end_after_start():
    w = make_window(0, TEXT)
    s, e = logits_for(w, {0: 3.0}, {0: 3.0})
    s[1] = e[1] = 50.0  # a question token: never an answer
    e[w.length - 1] = 40.0  # final [SEP]
    decoded = decode_windows([w], [(s, e)], [TEXT])
    assert decoded.answers[0].text == "Rollo"
    # end before start is invalid: a high end logit before the best start is not used
    s2, e2 = logits_for(w, {5: 4.0}, {1: 9.0, 5: 1.0})
    assert decode_windows([w], [(s2, e2)], [TEXT]).answers[0].text == "Normandy"


def test_max_answer_length_limits_span_in_tokens():
    w = make_window(0, TEXT)
    s, e = logits_for(w, {0: 5.0}, {7: 5.0, 1: 2.0})
    assert decode_windows([w], [(s, e)], [TEXT], max_answer_length=None).answers[0].text == TEXT[:-2]
    assert decode_windows([w], [(s, e)], [TEXT], max_answer_length=3).answers[0].text == "Rollo led"


def test_null_score_and_probabilities():
    w = make_window(0, TEXT)
    s, e = logits_for(w, {7: 4.0}, {7: 4.0}, null=(6.0, 5.0))
    decoded = decode_windows([w], [(s, e)], [TEXT])
    assert decoded.null_score == pytest.approx(11.0)
    assert decoded.null_score_diff == pytest.approx(3.0)
    total = decoded.null_probability + sum(a.probability for a in decoded.answers)
    assert 0.0 < decoded.null_probability < 1.0 and total <= 1.0 + 1e-9
    assert decoded.null_probability > decoded.answers[0].probability


def test_null_is_min_over_windows_and_ranking_across_passages():
    texts = ["Paris is big .", "The capital is Paris ."]
    w0, w1 = make_window(0, texts[0]), make_window(1, texts[1])
    l0 = logits_for(w0, {0: 2.0}, {0: 2.0}, null=(5.0, 5.0))
    l1 = logits_for(w1, {3: 6.0, 1: 1.0}, {3: 6.0, 1: 1.0}, null=(1.0, 1.0))
    decoded = decode_windows([w0, w1], [l0, l1], texts)
    assert decoded.null_score == pytest.approx(2.0)
    best = decoded.answers[0]
    assert best.best.passage_index == 1 and (best.best.start_char, best.best.end_char) == (15, 20)
    # the same text in the other passage is merged into the same answer as a second source
    assert [c.passage_index for c in best.sources] == [1, 0]
    probs = [a.probability for a in decoded.answers]
    assert probs == sorted(probs, reverse=True)


def test_overlapping_duplicates_from_overlapping_windows_are_removed():
    w = make_window(0, TEXT)
    s, e = logits_for(w, {3: 5.0, 2: 4.9}, {3: 5.0, 5: 4.0})
    decoded = decode_windows([w, w], [(s, e), (s, e)], [TEXT], top_k=10)
    spans = [(a.best.start_char, a.best.end_char) for a in decoded.answers]
    assert len(spans) == len(set(spans))
    for i, a in enumerate(spans):  # no kept answer overlaps another
        for b in spans[i + 1 :]:
            assert a[1] <= b[0] or b[1] <= a[0]
    assert decoded.answers[0].text == "Normans"


def test_remove_overlaps_keeps_other_passages():
    from docqa.pipelines.components.readers.span_decoding import SpanCandidate

    a = SpanCandidate(0, 0, 1, 2, 0, 10, 1.0, 1.0)
    b = SpanCandidate(0, 0, 1, 1, 0, 5, 0.5, 0.5)
    c = SpanCandidate(1, 1, 1, 1, 0, 5, 0.4, 0.4)
    assert remove_overlaps([a, b, c], 0.01) == [a, c]
    assert remove_overlaps([a, b, c], None) == [a, b, c]


def test_nothing_to_read():
    decoded = decode_windows([], [], [])
    assert decoded.answers == [] and decoded.null_probability == 1.0
    assert math.isinf(decoded.null_score_diff)


def test_answers_never_run_across_a_blank_line():
    # make_window splits on single spaces: "Normans.\n\nIn" is one token, so put the break between tokens.
    text = "Rollo led the Normans \n\n In 911 they settled"
    w = make_window(0, text)
    words = text.split(" ")
    start_word, end_word = words.index("Normans"), words.index("911")
    s, e = logits_for(w, {start_word: 9.0, words.index("In"): 2.0}, {end_word: 9.0, start_word: 1.0})
    decoded = decode_windows([w], [(s, e)], [text], max_answer_length=None)
    assert "\n" not in decoded.answers[0].text
    assert decoded.answers[0].text in {"Normans", "In 911"}


# ---------------------------------------------------------------- sources stay bounded (issue 27)


def test_an_answer_repeated_in_a_passage_is_one_source_at_its_best_occurrence():
    text = " ".join(["Rollo founded Normandy ."] * 30)
    w = make_window(0, text)
    rollo = {4 * i: 5.0 + 0.01 * i for i in range(30)}  # every "Rollo"; the last one scores best
    decoded = decode_windows([w], [logits_for(w, rollo, rollo)], [text], top_k=10)
    top = decoded.answers[0]
    assert top.text == "Rollo"
    assert len(top.sources) == 1 and top.source_count == 1
    assert (top.sources[0].start_char, top.sources[0].end_char) == (top.best.start_char, top.best.end_char)
    assert text[top.best.start_char :].startswith("Rollo") and top.best.start_char == len(text) - 24


def test_sources_are_one_per_passage_best_first_and_capped():
    texts = [f"In 911 Rollo founded it . Rollo {i} ." for i in range(12)]
    windows = [make_window(i, t) for i, t in enumerate(texts)]
    logits = [logits_for(w, {2: 3.0 + i, 5: 1.0}, {2: 3.0 + i, 5: 1.0}) for i, w in enumerate(windows)]
    decoded = decode_windows(windows, logits, texts, max_sources=4)
    top = decoded.answers[0]
    assert top.text == "Rollo" and top.source_count == 12
    assert [s.passage_index for s in top.sources] == [11, 10, 9, 8]
    assert all(s.start_char == 7 for s in top.sources), "each passage's best occurrence, not its second"
    with pytest.raises(ValueError, match="max_sources"):
        decode_windows(windows, logits, texts, max_sources=0)
