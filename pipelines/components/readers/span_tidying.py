"""Answer spans that close the brackets and quotes they open.

Why: a reader's end logit rarely lands on a lone closing token. Asked "What religion were the Normans?",
the compact reader answered ``Catholicism (Christianity`` from "… with Catholicism (Christianity) and the
…": the ")" is a token of its own, and the best-scoring span stopped one token short. A user sees a
broken answer; SQuAD's metrics do not (they drop punctuation), which is why the benchmarks never showed it.

The rule only moves a span's ends by the bracket or quote characters themselves, never across words:

- an opener without its closer inside the span is closed when the closer is the very next character of
  the passage, else a leading opener is dropped (``(Christianity`` → ``Christianity``);
- a closer without its opener is opened when the opener is the character just before the span, else a
  trailing closer is dropped (``Christianity)`` → ``Christianity``);
- straight double quotes count as one pair: an odd number is evened out the same way, and a quote inside
  the span is completed by the quote just before or just after it (``open loop" system`` →
  ``"open loop" system``).

An opener or closer in the middle of a span that can be neither completed nor dropped is left as read:
cutting words out of an answer would change what it says.
"""

from __future__ import annotations

PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"))
QUOTE = '"'


def balance_brackets(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` of the span ``text[start:end]`` with its brackets and double quotes balanced
    where one character of ``text`` next to the span, or at its edge, does it (see the module docstring).
    Returns the offsets unchanged when nothing needs or allows balancing; never an empty span."""
    if not 0 <= start < end <= len(text):
        return start, end
    for opener, closer in PAIRS:
        start, end = _balance_pair(text, start, end, opener, closer)
    return _balance_quotes(text, start, end)


def _balance_pair(text: str, start: int, end: int, opener: str, closer: str) -> tuple[int, int]:
    span = text[start:end]
    missing = span.count(opener) - span.count(closer)
    if missing > 0:
        if end < len(text) and text[end] == closer:
            return start, end + 1
        if span[0] == opener and end - start > 1:
            return start + 1, end
    elif missing < 0:
        if start > 0 and text[start - 1] == opener:
            return start - 1, end
        if span[-1] == closer and end - start > 1:
            return start, end - 1
    return start, end


def _balance_quotes(text: str, start: int, end: int) -> tuple[int, int]:
    span = text[start:end]
    if span.count(QUOTE) % 2 == 0:
        return start, end
    if span[0] == QUOTE and end - start > 1:
        if end < len(text) and text[end] == QUOTE:
            return start, end + 1
        return start + 1, end
    if span[-1] == QUOTE and end - start > 1:
        if start > 0 and text[start - 1] == QUOTE:
            return start - 1, end
        return start, end - 1
    if start > 0 and text[start - 1] == QUOTE:  # a quote inside the span: complete it on either side
        return start - 1, end
    if end < len(text) and text[end] == QUOTE:
        return start, end + 1
    return start, end
