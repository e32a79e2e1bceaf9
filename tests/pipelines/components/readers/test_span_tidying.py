"""Answers close the brackets and quotes they open: never ``Catholicism (Christianity`` on the screen."""

from __future__ import annotations

import re

import numpy as np
import pytest

from docqa.pipelines.components.readers.qa_windows import Window
from docqa.pipelines.components.readers.span_decoding import decode_windows
from docqa.pipelines.components.readers.span_tidying import balance_brackets


def tidy(text: str, answer: str) -> str:
    start = text.index(answer)
    s, e = balance_brackets(text, start, start + len(answer))
    return text[s:e]


@pytest.mark.parametrize(("text", "read", "shown"), [
    ("with Catholicism (Christianity) and the", "Catholicism (Christianity", "Catholicism (Christianity)"),
    ("with Catholicism (Christianity and the", "(Christianity", "Christianity"),
    ("with Catholicism (Christianity) and the", "Christianity)", "(Christianity)"),
    ("the Norse (Christianity) and", "and", "and"),
    ("to mean Norseman, Viking). And", "Norseman, Viking)", "Norseman, Viking"),
    ('Old Low Franconian Nortmann "Northman" or', 'Nortmann "Northman', 'Nortmann "Northman"'),
    ('called "Northman or', '"Northman', "Northman"),
    ('called Northman" or', 'Northman"', "Northman"),
    ('a "quoted" word', '"quoted"', '"quoted"'),
    ('a so-called "open loop" system', 'open loop" system', '"open loop" system'),
    ('x open" loop" y', 'open" loop', 'open" loop"'),
    ("in [1911] and", "[1911", "[1911]"),
    ("“Steam” engines", "“Steam", "“Steam”"),
])
def test_brackets_and_quotes_are_closed_or_dropped_by_one_character(text: str, read: str, shown: str) -> None:
    assert tidy(text, read) == shown


def test_a_span_is_never_emptied_or_moved_across_words() -> None:
    assert tidy("a ( b", "(") == "("  # one character: nothing to drop it to
    assert tidy("x (a b c d) y", "(a b") == "a b"  # the closer is words away: the opener goes, no words added
    assert balance_brackets("abc", 2, 1) == (2, 1)  # not a span: left alone


def _window(text: str) -> Window:
    """[CLS] q [SEP] tokens of ``text`` (words and single punctuation marks) [SEP]."""
    spans = [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]
    n = 3 + len(spans) + 1
    offsets = np.zeros((n, 2), dtype=np.int64)
    mask = np.zeros(n, dtype=bool)
    offsets[3 : 3 + len(spans)] = spans
    mask[3 : 3 + len(spans)] = True
    return Window(0, np.arange(n, dtype=np.int64), None, offsets, mask, 0)


def test_the_reader_answers_with_the_bracket_its_end_token_left_out() -> None:
    text = "They adopted Catholicism (Christianity) and the local language."
    window = _window(text)
    tokens = [text[a:b] for a, b in window.offsets[3 : window.length - 1]]
    start, end = np.full(window.length, -5.0), np.full(window.length, -5.0)
    start[3 + tokens.index("Catholicism")] = 8.0
    end[3 + tokens.index("Christianity")] = 8.0  # the model stops before ")", a token of its own
    decoded = decode_windows([window], [(start, end)], [text])
    best = decoded.answers[0]
    assert best.text == "Catholicism (Christianity)"
    assert text[best.best.start_char : best.best.end_char] == best.text  # offsets point at what is shown
