"""The embedder's ``auto`` backend: time ONNX fp32 and ONNX int8 for this model on this CPU and use the
fastest that keeps the passages a question finds; torch only when no ONNX graph can be made.

Why: the int8 graph was chosen on an AVX-512 VNNI CPU, where int8 matrix products are cheap; on
AVX2-only CPUs (many AMD servers, laptops) and ARM the fp32 graph can be as fast or faster, and bulk
ingestion is where embedding speed matters. Like the reader's
(:mod:`docqa.pipelines.components.readers.auto_backend`), the choice is measured once per model, CPU and
runtime version, then cached (:mod:`docqa.pipelines.components.measured_choice`).

- timing: every candidate embeds the same :data:`TIMING_TEXTS` calibration paragraphs (interleaved
  rounds, best round per candidate);
- agreement (int8 only, and only when it is faster than both exact candidates): for each calibration
  question, the nearest calibration paragraph under int8 vectors must be the one fp32 vectors find;
  int8 is used only when that holds for ≥ 97% of the questions.
- torch is not timed when an ONNX graph loads (:data:`FALLBACK`): on every CPU it was measured on, torch
  embedded the calibration paragraphs 2x slower than ONNX fp32 (this AMD EPYC AVX-512 VNNI machine:
  torch 2.84 s, onnx 1.41 s, onnx-int8 0.69 s for 32 paragraphs), and timing it cost a newcomer's first
  `docqa ingest` ~13 s of 35 (importing sentence-transformers 5.9 s, loading and running torch ~7 s).
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
    runtime_version,
    timed_rounds,
)
from docqa.pipelines.model_loading import model_fingerprint
from docqa.resources import data_path

logger = logging.getLogger(__name__)

CANDIDATES = ("onnx", "onnx-int8")
CUDA_CANDIDATES = ("cuda", "cuda-fp16")  # timed beside the ONNX ones when PyTorch sees a CUDA GPU
FALLBACK = "torch"  # measured only when neither ONNX candidate loads (an export that fails, say)
EXACT = {"torch", "onnx", "cuda"}
REFERENCE = "onnx"
# 16 paragraphs per round (32 before): the timing rounds were 5.6 s of a first ingest's 21.6 s; at 16
# each round still takes 0.3-0.7 s per candidate, and the best of the rounds decides, as before.
TIMING_TEXTS = 16
TIMING_ROUNDS = 5  # best of up to 5 interleaved rounds: 3 let a burst of load on a shared machine decide
# (a candidate 1.5x slower than the best after two rounds stops early: measured_choice.timed_rounds)
PROCEDURE_VERSION = "3"  # 3: torch only as a fallback

Encoder = Any  # a SentenceEncoder (not imported: that module imports this one)
_DETECT = object()  # choose_embedding_backend(gpu=...) default: detect the GPU


def calibration_texts() -> tuple[list[str], list[str]]:
    """(questions, paragraphs) of ``data/reader-calibration.json``: real questions with the paragraphs
    that answer them, from articles no shipped model was tuned on."""
    pairs = json.loads(data_path("reader-calibration.json").read_text(encoding="utf-8"))["pairs"]
    return [p["question"] for p in pairs], [p["context"] for p in pairs]


def nearest(encoder: Encoder, questions: Sequence[str], paragraphs: Sequence[str]) -> list[int]:
    """Index of the nearest paragraph for every question."""
    q = encoder.encode(list(questions))
    p = encoder.encode(list(paragraphs))
    return [int(i) for i in np.argmax(q @ p.T, axis=1)]


def measure(load: Callable[[str], Encoder], questions: Sequence[str], paragraphs: Sequence[str],
            candidates: Sequence[str] = CANDIDATES,
            clock: Callable[[], float] = time.perf_counter,
            ) -> tuple[dict[str, Measurement], dict[str, Encoder]]:
    """Timings (best of interleaved rounds) and, where it can change the choice, int8's agreement."""
    loaded: dict[str, Encoder] = {}
    measured: dict[str, Measurement] = {}
    for name in candidates:
        try:
            loaded[name] = load(name)
        except Exception as err:  # noqa: BLE001 - an export that fails only removes a candidate
            logger.warning("auto: embedding backend %s unavailable (%s)", name, err)
            measured[name] = Measurement(None, error=f"{type(err).__name__}: {err}"[:200])
    if not loaded and FALLBACK not in candidates:
        try:
            loaded[FALLBACK] = load(FALLBACK)
        except Exception as err:  # noqa: BLE001 - recorded; choose_fastest then says nothing could load
            measured[FALLBACK] = Measurement(None, error=f"{type(err).__name__}: {err}"[:200])
    texts = list(paragraphs[:TIMING_TEXTS])
    for encoder in loaded.values():
        encoder.encode(texts[:2])  # first call pays lazy initialisation
    best = timed_rounds(list(loaded), lambda name: loaded[name].encode(texts), TIMING_ROUNDS, clock)
    for name, seconds in best.items():
        measured[name] = Measurement(seconds)
    lossy = needs_agreement(measured, EXACT)
    reference_name = REFERENCE if REFERENCE in loaded else next((n for n in loaded if n in EXACT), None)
    if lossy and reference_name is not None:
        reference = nearest(loaded[reference_name], questions, paragraphs)
        for name in lossy:
            found = nearest(loaded[name], questions, paragraphs)
            same = sum(a == b for a, b in zip(found, reference, strict=True))
            measured[name].agreement = same / len(reference)
    return measured, loaded


def choose_embedding_backend(
    model_dir: Path,
    load: Callable[[str], Encoder],
    *,
    cache: ChoiceCache | None = None,
    cpu: CpuIdentity | None = None,
    gpu: GpuIdentity | None | object = _DETECT,
    measure_fn: Callable[..., tuple[dict[str, Measurement], dict[str, Encoder]]] = measure,
) -> tuple[BackendChoice, Encoder | None]:
    """What ``auto`` means for ``model_dir`` on this machine, and the winner if it was loaded while measuring.
    ``gpu``: the CUDA GPU whose runtimes are timed too (default: the one PyTorch sees)."""
    cache = cache or ChoiceCache()
    cpu = cpu or cpu_identity()
    gpu = gpu_identity() if gpu is _DETECT else gpu
    versions = _versions() + (f"|{gpu.key}" if gpu is not None else "")
    key = choice_key("embedder", model_fingerprint(Path(model_dir), PROCEDURE_VERSION), cpu, versions)
    cached = cache.get(key)
    if cached is not None:
        return cached, None
    questions, paragraphs = calibration_texts()
    logger.info("auto: measuring embedding backends for %s on %s (once)", model_dir, cpu.describe())
    candidates = CANDIDATES + (CUDA_CANDIDATES if gpu is not None else ())
    measured, loaded = measure_fn(load, questions, paragraphs, candidates=candidates)
    winner = choose_fastest(measured, EXACT, AGREEMENT_BAR)
    choice = BackendChoice.measured(winner, measured, cpu, gpu, model_dir)
    logger.info("auto: embedding backend %s chosen (%s)", winner, choice.measurements)
    cache.put(key, choice)
    return choice, loaded.get(winner)


def _versions() -> str:
    return "/".join(runtime_version(m) for m in ("torch", "onnxruntime", "sentence_transformers"))
