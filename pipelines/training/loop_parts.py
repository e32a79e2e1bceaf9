"""The parts every DocQA training loop shares: bf16 autocast, AdamW with the usual decay groups, the
time-fitted schedule update, and the run state a checkpoint restores bit for bit.

Why one module: the reranker (:mod:`.reranker_training`) and the question encoder
(:mod:`.query_encoder_training`) train different models on different losses, but both must resume a
killed CPU run exactly where it stopped and both fit their schedule to a wall-clock limit; written twice,
a fix to one (an RNG state not saved, a schedule not refitted) would miss the other.

No Haystack import (the GPU machine has none).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from docqa.pipelines.training.time_budget import LinearSchedule, StepBudget

NO_DECAY = ("bias", "LayerNorm.weight")


def autocast_for(device: str, bf16: bool) -> Callable[[], Any]:
    """A factory of the forward passes' context: bfloat16 autocast when asked, else nothing."""
    import torch

    def autocast() -> Any:
        if bf16:
            return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
        return contextlib.nullcontext()

    return autocast


def adamw(model: Any, learning_rate: float, weight_decay: float, device: str) -> tuple[list[Any], Any]:
    """(the trainable parameters, AdamW over them): no weight decay on biases and LayerNorm weights."""
    import torch

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in named if not n.endswith(NO_DECAY)], "weight_decay": weight_decay},
         {"params": [p for n, p in named if n.endswith(NO_DECAY)], "weight_decay": 0.0}],
        lr=learning_rate, fused=device.startswith("cuda"))
    return [p for _, p in named], optimizer


def refit_schedule(budget: StepBudget | None, schedule: LinearSchedule, *, step: int, train_steps: int,
                   train_clock: float, elapsed_s: float, planned: int, warmup_ratio: float) -> None:
    """Every 25 steps (after 10), move the schedule's end to the last step that fits the time limit."""
    if budget is None or train_steps < 10 or train_steps % 25:
        return
    schedule.total = budget.fitted_total(step=step, elapsed_s=elapsed_s,
                                         seconds_per_step=train_clock / train_steps, planned=planned)
    schedule.warmup = min(schedule.warmup, int(warmup_ratio * schedule.total))


@dataclass
class RunState:
    """Where a run stands: restored from a checkpoint, saved into the next one."""

    step: int = 0
    train_clock: float = 0.0  # seconds spent in training steps (what fits the schedule)
    train_steps: int = 0
    order: np.ndarray | None = None  # this epoch's question order

    def restore(self, state: dict[str, Any], model: Any, optimizer: Any, scheduler: Any,
                rng: np.random.Generator) -> None:
        """Load the checkpoint ``state`` into the model, optimizer, scheduler (its fitted schedule rides
        along), both RNGs and this object."""
        import torch

        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = json.loads(state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.train_clock = state["step"], state["train_clock"]
        self.train_steps = state["train_steps"]
        self.order = state["order"].numpy()

    def saved(self, model: Any, optimizer: Any, scheduler: Any, rng: np.random.Generator) -> dict[str, Any]:
        """The checkpoint fields :meth:`restore` reads."""
        import torch

        return {"step": self.step, "train_clock": self.train_clock, "train_steps": self.train_steps,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "numpy_rng": json.dumps(rng.bit_generator.state),
                "torch_rng": torch.get_rng_state(), "order": torch.from_numpy(np.asarray(self.order))}


def open_run(state_dir: Any, resume_key: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The checkpoint to continue from (``resume``), or ``None`` for a fresh run — which is refused over
    an unfinished one, whose checkpoint it would overwrite.

    :raises ResumeError: as :func:`.reranker_state.load_state` and :func:`.reranker_state.check_fresh`.
    """
    from docqa.pipelines.training import reranker_state

    if state_dir is None:
        return None
    if resume:
        return reranker_state.load_state(state_dir, resume_key)
    reranker_state.check_fresh(state_dir)
    return None


def epoch_batch(step: int, steps_per_epoch: int, order: np.ndarray | None, rng: np.random.Generator,
                n_questions: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(this epoch's question order — a new permutation at each epoch start —, this step's questions)."""
    b = step % steps_per_epoch
    if b == 0 or order is None:
        order = rng.permutation(n_questions)
    return order, order[b * batch:(b + 1) * batch]


@dataclass
class BestWeights:
    """The best dev evaluation so far and its weights (saved beside the checkpoint when there is one)."""

    score: float = float("-inf")
    index: int = 0  # 1-based evaluation number; 0 = none yet
    weights: dict[str, Any] | None = None

    @classmethod
    def resumed(cls, state: dict[str, Any], state_dir: Any) -> BestWeights:
        """The best evaluation a checkpoint recorded, with its weights from ``state_dir``."""
        from docqa.pipelines.training import reranker_state

        best = cls(state["best_score"], state["best_index"])
        best.weights = reranker_state.load_best(state_dir) if best.index else None
        return best

    def saved(self) -> dict[str, Any]:
        """The checkpoint fields :meth:`resumed` reads (the weights are saved beside it by :meth:`offer`)."""
        return {"best_score": self.score, "best_index": self.index}

    def offer(self, score: float, index: int, model: Any, state_dir: Any) -> bool:
        """Keep ``model``'s weights when ``score`` beats every earlier evaluation; whether it did."""
        from docqa.pipelines.training import reranker_state

        if not score > self.score:
            return False
        self.score, self.index = score, index
        self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if state_dir is not None:
            reranker_state.save_best(state_dir, self.weights)
        return True


__all__ = ["NO_DECAY", "BestWeights", "RunState", "adamw", "autocast_for", "epoch_batch", "open_run",
           "refit_schedule"]
