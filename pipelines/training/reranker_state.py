"""A reranker training run's state on disk, so that ``--resume`` continues a killed run where it stopped.

Why: without a GPU the reranker trains for an hour or more on two CPU cores shared with other work, and
a process that is killed (a machine restart, memory pressure, a session ending) must not lose that hour.
Every few minutes and after every dev evaluation the loop writes one checkpoint — the model, AdamW's
moments, the scheduler with its time-fitted end (:class:`~docqa.pipelines.training.time_budget.
LinearSchedule` rides in ``LambdaLR.state_dict()``), the step, the current epoch's question order, the
numpy and torch RNG states, the timing that fits the schedule to the time limit and the history of dev
scores — and, when a dev evaluation beats every earlier one, the best weights beside it. Both go through
:mod:`docqa.atomic` (write, fsync, rename), so a kill mid-write leaves the previous file whole. On CPU a
resumed run takes exactly the steps a straight run would have taken (tested: equal weights).

A resumed run must train the same thing: the recipe, the data's size, the base and the input format are
recorded (``resume_key``) and a run with other settings is refused with a one-line error naming them.

No Haystack import (the GPU machine has none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docqa.atomic import atomic_write_bytes, atomic_writer

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.safetensors"


class ResumeError(ValueError):
    """A run cannot be resumed from the state directory as asked; ``str(err)`` says what to do."""


def save_state(state_dir: Path, state: dict[str, Any]) -> None:
    """Write the run's checkpoint (``torch.save`` of plain containers and tensors), atomically."""
    import torch

    with atomic_writer(Path(state_dir) / CHECKPOINT_FILE) as handle:
        torch.save(state, handle)


def save_best(state_dir: Path, weights: dict[str, Any]) -> None:
    """Write the best evaluation's weights (CPU tensors) as safetensors, atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    atomic_write_bytes(Path(state_dir) / BEST_FILE, save(tensors))


def load_best(state_dir: Path) -> dict[str, Any] | None:
    """The best weights saved so far, or ``None`` when none were."""
    from safetensors.torch import load_file

    path = Path(state_dir) / BEST_FILE
    return load_file(str(path)) if path.exists() else None


def load_state(state_dir: Path, resume_key: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to continue from, or ``None`` when ``state_dir`` holds none (a fresh run).

    :raises ResumeError: the checkpoint is unreadable, or was written by a run with other settings.
    """
    import torch

    path = Path(state_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a foreign or damaged file: say which, do not guess
        raise ResumeError(f"{path}: cannot be read ({type(err).__name__}: {err}); delete {state_dir} to "
                          "start over") from err
    saved = state.get("resume_key", {})
    differs = [f"{k}: was {saved.get(k)!r}, now {v!r}" for k, v in resume_key.items() if saved.get(k) != v]
    if differs:
        raise ResumeError(f"--resume: the run in {state_dir} used other settings ({'; '.join(differs)}); "
                          "use the same settings, or another work directory to start a new run")
    return state


def check_fresh(state_dir: Path) -> None:
    """Refuse to start a new run over an unfinished one (its checkpoint would be overwritten).

    :raises ResumeError: ``state_dir`` already holds a checkpoint.
    """
    if (Path(state_dir) / CHECKPOINT_FILE).exists():
        raise ResumeError(f"{state_dir} holds a training run's checkpoint; pass --resume to continue it, or "
                          "choose another work directory")


__all__ = ["BEST_FILE", "CHECKPOINT_FILE", "ResumeError", "check_fresh", "load_best", "load_state",
           "save_best", "save_state"]
