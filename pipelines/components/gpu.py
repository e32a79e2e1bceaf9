"""Is there a CUDA GPU this process may use, and which — found without importing PyTorch where it cannot be.

Why a module of its own: ``auto`` (the reader's, embedder's and reranker's measured runtime choice) also
times CUDA runtimes when PyTorch sees a GPU, and the cached choice must be keyed by that GPU (a choice
measured without a GPU must not be reused on a machine with one, nor the reverse). But asking PyTorch costs
``import torch`` (~0.9 s on 2 busy cores), which a cold ``docqa ask`` on an ONNX runtime otherwise skips.
So: the pinned CPU wheel (``torch==2.13.0+cpu``, what this project installs by default) and machines
without an NVIDIA driver (no ``/proc/driver/nvidia``, no ``/dev/nvidia0``) answer "no GPU" from package
metadata and the file system alone; only a CUDA build of torch on a machine with a driver imports torch
to ask ``torch.cuda.is_available()``.

``DOCQA_CUDA=0`` hides the GPU from DocQA (everything runs on the CPU, as before) without hiding it from
other programs the way ``CUDA_VISIBLE_DEVICES=""`` does.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from docqa.config import CUDA, env_flag

logger = logging.getLogger(__name__)

DRIVER_PATHS = (Path("/proc/driver/nvidia"), Path("/dev/nvidia0"), Path("/dev/nvidiactl"))


@dataclass(frozen=True)
class GpuIdentity:
    """The GPU DocQA would run on (device 0 of what CUDA shows this process).

    :ivar name: e.g. ``NVIDIA H200``.
    :ivar memory_gib: total memory, GiB (one decimal).
    :ivar capability: compute capability, e.g. ``9.0`` (bf16/fp16 tensor cores from 7.0 / 8.0).
    :ivar count: GPUs visible to this process.
    """

    name: str
    memory_gib: float
    capability: str
    count: int

    @property
    def key(self) -> str:
        """What keys a measured choice: another GPU model (or none) measures again."""
        return f"{self.name}|{self.capability}|{self.memory_gib:.0f}"

    def describe(self) -> str:
        return f"{self.name} ({self.memory_gib:.0f} GiB, compute {self.capability}, {self.count} visible)"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe()}


def cuda_disabled() -> bool:
    """``DOCQA_CUDA=0`` (or ``false``/``no``/``off``): run everything on the CPU."""
    return not env_flag(CUDA, True)


def _cpu_only_torch() -> bool:
    """The installed torch is a CPU build (``+cpu`` in its version) or absent: no CUDA to ask for."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return True
    return "+cpu" in version


def _driver_present() -> bool:
    return any(p.exists() for p in DRIVER_PATHS)


@functools.lru_cache(maxsize=1)
def _probe() -> GpuIdentity | None:
    if _cpu_only_torch() or not _driver_present():
        return None
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(0)
        return GpuIdentity(name=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                           capability=f"{props.major}.{props.minor}", count=torch.cuda.device_count())
    except Exception as err:  # noqa: BLE001 - a broken driver means "no GPU", said once
        logger.warning("A GPU driver is present but PyTorch cannot use it (%s); running on the CPU", err)
        return None


def gpu_identity() -> GpuIdentity | None:
    """The GPU DocQA runs on, or ``None`` (none, a CPU build of torch, or ``DOCQA_CUDA=0``)."""
    if cuda_disabled():
        return None
    return _probe()


def cuda_available() -> bool:
    return gpu_identity() is not None
