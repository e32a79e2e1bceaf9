"""Adaptive reading: read retrieved passages best-first in small batches and stop once the passages
left are unlikely to change the answer.

Why: the reader's forward passes are nearly all of a question's time, and they grow with the passages
read. Retrieval already ranks the passages, and when the best span read so far beats the model's own
"no answer" score by a wide margin, a lower-ranked passage rarely holds a better span. How rarely was
*measured*, not assumed, and so is a second signal, from retrieval: when the best passage not yet read
scores far below the top one (:func:`retrieval_gap`), it rarely holds the final answer.
:func:`fit_retrieval_rule` takes, for questions of fitting articles, the margin ``best span − null``
and the retrieval gap after each checkpoint and whether stopping there would have changed the result
(top answer text or the no-answer decision) compared with reading every passage, and chooses the margins
and gaps that read least while keeping the changed share within ``tolerance``. The shipped
:data:`DEFAULT_RULE` was fitted that way (see its comment); ``benchmarks/reader_adaptive.py`` reports F1
and seconds on *other* articles. On by default (``DOCQA_READER_ADAPTIVE=0`` reads everything): held out,
top-10, 1.81x fewer seconds, F1 +1.07 (README, "Which runtime reads").

The first checkpoint comes after one passage and looks at the retrieval gap alone: when the best passage
stands far above every other one retrieved, the answer (or its absence) is nearly always decided there
(:data:`DEFAULT_RULE`'s comment; ``scripts/fit_first_passage_stop.py``).

The reader's margin stops reading only with an answer in hand. The retrieval gap may also stop a
question whose read passages say "no answer": the passages left are then weak matches, and on the
fitting articles stopping there changed few results (and often removed a wrong answer from a weak
passage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AdaptiveRule:
    """When to stop: after reading ``checkpoints[i]`` passages, stop if ``best − null ≥ margins[i]`` or,
    with retrieval scores at hand, if the best *unread* passage lies at least ``retrieval_gaps[i]`` of the
    way from the top score down to the last retrieved one (:func:`retrieval_gap`).

    :ivar checkpoints: passage counts after which the rule is checked, increasing (the batches are the
        passages between them; after the last one everything left is read in one batch).
    :ivar margins: logit margin of the best span over the null score needed to stop at each checkpoint.
    :ivar retrieval_gaps: per checkpoint, the retrieval gap at which the passages left are too weak to
        matter (``inf`` = never; ``None`` = the reader's margin alone decides).
    :ivar min_retrieved: per checkpoint, the fewest retrieved passages for its gap to count (``None``: any
        number). Why: the gap is a share of the spread down to the *last* retrieved passage, and over
        fewer passages the spread is smaller and every gap larger; a gap fitted on the top 5 says too
        much about the top 3 (the sample question "When was the Duchy of Normandy founded?" has a first
        gap of 0.60 among 5 reranked passages, 0.88 among 3, where the first passage alone answers wrongly).
    """

    checkpoints: tuple[int, ...] = (2, 4, 6)
    margins: tuple[float, ...] = (0.17, 0.15, 0.2)
    retrieval_gaps: tuple[float, ...] | None = None
    min_retrieved: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.checkpoints) != len(self.margins):
            raise ValueError("one margin per checkpoint")
        if self.retrieval_gaps is not None and len(self.retrieval_gaps) != len(self.checkpoints):
            raise ValueError("one retrieval gap per checkpoint")
        if self.min_retrieved is not None and len(self.min_retrieved) != len(self.checkpoints):
            raise ValueError("one min_retrieved per checkpoint")
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

    def should_stop(self, read: int, margin: float, scores: Sequence[float | None] | None = None) -> bool:
        """Stop after ``read`` passages when the best span beats the null score by the checkpoint's margin,
        or when the retrieval scores (``scores``: every retrieved passage's, best first) say that the
        passages left are far below the ones read."""
        for i, (checkpoint, needed) in enumerate(zip(self.checkpoints, self.margins, strict=True)):
            if checkpoint != read:
                continue
            if np.isfinite(margin) and margin >= needed:
                return True
            if self.retrieval_gaps is None or scores is None:
                return False
            if self.min_retrieved is not None and len(scores) < self.min_retrieved[i]:
                return False
            gap = retrieval_gap(scores, read)
            return gap is not None and gap >= self.retrieval_gaps[i]
        return False


def retrieval_gap(scores: Sequence[float | None], read: int) -> float | None:
    """Where the best unread passage's retrieval score lies between the top score (0.0) and the last
    retrieved passage's (1.0): ``(s[0] − s[read]) / (s[0] − s[-1])``.

    Why this form: it is free of the retriever's scale and offset (BM25 sums, cosine similarities,
    z-score fusion all give the same value for the same shape), and a passage whose score falls far below
    the top is rarely where the final answer comes from (measured: see :data:`DEFAULT_RULE`).
    ``None`` when a score is missing, nothing is left, or all scores are equal (no evidence either way).
    """
    if read >= len(scores) or any(s is None or not np.isfinite(s) for s in scores):
        return None
    top, nxt, last = float(scores[0]), float(scores[read]), float(scores[-1])  # type: ignore[arg-type]
    spread = top - last
    if spread <= 1e-12:
        return None
    return (top - nxt) / spread


# Fitted with ``benchmarks/reader_adaptive.py --fit`` (fit_retrieval_rule, tolerance 5% of results
# changed): the test reader (minilm-squad2-test), BM25 top-10 over the 955 SQuAD passages, 352 questions
# (every 2nd) of its FIT_ARTICLES. Reading all 10 passages is the reference; the rule stopped at 2/4/6
# passages for most questions, 4.8 passages read on average (2.1x fewer window tokens), 95.2% of results
# unchanged, F1 +0.33 (halves of the fitting questions: -0.47 / +1.14). The retrieval gap carries most of
# it: the reader's margin alone (fitted the same way, 1% tolerance: margins 0.17/0.15/0.2) read 8.4
# passages (1.18x), because the margins stay small for this reader and half the questions have no answer.
# Tolerance 3% gave margins 0.12/0.66/0.66 and gaps 0.8/never/never (1.7x, 97.3% unchanged).
# Margins are logits of *this* model; gaps are relative to the retrieved scores' spread, so they carry
# over to other retrievers in form, but were measured on BM25 rankings.
BASE_RULE = AdaptiveRule((2, 4, 6), (0.66, 0.66, 0.66), (0.75, 0.95, 0.95))

# A first checkpoint after one passage, on the retrieval gap alone (a margin would be in one model's
# logits; the gap is the same for every reader): fitted with ``scripts/fit_first_passage_stop.py`` on the
# dev articles of issue 20 (Harvard_University, Force, among the 20 distractor articles; 639 questions,
# answerable and not) through the pipeline ``docqa ask`` runs, reranked and not, compact reader, top 5:
# the gap that reads least with at most 2% of the results changed against BASE_RULE (0.75: 44% of the
# questions read one passage, 1.4% of results changed, F1 43.9 -> 43.9, 0.41 -> 0.32 of the top 5's
# tokens read; 0.85 would stop 26% at 0.3% changed). It counts only with at least the 5 passages it was
# fitted on (``min_retrieved``). See the README ("Adaptive reading") for the held-out articles.
FIRST_PASSAGE_GAP = 0.75
FIRST_PASSAGE_MIN_RETRIEVED = 5
DEFAULT_RULE = AdaptiveRule((1, *BASE_RULE.checkpoints), (float("inf"), *BASE_RULE.margins),
                            (FIRST_PASSAGE_GAP, *(BASE_RULE.retrieval_gaps or ())),
                            (FIRST_PASSAGE_MIN_RETRIEVED, *(0 for _ in BASE_RULE.checkpoints)))


@dataclass
class PrefixObservation:
    """For one question: ``best − null`` after each checkpoint and whether stopping there changed the
    result compared with reading all passages; optionally the :func:`retrieval_gap` at each checkpoint
    (``None`` where unknown) and the share of the question's reading cost spent up to it."""

    margins: Sequence[float]
    changed: Sequence[bool]
    gaps: Sequence[float | None] = ()
    cost: Sequence[float] = ()


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


GAP_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95
MARGIN_QUANTILES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def simulate(rule: AdaptiveRule, observations: Sequence[PrefixObservation]) -> tuple[float, float]:
    """``(changed share, mean reading cost)`` of ``rule`` on ``observations`` (questions stop at the first
    checkpoint where the rule fires; cost 1.0 = reading everything)."""
    changed, cost = 0, 0.0
    for o in observations:
        stop = None
        for i in range(len(rule.checkpoints)):
            gap = o.gaps[i] if o.gaps else None
            margin_ok = np.isfinite(o.margins[i]) and o.margins[i] >= rule.margins[i]
            gap_ok = rule.retrieval_gaps is not None and gap is not None and gap >= rule.retrieval_gaps[i]
            if margin_ok or gap_ok:
                stop = i
                break
        changed += bool(stop is not None and o.changed[stop])
        cost += o.cost[stop] if stop is not None and o.cost else 1.0
    return changed / len(observations), cost / len(observations)


def fit_retrieval_rule(observations: Sequence[PrefixObservation], checkpoints: Sequence[int],
                       tolerance: float = 0.035, rounds: int = 3) -> AdaptiveRule:
    """Margins and retrieval gaps per checkpoint that minimise the mean reading cost while stopping
    changes at most ``tolerance`` of the questions' results (all checkpoints together, questions stopping
    at their first firing checkpoint). Coordinate descent over a grid: margins at quantiles of the
    observed margins (or never), gaps :data:`GAP_GRID` (or never)."""
    inf = float("inf")
    finite = [m for o in observations for m in o.margins if np.isfinite(m)]
    margin_grid = [inf] + sorted({round(float(q), 2) for q in np.quantile(finite, MARGIN_QUANTILES)})
    gap_grid = [inf, *GAP_GRID]
    n = len(checkpoints)
    margins, gaps = [inf] * n, [inf] * n
    best_cost = simulate(AdaptiveRule(tuple(checkpoints), tuple(margins), tuple(gaps)), observations)[1]
    for _ in range(rounds):
        for i in range(n):
            for m in margin_grid:
                for g in gap_grid:
                    trial_m, trial_g = list(margins), list(gaps)
                    trial_m[i], trial_g[i] = m, g
                    rule = AdaptiveRule(tuple(checkpoints), tuple(trial_m), tuple(trial_g))
                    changed, cost = simulate(rule, observations)
                    if changed <= tolerance and cost < best_cost - 1e-9:
                        best_cost, margins, gaps = cost, trial_m, trial_g
    return AdaptiveRule(tuple(checkpoints), tuple(margins), tuple(gaps))
