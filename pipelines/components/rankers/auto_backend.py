"""``backend="auto"`` for the reranker: time torch, ONNX fp32 and ONNX int8 on this CPU (and torch with
bf16 weights where the CPU has native bf16), keep a lossy one only if it ranks like fp32, cache the choice
per model, CPU and runtime versions.

Why: as for the reader and embedder (:mod:`docqa.pipelines.components.measured_choice`), which runtime is
fastest depends on the CPU (int8 wins on AVX-512 VNNI, not necessarily on AVX2-only CPUs).

- timing: :data:`TIMING_QUESTIONS` calibration questions, each against :data:`CANDIDATES_PER_QUESTION`
  calibration paragraphs (what one reranked question costs), interleaved rounds, best round;
- a torch runtime must be :data:`TORCH_HANDICAP` faster than the best ONNX one: it costs a new process
  transformers' modeling imports and the model's load, which warm timings do not see;
- agreement (the lossy runtimes, int8 and bf16, only when faster than every exact candidate): for each of the
  calibration questions (``data/reader-calibration.json``: 48 SQuAD 1.1 questions with their paragraphs,
  from articles no shipped model trained on), its own paragraph and the next ones form a candidate list;
  a lossy runtime agrees when it puts the same three passages first, in the same order, as ONNX fp32,
  up to ties (:func:`ranks_alike`).
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
)
from docqa.pipelines.components.rankers.backends import Pair, RerankerBackend, export_fingerprint
from docqa.resources import data_path

logger = logging.getLogger(__name__)

CANDIDATES = ("torch", "onnx-fp32", "onnx-int8")
NATIVE_BF16_CANDIDATES = ("torch-bf16",)  # timed only where bf16 is native (AVX512-BF16, AMX)
# A torch runtime must score >= 25% faster than the best ONNX one to be chosen. Why more than the reader's
# 10%: a new process pays the same start for either (transformers' modeling imports and the model load:
# the bundled reranker cold, import to first score, 2.3 s on onnx-fp32, 3.6-3.8 s on torch-bf16; a cold
# `docqa ask` with the compact reader 4.1 -> 6.2 s), but the reranker saves far less per question than a
# bert-base reader does (AMD EPYC with AVX512-BF16, 2 cores, 24 calibration pairs: torch-bf16 0.262 s,
# onnx-int8 0.315 s, onnx-fp32 0.359 s; ~25 ms per reranked question against int8), so it stays on ONNX
# there and takes bf16 only where bf16 is much faster (AMX).
TORCH_HANDICAP = {"torch": 1.25, "torch-bf16": 1.25, "cuda": 1.25, "cuda-fp16": 1.25}
CUDA_CANDIDATES = ("cuda", "cuda-fp16")  # timed too when PyTorch sees a CUDA GPU
EXACT = {"torch", "onnx-fp32", "cuda"}
REFERENCE = "onnx-fp32"
TIMING_QUESTIONS = 2
CANDIDATES_PER_QUESTION = 12
TIMING_ROUNDS = 5
AGREEMENT_QUESTIONS = 24
TIE = 0.1  # logits this close rank alike (see ranks_alike)
PROCEDURE_VERSION = "2"  # 2: torch-bf16 on CPUs with native bf16, torch handicap, ties

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
    """The indices of each list's three best-scored pairs, best first."""
    return [tuple(int(i) for i in np.argsort(-chunk, kind="stable")[:3]) for chunk in _scores(backend, lists)]


def _scores(backend: RerankerBackend, lists: Lists) -> list[np.ndarray]:
    flat = [pair for pairs in lists for pair in pairs]
    scores = backend.scores(flat)
    out, cursor = [], 0
    for pairs in lists:
        out.append(scores[cursor:cursor + len(pairs)])
        cursor += len(pairs)
    return out


def ranks_alike(reference: np.ndarray, found: Sequence[int], tie: float = TIE) -> bool:
    """Whether a lossy runtime's first three passages (``found``) are, rank by rank, the reference's, up to
    ties: the passage it puts at rank k scores (by the reference) within ``tie`` of the reference's k-th.

    Why ties: a calibration list is one question's own paragraph and eleven unrelated ones, so ranks 2 and
    3 are picked among passages the model calls irrelevant at nearly equal logits. On the bundled
    reranker (AMD EPYC, AVX512-BF16) every disagreement of bf16 and int8 with fp32 was such a swap,
    0.001–0.04 apart at logits near −7.5 (bf16: 18 of 24 lists in exact order; int8: 21), while both
    put the same passage first in every list. 0.1 is 0.03 standard deviations of a question's logits
    (median spread 3.54 over ten candidates), below anything the fused order can see.
    """
    best = np.sort(np.asarray(reference, dtype=np.float64))[::-1]
    return all(abs(float(reference[i]) - float(best[k])) <= tie for k, i in enumerate(found))


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
        reference = _scores(loaded[reference_name], lists)
        for name in lossy:
            found = top3(loaded[name], lists)
            alike = sum(ranks_alike(r, f) for r, f in zip(reference, found, strict=True))
            measured[name].agreement = alike / len(lists)
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
    candidates = candidates_for(cpu, gpu)
    measured, loaded = measure_fn(load, calibration_lists(encode), candidates=candidates)
    winner = choose_fastest(measured, EXACT, AGREEMENT_BAR, TORCH_HANDICAP)
    choice = BackendChoice.measured(winner, measured, cpu, gpu, model_dir)
    logger.info("auto: reranker backend %s chosen (%s)", winner, choice.measurements)
    cache.put(key, choice)
    return choice, loaded.get(winner)


def candidates_for(cpu: CpuIdentity, gpu: GpuIdentity | None = None) -> tuple[str, ...]:
    """The runtimes ``auto`` times on ``cpu`` (and ``gpu``, when there is one)."""
    return (CANDIDATES + (NATIVE_BF16_CANDIDATES if cpu.native_bf16 else ())
            + (CUDA_CANDIDATES if gpu is not None else ()))


def _versions() -> str:
    versions = []
    for module in ("torch", "onnxruntime"):
        try:
            versions.append(__import__(module).__version__)
        except ImportError:
            versions.append("-")
    return "/".join(versions)
