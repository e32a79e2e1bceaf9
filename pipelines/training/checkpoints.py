"""Where a training run keeps its state, so that ``--resume`` continues a killed run where it stopped.

A checkpoint (model, optimizer, scheduler, RNG state, position in the epoch) is written every
``checkpoint_every`` steps and at every epoch end, and the best epoch's weights whenever an epoch beats
the previous best — each through :mod:`docqa.atomic`, so a kill mid-write leaves the previous file whole.
On CPU a resumed run ends with the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docqa.atomic import atomic_write_bytes, atomic_writer
from docqa.pipelines.training.settings import TrainingConfig, TrainingError

STATE_DIR = "training-state"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_WEIGHTS_FILE = "best-epoch.safetensors"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` with ``torch.save``, atomically."""
    import torch

    with atomic_writer(path) as handle:
        torch.save(state, handle)


def save_weights(model, path: Path) -> None:
    """Write the model's weights as safetensors (CPU, contiguous), atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors))


def load_best_weights(model, state_dir: Path, device: str) -> None:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(state_dir / BEST_WEIGHTS_FILE), device=str(device)))


def prepare_out_dir(config: TrainingConfig) -> dict[str, Any] | None:
    """Check the output directory; the checkpoint to resume from, or ``None`` for a fresh run."""
    import torch

    out = config.out_dir
    checkpoint = out / STATE_DIR / CHECKPOINT_FILE
    if config.resume and checkpoint.exists():
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:  # a torn or foreign file: say which, do not guess
            raise TrainingError(f"{checkpoint}: cannot be read ({type(err).__name__}); delete "
                                f"{out / STATE_DIR} to start over") from err
        saved = state.get("resume_key", {})
        differs = [f"{k}: was {saved.get(k)!r}, now {v!r}" for k, v in config.resume_key().items()
                   if saved.get(k) != v]
        if differs:
            raise TrainingError(f"--resume: the run in {out} used other settings ({'; '.join(differs)}); "
                                f"use the same settings, or another --out to start a new run")
        return state
    if out.exists() and any(out.iterdir()):
        if (out / STATE_DIR).exists() and not config.resume:
            raise TrainingError(f"{out} holds an unfinished training run; pass --resume to continue it, "
                                f"or choose another --out")
        raise TrainingError(f"{out} is not empty; choose a new or empty --out directory")
    return None
