"""Choose a runtime by measuring it on this CPU, and remember the choice per model and CPU.

Why measure instead of a fixed default: which runtime is fastest depends on the CPU more than on the
code. On an Intel CPU with AVX-512 VNNI the int8 reader graph was 3.8× Haystack's reader and the fastest;
on an AMD EPYC with AVX2/FMA only it was *slower* than both torch and ONNX fp32, and its top-answer
agreement with fp32 differed too. So ``auto`` times the candidates on a few fixed inputs, checks that a
lossy candidate (int8) keeps the answers of the exact one, picks the fastest that passes, and caches the
choice under :func:`docqa.pipelines.model_loading.cache_root` (``backend-choices.json``), keyed by what
decides
the answer: the model's fingerprint, the CPU's identity (model name + instruction-set flags + cores we
may use) and the runtime versions. A new CPU, model or runtime version measures again; nothing else does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from docqa.atomic import atomic_write_text
from docqa.pipelines.model_loading import cache_root

logger = logging.getLogger(__name__)

AGREEMENT_BAR = 0.97  # a lossy backend must keep >= 97% of the exact backend's top answers
CACHE_FILE = "backend-choices.json"
_RELEVANT_PREFIXES = ("avx512", "amx")
_RELEVANT_FLAGS = {"avx", "avx2", "fma", "f16c", "avx_vnni", "avx512_vnni", "avx512vnni", "sse4_2",
                   "avx_vnni_int8", "asimd", "asimddp", "sve", "i8mm", "bf16"}


def _cpuinfo_text() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class CpuIdentity:
    """What about this CPU decides which runtime is fastest.

    :ivar model: the CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere).
    :ivar flags: the instruction-set flags that matter for inference (avx2, fma, avx512*, vnni, amx...).
    :ivar cores: cores this process may run on (timings with 2 cores do not hold for 16).
    :ivar flags_digest: digest of *all* flags, so any difference in the CPU measures again.
    """

    model: str
    flags: tuple[str, ...]
    cores: int
    machine: str
    flags_digest: str

    @property
    def key(self) -> str:
        text = f"{self.model}|{self.machine}|{self.cores}|{self.flags_digest}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def native_bf16(self) -> bool:
        """AVX512-BF16 or AMX: bf16 matrix products run natively (elsewhere they are emulated, slowly)."""
        return any(f in ("avx512_bf16", "amx_bf16") for f in self.flags)

    def describe(self) -> str:
        """One line for benchmark output and ``/ready``: model, cores and the flags that matter."""
        vnni = any("vnni" in f for f in self.flags)
        amx = any(f.startswith("amx") for f in self.flags)
        avx512 = any(f.startswith("avx512") for f in self.flags)
        return (f"{self.model} ({self.cores} cores; avx2={'avx2' in self.flags} avx512={avx512} "
                f"vnni={vnni} bf16={self.native_bf16} amx={amx})")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flags": list(self.flags), "key": self.key, "description": self.describe()}


def cpu_identity(cpuinfo: str | None = None) -> CpuIdentity:
    """This machine's :class:`CpuIdentity` (from ``cpuinfo`` text when given, for tests)."""
    text = _cpuinfo_text() if cpuinfo is None else cpuinfo
    model, all_flags = "", []
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "model name" and not model:
            model = value.strip()
        elif name in ("flags", "features") and not all_flags:
            all_flags = sorted(set(value.split()))
    if not model:
        model = platform.processor() or platform.machine() or "unknown CPU"
    relevant = tuple(f for f in all_flags if f in _RELEVANT_FLAGS or f.startswith(_RELEVANT_PREFIXES))
    digest = hashlib.sha256(" ".join(all_flags).encode()).hexdigest()[:12]
    return CpuIdentity(model, relevant, _cores(), platform.machine(), digest)


@dataclass
class Measurement:
    """What ``auto`` measured for one candidate.

    :ivar seconds: time for the fixed inputs (best of the interleaved rounds); ``None`` = could not run.
    :ivar agreement: share of the exact backend's top answers kept (``None`` = exact, or not checked
        because a faster exact candidate already won).
    """

    seconds: float | None
    agreement: float | None = None
    error: str | None = None


MIN_ROUNDS = 2  # every candidate runs at least this many timed rounds
DROP_RATIO = 1.5  # ... and then stops when its best is this many times the best candidate's best


def timed_rounds(names: Sequence[str], run: Callable[[str], object], rounds: int,
                 clock: Callable[[], float] = time.perf_counter,
                 min_rounds: int = MIN_ROUNDS, drop_ratio: float = DROP_RATIO) -> dict[str, float]:
    """Best time of each candidate over up to ``rounds`` interleaved rounds (``run(name)`` is one timing).

    A candidate already ``drop_ratio`` times slower than the best after ``min_rounds`` rounds runs no
    more: a later round can only lower its best, and by half again is not what a burst of load on a
    shared machine does to a best-of-two. Why: timing every candidate 5 times was most of a first-ever
    `docqa ingest` — the embedder's rounds were 5 x (torch 1.6 s + ONNX fp32 0.7 s + int8 0.37 s)
    = 13 s of its 47 s on 2 busy cores; with the slow ones dropped after two rounds they take ~6.5 s.
    """
    best: dict[str, float] = {}
    active = list(names)
    for r in range(rounds):
        if r >= min_rounds and best:
            fastest = min(best.values())
            active = [n for n in active if best[n] <= drop_ratio * fastest]
        for name in active[r % len(active):] + active[:r % len(active)]:
            started = clock()
            run(name)
            elapsed = clock() - started
            best[name] = min(best.get(name, elapsed), elapsed)
    return best


def choose_fastest(measured: Mapping[str, Measurement], exact: set[str],
                   bar: float = AGREEMENT_BAR, handicap: Mapping[str, float] | None = None) -> str:
    """The fastest candidate that ran and, unless it is exact, kept at least ``bar`` agreement.
    ``handicap`` multiplies a candidate's seconds for the ranking (a cost the timing does not see, such
    as a slower start in every new process).

    :raises ValueError: when no candidate qualifies (every one failed).
    """
    weights = handicap or {}
    ranked = sorted((m.seconds * weights.get(name, 1.0), name) for name, m in measured.items()
                    if m.seconds is not None)
    for _, name in ranked:
        agreement = measured[name].agreement
        if name in exact or (agreement is not None and agreement >= bar):
            return name
    raise ValueError(f"no candidate backend qualifies: {dict(measured)}")


def needs_agreement(measured: Mapping[str, Measurement], exact: set[str]) -> list[str]:
    """Lossy candidates faster than the fastest exact one: only their agreement can change the choice."""
    timed = {n: m.seconds for n, m in measured.items() if m.seconds is not None}
    exact_times = [s for n, s in timed.items() if n in exact]
    fastest_exact = min(exact_times) if exact_times else float("inf")
    return [n for n, s in sorted(timed.items(), key=lambda kv: kv[1]) if n not in exact and s < fastest_exact]


@dataclass
class BackendChoice:
    """The outcome of ``auto`` (or an explicit setting), as shown by ``docqa ask --json`` and ``/ready``."""

    backend: str
    chosen_by: str  # "measured", "cached measurement" or "setting"
    cpu: str = ""
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)
    measured_at: str | None = None
    model: str = ""  # the model directory measured (entries of deleted models are dropped on the next write)
    gpu: str = ""  # the CUDA GPU timed with the CPU ("" when there was none)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def measured(cls, winner: str, measured: Mapping[str, Measurement], cpu: CpuIdentity, gpu: Any,
                 model_dir: Path | str) -> BackendChoice:
        """The record of a measurement that chose ``winner``: every runtime's seconds, agreement and error,
        the CPU (and ``gpu``, any object with ``describe()``, or ``None``) it ran on, and when. One builder
        for the reader's, embedder's and reranker's ``auto``, so ``docqa ask --json`` and ``/ready`` show
        the three alike."""
        return cls(backend=winner, chosen_by="measured", cpu=cpu.describe(),
                   gpu=gpu.describe() if gpu is not None else "",
                   measurements={name: {"seconds": m.seconds, "agreement": m.agreement, "error": m.error}
                                 for name, m in measured.items()},
                   measured_at=now(), model=str(model_dir))


def choice_key(kind: str, model_fingerprint: str, cpu: CpuIdentity, runtime: str) -> str:
    return f"{kind}|{model_fingerprint}|{cpu.key}|{runtime}"


class ChoiceCache:
    """``backend-choices.json`` under the cache root: ``{"choices": {key: BackendChoice dict}}``.

    Written with :mod:`docqa.atomic` (a crash never leaves half a file); an unreadable file is treated as
    empty and rewritten, because losing it only costs one measurement.
    """

    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_root() / CACHE_FILE

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        choices = data.get("choices") if isinstance(data, dict) else None
        return choices if isinstance(choices, dict) else {}

    def get(self, key: str) -> BackendChoice | None:
        record = self._load().get(key)
        if not isinstance(record, dict) or not isinstance(record.get("backend"), str):
            return None
        try:
            return BackendChoice(**{**record, "chosen_by": "cached measurement"})
        except TypeError:
            return None

    def put(self, key: str, choice: BackendChoice) -> None:
        with self._lock:
            choices = {k: v for k, v in self._load().items()
                       if not (isinstance(v, dict) and v.get("model") and not Path(v["model"]).exists())}
            choices[key] = choice.to_dict()
            try:
                text = json.dumps({"choices": choices}, indent=1, sort_keys=True) + "\n"
                atomic_write_text(self.path, text)
            except OSError as err:  # a read-only cache only means measuring again next time
                logger.warning("Could not store the backend choice in %s: %s", self.path, err)


# Distribution names a runtime may be installed under (a GPU machine has onnxruntime-gpu, not onnxruntime).
_DISTRIBUTIONS = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
                  "sentence_transformers": ("sentence-transformers",)}


def runtime_version(module: str) -> str:
    """``module.__version__`` without importing ``module`` ("-" when it is not installed).

    Why: the cache key of a measured choice names the runtime versions, and importing them just to read
    ``__version__`` cost a fresh ``docqa ask`` 3.4-3.7 s (sentence_transformers pulls sklearn and
    transformers' model code; torch alone is ~0.9 s) on these 2 cores, before any model was needed. The
    installed distribution's metadata holds the same string (torch's included: ``2.13.0+cpu``).
    """
    from importlib import metadata

    for dist in _DISTRIBUTIONS.get(module, (module,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:  # installed some other way (a source tree on sys.path): ask the module itself
        return str(__import__(module).__version__)
    except ImportError:
        return "-"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
