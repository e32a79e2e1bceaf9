"""Run the reranker's cross-encoder: PyTorch (fp32 or bf16 weights on the CPU, fp32/fp16 on a CUDA GPU),
ONNX Runtime fp32 (fused graph) or ONNX Runtime int8.

The same three runtimes as the reader (:mod:`docqa.pipelines.components.readers.backends`, whose
measurements explain the recipe): the export is fused with ``onnxruntime.transformers.optimizer`` and
quantised with the reader's int8 recipe (:func:`~docqa.pipelines.components.readers.backends.quantize_int8`:
attention output dynamic int8, feed-forward 8-bit blockwise, attention QKV, pooler and head fp32). Which
one is fastest on *this* CPU is measured by ``auto``
(:mod:`~docqa.pipelines.components.rankers.auto_backend`).

Exports live next to the model (``<model dir>/docqa-onnx/``) when that directory is writable, else under
``cache_root()/onnx/<fingerprint>/``; the fingerprint covers the weights and ``reranker.json`` (which
names the shared word embeddings and their digest).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from docqa.choices import Choice
from docqa.errors import ConfigError
from docqa.pipelines.components.gpu import cuda_available
from docqa.pipelines.components.rankers.pairs import length_batches, pad_pairs
from docqa.pipelines.components.readers.backends import (
    cpu_session,
    is_writable_dir,
    limit_torch_threads,
    quantize_int8,
)
from docqa.pipelines.model_loading import DERIVED_DIR_NAME, cache_root, model_fingerprint

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
EXPORT_FORMAT = "reranker-v1"
Pair = tuple[list[int], int]  # (input ids, where segment 1 starts): see pairs.pair_ids


class RerankerBackendName(Choice):
    """The runtime that scores (question, passage) pairs; ``.value`` is what users type."""

    AUTO = "auto"
    TORCH = "torch"
    ONNX_FP32 = "onnx-fp32"
    ONNX_INT8 = "onnx-int8"
    # bf16 weights in PyTorch on the CPU, as the reader's ``torch-bf16``: native on CPUs with AVX512-BF16
    # or AMX (the bundled reranker, ten pairs of 192 tokens, AMD EPYC with AVX512-BF16, 2 cores: 119 ms
    # against onnx-fp32's 161 ms and torch fp32's 187 ms), emulated and slow elsewhere, so ``auto`` times
    # it only on such CPUs. Lossy (logits within 0.03 of fp32 there): chosen only if it ranks like fp32.
    TORCH_BF16 = "torch-bf16"
    CUDA = "cuda"  # PyTorch on a CUDA GPU, fp32 (timed by ``auto`` only when PyTorch sees one)
    CUDA_FP16 = "cuda-fp16"  # ... with fp16 weights: lossy, chosen only if it ranks like fp32

    @classmethod
    def option_name(cls) -> str:
        return "reranker backend"


GPU_BATCH_SIZE = 64  # pairs per pass on a GPU, where small batches leave it idle (not measured here yet)


class RerankerBackend:
    """Scores pairs in length-sorted batches; subclasses implement :meth:`_forward`."""

    name = "base"

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, pad_token_id: int = 0) -> None:
        self.batch_size = batch_size
        self.pad_token_id = pad_token_id

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def scores(self, pairs: Sequence[Pair]) -> np.ndarray:
        """One logit per pair, in the order given."""
        out = np.zeros(len(pairs), dtype=np.float32)
        for idx in length_batches([len(ids) for ids, _ in pairs], self.batch_size):
            out[idx] = self._forward(pad_pairs([pairs[i] for i in idx], self.pad_token_id)).reshape(-1)
        return out


# The PyTorch runtimes: (device, weight dtype) each.
TORCH_RUNTIMES = {RerankerBackendName.TORCH: ("cpu", "float32"),
                  RerankerBackendName.TORCH_BF16: ("cpu", "bfloat16"),
                  RerankerBackendName.CUDA: ("cuda", "float32"),
                  RerankerBackendName.CUDA_FP16: ("cuda", "float16")}


class TorchRerankerBackend(RerankerBackend):
    """Eager PyTorch under ``torch.inference_mode``: fp32 or bf16 weights on the CPU, fp32 or fp16 on a
    CUDA GPU (``runtime``, one of :data:`TORCH_RUNTIMES`)."""

    def __init__(self, model_dir: Path, batch_size: int = DEFAULT_BATCH_SIZE, num_threads: int | None = None,
                 pad_token_id: int = 0, *, runtime: RerankerBackendName = RerankerBackendName.TORCH) -> None:
        super().__init__(batch_size, pad_token_id)
        import torch

        from docqa.pipelines.components.rankers.cross_encoder import load_cross_encoder

        device, dtype = TORCH_RUNTIMES[runtime]
        limit_torch_threads(num_threads)
        self._torch = torch
        self.name = runtime.value
        self.device = torch.device(device)
        self.model = load_cross_encoder(Path(model_dir)).to(self.device, getattr(torch, dtype))

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            logits = self.model(**{k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}).logits
        return logits.float().cpu().numpy()


class OnnxRerankerBackend(RerankerBackend):
    """ONNX Runtime on the fused fp32 or the int8 export."""

    def __init__(self, path: Path, name: str, batch_size: int = DEFAULT_BATCH_SIZE,
                 num_threads: int | None = None, pad_token_id: int = 0) -> None:
        super().__init__(batch_size, pad_token_id)
        self.session = cpu_session(path, num_threads)
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.name = name

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], {k: v for k, v in batch.items() if k in self.inputs})[0]


def export_fingerprint(model_dir: Path) -> str:
    return model_fingerprint(Path(model_dir), EXPORT_FORMAT)


def onnx_dir(model_dir: Path) -> Path:
    model_dir = Path(model_dir)
    if is_writable_dir(model_dir):
        return model_dir / DERIVED_DIR_NAME
    return cache_root() / "onnx" / export_fingerprint(model_dir)


def _build(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoConfig

    from docqa.pipelines.components.rankers.cross_encoder import load_cross_encoder

    config = AutoConfig.from_pretrained(model_dir)
    model = load_cross_encoder(model_dir, attn_implementation="eager")
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class _Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        raw = work / "raw.onnx"
        dummy = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long),
                 torch.zeros(2, 16, dtype=torch.long))
        axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
        with torch.no_grad():
            torch.onnx.export(_Logits(), dummy, str(raw), input_names=names, output_names=["logits"],
                              dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False)
        from onnxruntime.transformers.optimizer import optimize_model

        fused = work / "model-fp32.onnx"
        optimized = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size)
        optimized.save_model_to_file(str(fused))
        raw.unlink()
        quantize_int8(fused, work / "model-int8.onnx")
        (work / "manifest.json").write_text(json.dumps(
            {"source": str(Path(model_dir).resolve()), "fingerprint": export_fingerprint(model_dir)}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)  # a whole directory moved into place (see readers.backends._build_exports)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def ensure_exports(model_dir: Path) -> Path:
    """The directory holding ``model-fp32.onnx`` and ``model-int8.onnx`` of ``model_dir`` (exported once,
    under a file lock)."""
    from filelock import FileLock

    target = onnx_dir(Path(model_dir))
    fingerprint = export_fingerprint(Path(model_dir))

    def fresh() -> bool:
        try:
            manifest = json.loads((target / "manifest.json").read_text())
        except (OSError, ValueError):
            return False
        return manifest.get("fingerprint") == fingerprint and (target / "model-int8.onnx").exists()

    if fresh():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not fresh():
            logger.info("Exporting the reranker %s to ONNX in %s (once)", model_dir, target)
            _build(Path(model_dir), target)
    return target


def load_backend(name: str | RerankerBackendName, model_dir: Path, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 num_threads: int | None = None, pad_token_id: int = 0) -> RerankerBackend:
    """Backend by name (``torch``, ``torch-bf16``, ``onnx-fp32``, ``onnx-int8``, ``cuda``, ``cuda-fp16``;
    ``auto`` is resolved by the component).

    :raises ConfigError: for an unknown name or ``auto``.
    """
    kind = RerankerBackendName.from_str(name)
    if kind is RerankerBackendName.AUTO:
        raise ConfigError("'auto' is not a runtime: DocQAReranker.warm_up resolves it by measuring")
    if kind in TORCH_RUNTIMES:
        gpu = TORCH_RUNTIMES[kind][0] == "cuda"
        if gpu and not cuda_available():
            raise ConfigError(f"The reranker backend '{kind.value}' needs a CUDA GPU that PyTorch can use, "
                              "and there is none here (or DOCQA_CUDA=0): use 'auto', 'onnx-fp32' or 'torch'")
        return TorchRerankerBackend(Path(model_dir), max(batch_size, GPU_BATCH_SIZE) if gpu else batch_size,
                                    num_threads, pad_token_id, runtime=kind)
    exports = ensure_exports(Path(model_dir))
    file = "model-fp32.onnx" if kind is RerankerBackendName.ONNX_FP32 else "model-int8.onnx"
    return OnnxRerankerBackend(exports / file, kind.value, batch_size, num_threads, pad_token_id)
