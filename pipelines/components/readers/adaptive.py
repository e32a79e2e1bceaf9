"""Adaptive reading: read retrieved passages best-first in small batches and stop once the passages
left are unlikely to change the answer.

Why: the reader's forward passes are nearly all of a question's time, and they grow with the passages
read. Retrieval already ranks the passages, and when the best span read so far beats the model's own
"no answer" score by a wide margin, a lower-ranked passage rarely holds a better span. How rarely was
*measured*, not assumed: :func:`fit_rule` takes, for questions of fitting articles, the margin
``best span − null`` after each check point and whether stopping there would have changed the result
(top answer text or the no-answer decision) compared with reading every passage, and chooses the
smallest margin per check point that keeps the changed share within ``tolerance``. The shipped
:data:`DEFAULT_RULE` was fitted that way (see its comment); ``benchmarks/reader_adaptive.py`` reports F1
and seconds on *other* articles. Off by default (``DOCQA_READER_ADAPTIVE=1`` turns it on): on the
measured reader it saved too little to meet the bar for a default.

Reading stops only with an answer in hand: a question whose read passages say "no answer" keeps
reading, because an unread passage may still hold the answer. So the saving comes from answerable
questions whose answer shows up in the first passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AdaptiveRule:
    """When to stop: after reading ``checkpoints[i]`` passages, stop if ``best − null ≥ margins[i]``.

    :ivar checkpoints: passage counts after which the rule is checked, increasing (the batches are the
        passages between them; after the last one everything left is read in one batch).
    :ivar margins: logit margin of the best span over the null score needed to stop at each checkpoint.
    """

    checkpoints: tuple[int, ...] = (2, 4, 6)
    margins: tuple[float, ...] = (0.17, 0.15, 0.2)

    def __post_init__(self) -> None:
        if len(self.checkpoints) != len(self.margins):
            raise ValueError("one margin per checkpoint")
        increasing = list(self.checkpoints) == sorted(set(self.checkpoints))
        if not increasing or (self.checkpoints and self.checkpoints[0] < 1):
            raise ValueError(f"checkpoints must increase from 1: {self.checkpoints}")

    def batches(self, total: int) -> list[tuple[int, int]]:
        """``[start, end)`` passage ranges read in turn for ``total`` passages."""
        bounds = [c for c in self.checkpoints if c < total] + [total]
        ranges, start = [], 0
        for end in bounds:
            ranges.append((start, end))
            start = end
        return ranges

    def should_stop(self, read: int, margin: float) -> bool:
        """Stop after ``read`` passages when the best span beats the null score by the checkpoint's margin."""
        for checkpoint, needed in zip(self.checkpoints, self.margins, strict=True):
            if checkpoint == read:
                return bool(np.isfinite(margin) and margin >= needed)
        return False


# Fitted with benchmarks/reader_adaptive.py --fit: the test reader (minilm-squad2-test), BM25 top-10 over
# the 955 SQuAD passages, 225 questions (every 8th) of its FIT_ARTICLES; tolerance 1% of questions changed
# per checkpoint (0.5%: margins 0.49/0.49/0.53; 2%: about 0). Of those questions 54 had the best span above
# the null score after 2 passages and none had a margin >= 2, so the rule stops for about a quarter of them
# (expected 7.9 of 10 passages read): too little to be on by default (the target was 1.5x fewer seconds).
# Margins are logits of *this* model; other readers should be fitted the same way before relying on it.
DEFAULT_RULE = AdaptiveRule()


@dataclass
class PrefixObservation:
    """For one question: ``best − null`` after each checkpoint and whether stopping there changed the
    result compared with reading all passages."""

    margins: Sequence[float]
    changed: Sequence[bool]


def fit_rule(observations: Sequence[PrefixObservation], checkpoints: Sequence[int],
             tolerance: float = 0.01) -> AdaptiveRule:
    """The smallest margin per checkpoint such that stopping there changes the result of at most
    ``tolerance`` × (number of questions) questions (counted on ``observations``).

    Conservative: each checkpoint gets the whole tolerance only for itself, and a question stopped at an
    earlier checkpoint still counts against later ones.
    """
    margins = []
    allowed = tolerance * len(observations)
    for i in range(len(checkpoints)):
        values = sorted({float(o.margins[i]) for o in observations if np.isfinite(o.margins[i])})
        chosen = float("inf")
        for candidate in reversed(values):  # from strict to lax; keep the laxest that stays within budget
            bad = sum(1 for o in observations if o.margins[i] >= candidate and o.changed[i])
            if bad > allowed:
                break
            chosen = candidate
        margins.append(round(chosen, 2) if np.isfinite(chosen) else float("inf"))
    return AdaptiveRule(tuple(checkpoints), tuple(margins))
