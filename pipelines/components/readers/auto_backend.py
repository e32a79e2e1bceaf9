"""``DOCQA_READER_BACKEND=auto``: time torch, ONNX fp32 and ONNX int8 (and, on CPUs with native bf16,
torch with bf16 weights; where PyTorch sees a CUDA GPU, torch fp32 and fp16 on it) for this model on this
machine, check the lossy ones' top answers against an exact one, and use the fastest backend that keeps at
least 97% of them.

Why: see :mod:`docqa.pipelines.components.measured_choice` (the int8 graph is 3.8× Haystack on AVX-512 VNNI
CPUs but slower than fp32 on AVX2-only ones; which of torch and ONNX fp32 wins varies too).

How, once per model per CPU (then cached):

1. Each candidate is loaded (ONNX: exported once, as for an explicit setting) and reads the same fixed
   windows — the first :data:`TIMING_PAIRS` calibration pairs — in interleaved rounds; a candidate's
   time is its best round, so load from other processes does not decide the outcome.
2. Only when int8 is faster than the fastest exact backend (torch / ONNX fp32) is its agreement measured:
   the forced top answer on every calibration pair, int8 vs ONNX fp32 (the reference it was built from).
3. :func:`~docqa.pipelines.components.measured_choice.choose_fastest` picks; the record (timings, agreement,
   CPU) is cached and shown by ``docqa ask --json`` and ``GET /ready``.

Calibration pairs: for the bundled compact reader, ``data/reader-calibration.json`` (48 SQuAD 1.1
question/paragraph pairs from articles it never saw). For any other reader, the sample documents' example
questions (``data/example_questions.json``) paired with each paragraph of their document, because a
reader such as ``deepset/bert-base-cased-squad2`` was trained on SQuAD training articles.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
from docqa.pipelines.components.readers.backends import ReaderBackend, ReaderBackendName, export_fingerprint
from docqa.pipelines.components.readers.qa_windows import Window, build_windows
from docqa.pipelines.components.readers.span_decoding import decode_windows
from docqa.resources import data_path

logger = logging.getLogger(__name__)

CANDIDATES = (ReaderBackendName.TORCH, ReaderBackendName.ONNX_FP32, ReaderBackendName.ONNX_INT8)
# Timed only where bf16 is native (AVX512-BF16, AMX): emulated elsewhere, it could only lose.
NATIVE_BF16_CANDIDATES = (ReaderBackendName.TORCH_BF16,)
# Timed only when PyTorch sees a CUDA GPU (docqa.pipelines.components.gpu; DOCQA_CUDA=0 hides it). The CPU
# candidates are timed beside them: a small or busy GPU must still beat the CPU to be chosen.
CUDA_CANDIDATES = (ReaderBackendName.CUDA, ReaderBackendName.CUDA_FP16)
# A torch backend must read >= 10% faster than the best ONNX one to be chosen: it costs every new process
# its start (cold `docqa ask`, compact reader, 2 cores: onnx-int8 2.57/2.58 s, torch-bf16 5.44/5.33 s —
# importing transformers and loading the model), which the timing of warm forward passes does not see.
# The compact reader's tie (torch-bf16 0.204 s, onnx-int8 0.205 s) stays on ONNX; bert-base, where
# torch-bf16 read 1.28x faster than onnx-int8, still gets it (when its answers agree).
TORCH_HANDICAP = {ReaderBackendName.TORCH.value: 1.10, ReaderBackendName.TORCH_BF16.value: 1.10,
                  ReaderBackendName.CUDA.value: 1.10, ReaderBackendName.CUDA_FP16.value: 1.10}
EXACT = {ReaderBackendName.TORCH.value, ReaderBackendName.ONNX_FP32.value, ReaderBackendName.CUDA.value}
REFERENCE = ReaderBackendName.ONNX_FP32.value  # int8 is quantised from this graph
TIMING_PAIRS = 8
TIMING_ROUNDS = 5  # best of up to 5 interleaved rounds: 3 let a burst of load on a shared machine decide
# (a candidate 1.5x slower than the best after two rounds stops early: measured_choice.timed_rounds)
MAX_PAIRS = 60
CALIBRATION_FILE = "reader-calibration.json"
# Bump when the measuring procedure changes, so that cached choices are measured again.
PROCEDURE_VERSION = "3"  # 3: torch-bf16 on CPUs with native bf16

Pair = tuple[str, str]  # (question, paragraph)
_DETECT = object()  # choose_reader_backend(gpu=...) default: detect the GPU
BackendLoader = Callable[[ReaderBackendName], ReaderBackend]


def calibration_pairs(compact: bool) -> list[Pair]:
    """The question/paragraph pairs agreement is measured on (see the module docstring)."""
    if compact:
        data = json.loads(data_path(CALIBRATION_FILE).read_text(encoding="utf-8"))
        return [(p["question"], p["context"]) for p in data["pairs"]][:MAX_PAIRS]
    questions = json.loads(data_path("example_questions.json").read_text(encoding="utf-8"))
    pairs: list[Pair] = []
    for name, asked in questions.items():
        path = data_path("samples", name)
        if name.startswith("_") or path.suffix not in (".txt", ".md") or not path.exists():
            continue  # PDFs would need the ingest stack; the text samples are enough
        paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n")
                      if len(p.strip()) > 200]
        for question in asked:
            pairs.extend((question, paragraph) for paragraph in paragraphs[:12])
    return pairs[:MAX_PAIRS]


def top_answers(backend: ReaderBackend, windows_per_pair: Sequence[list[Window]],
                contexts: Sequence[str]) -> list[str]:
    """The forced top answer (best span text, "" if none) of every pair."""
    flat = [w for windows in windows_per_pair for w in windows]
    logits = backend.logits(flat)
    answers, cursor = [], 0
    for windows, context in zip(windows_per_pair, contexts, strict=True):
        decoded = decode_windows(windows, logits[cursor:cursor + len(windows)], [context], top_k=1)
        cursor += len(windows)
        answers.append(decoded.answers[0].text if decoded.answers else "")
    return answers


def candidates_for(cpu: CpuIdentity, gpu: GpuIdentity | None = None) -> tuple[ReaderBackendName, ...]:
    """The backends ``auto`` times on ``cpu`` (and ``gpu``, when there is one)."""
    return (CANDIDATES + (NATIVE_BF16_CANDIDATES if cpu.native_bf16 else ())
            + (CUDA_CANDIDATES if gpu is not None else ()))


def measure(load: BackendLoader, windows_per_pair: Sequence[list[Window]], contexts: Sequence[str],
            candidates: Sequence[ReaderBackendName] = CANDIDATES,
            clock: Callable[[], float] = time.perf_counter) -> tuple[dict[str, Measurement],
                                                                      dict[str, ReaderBackend]]:
    """Time every candidate on the first :data:`TIMING_PAIRS` pairs (interleaved rounds, best round),
    then measure agreement for the lossy candidates that could win. Returns the measurements and the
    loaded backends (so the winner need not be loaded twice)."""
    loaded: dict[str, ReaderBackend] = {}
    measured: dict[str, Measurement] = {}
    for name in candidates:
        try:
            loaded[name.value] = load(name)
        except Exception as err:  # noqa: BLE001 - an export that fails only removes a candidate
            logger.warning("auto: backend %s unavailable (%s)", name.value, err)
            measured[name.value] = Measurement(None, error=f"{type(err).__name__}: {err}"[:200])
    timing = [w for windows in windows_per_pair[:TIMING_PAIRS] for w in windows]
    for backend in loaded.values():
        backend.logits(timing[:1])  # first call pays lazy initialisation
    best = timed_rounds(list(loaded), lambda name: loaded[name].logits(timing), TIMING_ROUNDS, clock)
    for name, seconds in best.items():
        measured[name] = Measurement(seconds)
    lossy = needs_agreement(measured, EXACT)
    if lossy:
        reference_name = REFERENCE if REFERENCE in loaded else next((n for n in loaded if n in EXACT), None)
        if reference_name is None:
            for name in lossy:
                measured[name].agreement = None  # nothing exact to compare with: never choose it
        else:
            reference = top_answers(loaded[reference_name], windows_per_pair, contexts)
            for name in lossy:
                answers = top_answers(loaded[name], windows_per_pair, contexts)
                same = sum(a == b for a, b in zip(answers, reference, strict=True))
                measured[name].agreement = same / len(reference) if reference else None
    return measured, loaded


def choose_reader_backend(
    model_dir: Path,
    tokenizer: Any,
    load: BackendLoader,
    *,
    compact: bool,
    max_seq_length: int,
    stride: int,
    max_question_tokens: int,
    cache: ChoiceCache | None = None,
    cpu: CpuIdentity | None = None,
    gpu: GpuIdentity | None | object = _DETECT,
    measure_fn: Callable[..., tuple[Mapping[str, Measurement], Mapping[str, ReaderBackend]]] = measure,
) -> tuple[BackendChoice, ReaderBackend | None]:
    """The backend ``auto`` means for ``model_dir`` on this machine, and the loaded winner when it was
    loaded while measuring (``None`` on a cache hit: load it by name).

    ``gpu``: the CUDA GPU to also time (default: the one PyTorch sees, see
    :mod:`docqa.pipelines.components.gpu`); a choice made with a GPU is cached apart from one made without.
    ``measure_fn`` is for tests (inject timings and agreements); the default measures for real.
    """
    cache = cache or ChoiceCache()
    cpu = cpu or cpu_identity()
    gpu = gpu_identity() if gpu is _DETECT else gpu
    runtime = _runtime_versions() + PROCEDURE_VERSION + (f"|{gpu.key}" if gpu is not None else "")
    key = choice_key("reader", export_fingerprint(Path(model_dir)), cpu, runtime)
    cached = cache.get(key)
    if cached is not None:
        return cached, None
    pairs = calibration_pairs(compact)
    windows = [build_windows(tokenizer, q, [c], max_seq_length=max_seq_length, stride=stride,
                             max_question_tokens=max_question_tokens) for q, c in pairs]
    logger.info("auto: measuring reader backends for %s on %s (once)", model_dir, cpu.describe())
    started = time.perf_counter()
    measured, loaded = measure_fn(load, windows, [c for _, c in pairs], candidates=candidates_for(cpu, gpu))
    winner = choose_fastest(measured, EXACT, AGREEMENT_BAR, handicap=TORCH_HANDICAP)
    choice = BackendChoice.measured(winner, measured, cpu, gpu, model_dir)
    logger.info("auto: %s chosen in %.0f s (%s)", winner, time.perf_counter() - started, choice.measurements)
    cache.put(key, choice)
    return choice, loaded.get(winner)


def _runtime_versions() -> str:
    return "/".join(runtime_version(m) for m in ("torch", "onnxruntime")) + "/"
