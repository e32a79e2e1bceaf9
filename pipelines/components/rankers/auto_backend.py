"""``backend="auto"`` for the reranker: time torch, ONNX fp32 and ONNX int8 on this CPU, keep int8 only
if it ranks like fp32, cache the choice per model, CPU and runtime versions.

Why: as for the reader and embedder (:mod:`docqa.pipelines.components.measured_choice`), which runtime is
fastest depends on the CPU (int8 wins on AVX-512 VNNI, not necessarily on AVX2-only CPUs).

- timing: :data:`TIMING_QUESTIONS` calibration questions, each against :data:`CANDIDATES_PER_QUESTION`
  calibration paragraphs (what one reranked question costs), interleaved rounds, best round;
- agreement (int8 only, and only when it is faster than both exact candidates): for each of the
  calibration questions (``data/reader-calibration.json``: 48 SQuAD 1.1 questions with their paragraphs,
  from articles no shipped model trained on), its own paragraph and the next ones form a candidate list;
  int8 agrees when it puts the same three passages first, in the same order, as ONNX fp32.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docqa.pipelines.components.gpu import GpuIdentity, gpu_identity
from docqa.pipelines.components.measured_choice import (
    AGREEMENT_BAR,
    BackendChoice,
    ChoiceCache,
    CpuIdentity,
    Measurement,
    choice_key,
    choose_fastest,
    cpu_identity,
    needs_agreement,
    now,
)
from docqa.pipelines.components.rankers.backends import Pair, RerankerBackend, export_fingerprint
from docqa.resources import data_path

logger = logging.getLogger(__name__)

CANDIDATES = ("torch", "onnx-fp32", "onnx-int8")
CUDA_CANDIDATES = ("cuda", "cuda-fp16")  # timed too when PyTorch sees a CUDA GPU
EXACT = {"torch", "onnx-fp32", "cuda"}
REFERENCE = "onnx-fp32"
TIMING_QUESTIONS = 2
CANDIDATES_PER_QUESTION = 12
TIMING_ROUNDS = 5
AGREEMENT_QUESTIONS = 24
PROCEDURE_VERSION = "1"

Lists = list[list[Pair]]  # per question, its candidate pairs
_DETECT = object()  # choose_reranker_backend(gpu=...) default: detect the GPU


def calibration_lists(encode: Callable[[str, Sequence[str]], list[Pair]]) -> Lists:
    """Per calibration question: pairs with its own paragraph and the next ones (cyclically)."""
    pairs = json.loads(data_path("reader-calibration.json").read_text(encoding="utf-8"))["pairs"]
    contexts = [p["context"] for p in pairs]
    lists = []
    for i, p in enumerate(pairs[:AGREEMENT_QUESTIONS]):
        chosen = [contexts[(i + j) % len(contexts)] for j in range(CANDIDATES_PER_QUESTION)]
        lists.append(encode(p["question"], chosen))
    return lists


def top3(backend: RerankerBackend, lists: Lists) -> list[tuple[int, ...]]:
    flat = [pair for pairs in lists for pair in pairs]
    scores = backend.scores(flat)
    out, cursor = [], 0
    for pairs in lists:
        chunk = scores[cursor:cursor + len(pairs)]
        cursor += len(pairs)
        out.append(tuple(int(i) for i in np.argsort(-chunk, kind="stable")[:3]))
    return out


def measure(load: Callable[[str], RerankerBackend], lists: Lists,
            clock: Callable[[], float] = time.perf_counter, candidates: Sequence[str] = CANDIDATES,
            ) -> tuple[dict[str, Measurement], dict[str, RerankerBackend]]:
    """Timings (best of interleaved rounds) and, where it can change the choice, the lossy ones' agreement."""
    loaded: dict[str, RerankerBackend] = {}
    measured: dict[str, Measurement] = {}
    for name in candidates:
        try:
            loaded[name] = load(name)
        except Exception as err:  # noqa: BLE001 - an export that fails only removes a candidate
            logger.warning("auto: reranker backend %s unavailable (%s)", name, err)
            measured[name] = Measurement(None, error=f"{type(err).__name__}: {err}"[:200])
    timing = [pair for pairs in lists[:TIMING_QUESTIONS] for pair in pairs]
    for backend in loaded.values():
        backend.scores(timing[:1])  # the first call pays lazy initialisation
    rounds: dict[str, list[float]] = {name: [] for name in loaded}
    for r in range(TIMING_ROUNDS):
        names = list(loaded)
        for name in names[r % len(names):] + names[:r % len(names)]:
            started = clock()
            loaded[name].scores(timing)
            rounds[name].append(clock() - started)
    for name, seconds in rounds.items():
        measured[name] = Measurement(min(seconds))
    lossy = needs_agreement(measured, EXACT)
    reference_name = REFERENCE if REFERENCE in loaded else next((n for n in loaded if n in EXACT), None)
    if lossy and reference_name is not None:
        reference = top3(loaded[reference_name], lists)
        for name in lossy:
            found = top3(loaded[name], lists)
            measured[name].agreement = sum(a == b for a, b in zip(found, reference, strict=True)) / len(lists)
    return measured, loaded


def choose_reranker_backend(
    model_dir: Path,
    load: Callable[[str], RerankerBackend],
    encode: Callable[[str, Sequence[str]], list[Pair]],
    *,
    cache: ChoiceCache | None = None,
    cpu: CpuIdentity | None = None,
    gpu: GpuIdentity | None | object = _DETECT,
    measure_fn: Callable[..., tuple[dict[str, Measurement], dict[str, Any]]] = measure,
) -> tuple[BackendChoice, RerankerBackend | None]:
    """What ``auto`` means for ``model_dir`` on this machine, and the winner if it was loaded while measuring.
    ``gpu``: the CUDA GPU whose runtimes are timed too (default: the one PyTorch sees)."""
    cache = cache or ChoiceCache()
    cpu = cpu or cpu_identity()
    gpu = gpu_identity() if gpu is _DETECT else gpu
    versions = _versions() + (f"|{gpu.key}" if gpu is not None else "")
    key = choice_key("reranker", export_fingerprint(Path(model_dir)) + PROCEDURE_VERSION, cpu, versions)
    cached = cache.get(key)
    if cached is not None:
        return cached, None
    logger.info("auto: measuring reranker backends for %s on %s (once)", model_dir, cpu.describe())
    candidates = CANDIDATES + (CUDA_CANDIDATES if gpu is not None else ())
    measured, loaded = measure_fn(load, calibration_lists(encode), candidates=candidates)
    winner = choose_fastest(measured, EXACT, AGREEMENT_BAR)
    choice = BackendChoice(
        backend=winner, chosen_by="measured", cpu=cpu.describe(), gpu=gpu.describe() if gpu else "",
        measurements={n: {"seconds": m.seconds, "agreement": m.agreement, "error": m.error}
                      for n, m in measured.items()},
        measured_at=now(), model=str(model_dir))
    logger.info("auto: reranker backend %s chosen (%s)", winner, choice.measurements)
    cache.put(key, choice)
    return choice, loaded.get(winner)


def _versions() -> str:
    versions = []
    for module in ("torch", "onnxruntime"):
        try:
            versions.append(__import__(module).__version__)
        except ImportError:
            versions.append("-")
    return "/".join(versions)
