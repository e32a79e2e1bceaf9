"""The promotion gate of ``docqa improve``: a candidate reader replaces the current one only if it is
measurably better on the held-out feedback and not worse where it must not be.

Rules (defaults in :class:`GateSettings`, all in F1 points, 0–100):

- held-out end-to-end F1 rises by at least ``margin``;
- held-out HasAns F1 (the held-out questions that have an answer) drops by at most ``has_ans_tolerance``;
- the regression set's F1 drops by at most ``regression_tolerance``.

Why these three: the feedback loop benchmark saw a fine-tune raise overall F1 while answering "no answer"
to almost everything (HasAns F1 35.5 → 16.7 at N = 100); overall F1 alone cannot see that on a set rich in
unanswerable questions, HasAns F1 can, and the regression set (questions that are not the user's) catches
forgetting that a small held-out split cannot. Why point thresholds and not "the confidence interval
excludes 0": with 15–60 held-out questions the 95% interval of a real +3 F1 gain is about ±8 points, so
such a rule would refuse nearly every candidate; the intervals are printed so that a user can see how
much a decision rests on, and the margin guards against promoting noise. Why paired resampling: both
readers answer the same questions, so the interval of the *difference* resamples questions once for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from docqa.config import DEFAULT_IMPROVE_MARGIN as DEFAULT_MARGIN
from docqa.config import DEFAULT_IMPROVE_TOLERANCE as DEFAULT_TOLERANCE
from docqa.errors import InvalidInputError

RESAMPLES = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class GateSettings:
    margin: float = DEFAULT_MARGIN
    has_ans_tolerance: float = DEFAULT_TOLERANCE
    regression_tolerance: float = DEFAULT_TOLERANCE
    resamples: int = RESAMPLES
    seed: int = 0

    def validate(self) -> None:
        if self.has_ans_tolerance < 0 or self.regression_tolerance < 0:
            raise InvalidInputError("--tolerance must be 0 or more (F1 points a score may drop)")
        if self.resamples < 100:
            raise InvalidInputError("the bootstrap needs at least 100 resamples")


@dataclass
class QuestionScores:
    """Per-question F1 (0–100) of one reader: the held-out feedback questions end to end (with whether
    each has an answer) and the regression set."""

    heldout: list[float] = field(default_factory=list)
    answerable: list[bool] = field(default_factory=list)
    regression: list[float] = field(default_factory=list)

    def groups(self) -> dict[str, np.ndarray]:
        held = np.asarray(self.heldout, dtype=float)
        mask = np.asarray(self.answerable, dtype=bool)
        return {
            "f1": held,
            "HasAns_f1": held[mask] if held.size else held,
            "NoAns_f1": held[~mask] if held.size else held,
            "regression_f1": np.asarray(self.regression, dtype=float),
        }


@dataclass(frozen=True)
class Estimate:
    """A mean with its bootstrap confidence interval (``n`` questions; NaN when there are none)."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        def r(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 2)

        return {"mean": r(self.mean), "ci95": [r(self.low), r(self.high)], "n": self.n}

    def shown(self) -> str:
        if self.n == 0:
            return "-"
        return f"{self.mean:.1f} [{self.low:.1f}, {self.high:.1f}]"


def bootstrap(values: np.ndarray, resamples: int, rng: np.random.Generator) -> Estimate:
    """The mean of ``values`` and its percentile interval over ``resamples`` resamples of the questions."""
    n = int(values.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return Estimate(
        float(values.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail)), n
    )


def estimates(scores: QuestionScores, settings: GateSettings) -> dict[str, Estimate]:
    rng = np.random.default_rng(settings.seed)
    return {name: bootstrap(values, settings.resamples, rng) for name, values in scores.groups().items()}


def deltas(current: QuestionScores, candidate: QuestionScores, settings: GateSettings) -> dict[str, Estimate]:
    """Candidate − current per metric, paired: each resample draws the same questions for both."""
    rng = np.random.default_rng(settings.seed + 1)
    mine, theirs = current.groups(), candidate.groups()
    return {name: bootstrap(theirs[name] - mine[name], settings.resamples, rng) for name in mine}


@dataclass
class GateDecision:
    promote: bool
    reason: str
    delta: dict[str, Estimate]


def decide(current: QuestionScores, candidate: QuestionScores, settings: GateSettings) -> GateDecision:
    """Apply the three rules of the module docstring; the reason is one line a user can act on."""
    delta = deltas(current, candidate, settings)
    f1, has_ans, regression = delta["f1"], delta["HasAns_f1"], delta["regression_f1"]
    if f1.mean < settings.margin:
        return GateDecision(
            False,
            f"kept the current reader: held-out F1 changed by {f1.mean:+.1f} "
            f"(95% CI {f1.low:+.1f} to {f1.high:+.1f}), less than the {settings.margin:+.1f} "
            "margin",
            delta,
        )
    if has_ans.n and has_ans.mean < -settings.has_ans_tolerance:
        return GateDecision(
            False,
            f"kept the current reader: held-out HasAns F1 fell by {-has_ans.mean:.1f} "
            f"(tolerance {settings.has_ans_tolerance:.1f}), it would answer 'not in your "
            "documents' too often",
            delta,
        )
    if regression.n and regression.mean < -settings.regression_tolerance:
        return GateDecision(
            False,
            f"kept the current reader: regression F1 fell by {-regression.mean:.1f} "
            f"(tolerance {settings.regression_tolerance:.1f}), it forgot what it knew",
            delta,
        )
    return GateDecision(
        True,
        f"promoted: held-out F1 {f1.mean:+.1f} (95% CI {f1.low:+.1f} to {f1.high:+.1f}), "
        f"HasAns F1 {has_ans.mean:+.1f}, regression F1 {regression.mean:+.1f}",
        delta,
    )
