"""Fit a training run into a wall-clock budget: the LR schedule ends (decays to 0) when the time does.

Why: a run cut off by a time limit mid-schedule keeps weights trained at a high learning rate, which
score worse than a shorter run whose rate decayed fully. On a lent GPU with a fixed number of minutes
(or a CPU run that must finish overnight) the number of steps that fit is unknown until the first steps
are timed. With ``fit_to_time_limit`` the loop times its steps, predicts how many fit before the limit
(keeping room for the dev evaluations still due and for writing the model) and moves the end of the
linear decay there; the last epoch may then be partial, and it is evaluated like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class LinearSchedule:
    """Linear warm-up then linear decay to 0 at ``total`` steps, with ``total`` movable during the run.

    An object rather than a closure so that ``LambdaLR.state_dict()`` saves ``total`` in a checkpoint
    (a resumed run decays towards the same end).

    Usage::

        schedule = LinearSchedule(warmup=100, total=5000)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        schedule.total = 3200  # fewer steps fit than planned
    """

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup = max(0, int(warmup))
        self.total = max(1, int(total))

    def __call__(self, step: int) -> float:
        if step < self.warmup:  # the same curve as transformers' get_linear_schedule_with_warmup
            return step / max(1, self.warmup)
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))


@dataclass
class StepBudget:
    """Predicts how many optimizer steps fit in the time left.

    :param limit_s: the run's whole wall-clock limit.
    :param epoch_ends: global step at which each epoch ends (a dev evaluation follows each).
    :param eval_guess_s: seconds one dev evaluation is expected to take until one has been timed.
    :param final_s: seconds kept for loading the best weights and writing the model directory.
    """

    limit_s: float
    epoch_ends: Sequence[int]
    eval_guess_s: float
    final_s: float = 15.0
    eval_s: float | None = None  # measured duration of the last dev evaluation

    def fitted_total(self, *, step: int, elapsed_s: float, seconds_per_step: float, planned: int) -> int:
        """The last step that fits (≥ ``step`` + 1, ≤ ``planned``), counting the evaluations due before it."""
        per_eval = self.eval_s if self.eval_s is not None else self.eval_guess_s
        left = self.limit_s - elapsed_s - self.final_s - per_eval  # the final (partial) epoch's evaluation
        total = step
        for end in sorted({e for e in self.epoch_ends if step < e < planned} | {planned}):
            steps_to_end = end - total
            affordable = int(left / max(seconds_per_step, 1e-9))
            if affordable < steps_to_end:
                total += max(0, affordable)
                break
            total = end
            left -= steps_to_end * seconds_per_step
            if end != planned:
                left -= per_eval  # an epoch end before the last one also evaluates
        return max(step + 1, min(planned, total))
