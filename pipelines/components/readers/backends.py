"""Run a QA model over windows: PyTorch (fp32, or bf16 weights; fp32 or fp16 on a CUDA GPU), ONNX Runtime
fp32, ONNX Runtime int8.

Why several backends: on our 2-core CPUs the reader's forward pass is nearly all of a question's time.
ONNX Runtime with *fused* transformer graphs (``onnxruntime.transformers.optimizer``: fused attention,
LayerNorm, GELU) and dynamic int8 quantisation is several times faster than eager PyTorch; plain ORT
without fusion is slower than PyTorch (measured, see DEVELOPERS.md), so fusion always comes first.

Every backend gets all windows of all passages at once and runs them in length-sorted batches, so a
batch pads only to the longest of a few similar windows instead of the longest window of the question.

The ONNX export happens once per model: next to the model (``<model dir>/docqa-onnx/``) when that
directory is writable, otherwise under ``docqa.pipelines.model_loading.cache_root()/onnx/<hash>/`` (default
``~/.cache/docqa/onnx``), where the hash covers the model path and its files' sizes and modification
times so that a changed model is exported again.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from docqa.choices import Choice
from docqa.errors import ConfigError
from docqa.pipelines.components.gpu import cuda_available
from docqa.pipelines.components.readers.qa_windows import Window, pad_batch
from docqa.pipelines.model_loading import DERIVED_DIR_NAME, cache_root, model_fingerprint

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
MAX_PADDING = 0.05  # padded tokens allowed per batch, as a fraction of its real tokens (see below)
# On a GPU a forward pass costs about the same for 1 window as for dozens (kernel launches, not arithmetic,
# bound small batches), so batches are large and may pad more. Not yet measured on a GPU here (none was
# lent); the CPU figures below are why the CPU caps stay small.
GPU_BATCH_SIZE = 64
GPU_MAX_PADDING = 0.25
EXPORT_FORMAT_VERSION = 3  # 3: int8 recipe with 8-bit blockwise feed-forward MatMuls
INT8_BLOCK_SIZE = 32  # input channels per weight/activation scale in the feed-forward MatMulNBits
_FUSABLE_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert"}


class ReaderBackendName(Choice):
    """The runtime that runs the reader's forward passes.

    ``.value`` is the name users type (``DOCQA_READER_BACKEND``, ``--backend``) and the name used in
    calibration keys (``<model>|<backend>``) and benchmark output, so it must never change. A ``str``
    subclass, so ``ReaderBackendName.TORCH == "torch"`` and code that passes plain strings keeps working.
    """

    AUTO = "auto"  # measured per model and CPU: see docqa.pipelines.components.readers.auto_backend
    TORCH = "torch"
    ONNX_FP32 = "onnx-fp32"
    ONNX_INT8 = "onnx-int8"
    # bf16 weights and activations in PyTorch: on CPUs with AVX512-BF16 or AMX oneDNN runs bf16 matrix
    # products natively (bert-base, 11 windows, AMD EPYC with AVX512-BF16, best of 3: torch-bf16 0.995 s,
    # onnx-int8 1.29 s, onnx-fp32 1.61 s, torch fp32 1.88 s); elsewhere it is emulated and slow, so
    # ``auto`` times it only on such CPUs. Lossy, like int8: chosen only under the agreement rule.
    TORCH_BF16 = "torch-bf16"
    # PyTorch on a CUDA GPU (docqa.pipelines.components.gpu): fp32 (exact) and fp16 weights (lossy: chosen
    # only under the agreement rule, like int8). ``auto`` times them only when PyTorch sees a GPU.
    CUDA = "cuda"
    CUDA_FP16 = "cuda-fp16"

    @classmethod
    def option_name(cls) -> str:
        return "reader backend"


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def limit_torch_threads(num_threads: int | None = None) -> None:
    """PyTorch's intra-op threads: ``num_threads``, else no more than the cores this process may use (more
    threads than cores only add contention on a small or shared machine)."""
    import torch

    wanted = num_threads or min(torch.get_num_threads(), available_cores())
    if wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)


def cpu_session(model_path: Path, num_threads: int | None = None):  # -> onnxruntime.InferenceSession
    """An ONNX Runtime CPU session as every DocQA model runs: one intra-op thread per available core (or
    ``num_threads``), sequential execution, all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or available_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def length_sorted_batches(windows: Sequence[Window], batch_size: int,
                          max_padding: float | None = None) -> list[list[int]]:
    """Indices of ``windows`` grouped into batches of similar length (longest first).

    A batch closes when it holds ``batch_size`` windows or (with ``max_padding``; inference passes
    :data:`MAX_PADDING`, training keeps fixed batches) when adding the next (shorter) window would make
    padding exceed ``max_padding`` of the batch's real tokens. Why: a question's windows range from
    ~100 to 384 tokens; fixed batches of 8 padded 8 of them to the longest (58.8k tokens computed for
    39.4k real ones on the benchmark's 20 questions × 10 paragraphs; Haystack pads all to the longest:
    69.2k). Windows of equal length (full 384-token windows of long passages) still share a batch.
    Measured (bert-base forward passes, 6 benchmark questions, 2 shared cores): capped batches 12.1 s vs
    fixed batches of 4 13.5 s in one run; fixed 4 vs fixed 8 13.3 s vs 17.1 s in another.

    Cap 5% rather than 15%: on this CPU class the forward passes are 99% of a question's time and
    ONNX Runtime's GEMMs run as fast on 1-4 windows as on 8 (~200+ rows each), so every padded token
    is lost time. Benchmark workload (20 questions × 10 paragraphs, 39.4k real tokens): cap 15% computes
    43.5k tokens (7.76 TFLOP), cap 5% 40.2k (7.16 TFLOP, −8%), one window per batch 39.4k (7.01);
    Haystack's one padded batch 69.2k (12.63 TFLOP). Interleaved on 2 shared AVX2 cores (8 questions):
    ×Haystack 2.12 (cap 15%, batches of 8), 2.17 (cap 5%, batches of 4), 2.11 (one window per batch).
    """
    order = sorted(range(len(windows)), key=lambda i: windows[i].length, reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        length = windows[i].length
        if current:
            longest = windows[current[0]].length
            too_padded = max_padding is not None and longest * (len(current) + 1) > (1 + max_padding) * (
                real + length)
            if len(current) >= batch_size or too_padded:
                batches.append(current)
                current, real = [], 0
        current.append(i)
        real += length
    if current:
        batches.append(current)
    return batches


class ReaderBackend:
    """Common driver: batching and un-batching; subclasses implement :meth:`_forward`."""

    name = "base"

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, pad_token_id: int = 0) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.pad_token_id = pad_token_id
        self.max_padding: float | None = MAX_PADDING

    def _forward(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def logits(self, windows: Sequence[Window]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(start_logits, end_logits)`` for every window, in the order given, trimmed to its length."""
        out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(windows)
        for idx in length_sorted_batches(windows, self.batch_size, self.max_padding):
            group = [windows[i] for i in idx]
            start, end = self._forward(pad_batch(group, self.pad_token_id))
            for row, i in enumerate(idx):
                n = windows[i].length
                out[i] = (start[row, :n], end[row, :n])
        return out  # type: ignore[return-value]


# backend name -> (torch dtype name, device); ``TorchBackend`` runs all of them
TORCH_RUNTIMES = {
    ReaderBackendName.TORCH: ("float32", "cpu"),
    ReaderBackendName.TORCH_BF16: ("bfloat16", "cpu"),
    ReaderBackendName.CUDA: ("float32", "cuda"),
    ReaderBackendName.CUDA_FP16: ("float16", "cuda"),
}


class TorchBackend(ReaderBackend):
    """Eager PyTorch under ``torch.inference_mode``: fp32 or bf16 weights on the CPU, fp32 or fp16 on a
    CUDA GPU (``device``; there batches may pad up to :data:`GPU_MAX_PADDING`)."""

    name = "torch"

    def __init__(self, model_dir: Path, batch_size: int = DEFAULT_BATCH_SIZE, num_threads: int | None = None,
                 pad_token_id: int = 0, *, dtype: str = "float32", device: str = "cpu") -> None:
        super().__init__(batch_size, pad_token_id)
        gpu = device.startswith("cuda")
        import torch
        from transformers import AutoModelForQuestionAnswering

        limit_torch_threads(num_threads)
        self._torch = torch
        self.name = next((n.value for n, runtime in TORCH_RUNTIMES.items()
                          if runtime == (dtype, "cuda" if gpu else "cpu")), f"torch-{dtype}-{device}")
        if gpu:
            self.max_padding = GPU_MAX_PADDING
        self.device = torch.device(device)
        self.model = AutoModelForQuestionAnswering.from_pretrained(
            model_dir, dtype=getattr(torch, dtype)).eval().to(self.device)
        # inspect.signature sees through transformers' forward decorators (``__code__`` does not)
        self._accepts_types = "token_type_ids" in inspect.signature(self.model.forward).parameters

    def _forward(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        inputs = {k: torch.from_numpy(v).to(self.device, non_blocking=True) for k, v in batch.items()
                  if k != "token_type_ids" or self._accepts_types}
        with torch.inference_mode():
            out = self.model(**inputs)
        return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()


class OnnxBackend(ReaderBackend):
    """ONNX Runtime on the fused (fp32) or fused + dynamically quantised (int8) export."""

    def __init__(self, model_path: Path, batch_size: int = DEFAULT_BATCH_SIZE, num_threads: int | None = None,
                 pad_token_id: int = 0, name: str = "onnx") -> None:
        super().__init__(batch_size, pad_token_id)
        self.session = cpu_session(model_path, num_threads)
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.name = name
        self.model_path = model_path

    def _forward(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        feeds = {k: v for k, v in batch.items() if k in self.input_names}
        if "token_type_ids" in self.input_names and "token_type_ids" not in feeds:
            feeds["token_type_ids"] = np.zeros_like(batch["input_ids"])
        start, end = self.session.run(["start_logits", "end_logits"], feeds)
        return start, end


# ---------------------------------------------------------------------------------------------- export


def export_fingerprint(model_dir: Path) -> str:
    """The weights plus the export format: a cached export is rebuilt when either changes."""
    return model_fingerprint(model_dir, f"v{EXPORT_FORMAT_VERSION}")


def is_writable_dir(path: Path) -> bool:
    """Writable *and meant to be written*: root passes ``os.access`` even on ``r-x`` directories, so the
    mode bits are checked too (a read-only model directory must stay untouched, whoever runs us)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def onnx_cache_dir(model_dir: Path) -> Path:
    """Where the exports of ``model_dir`` live (see module docstring)."""
    model_dir = Path(model_dir)
    if is_writable_dir(model_dir):
        return model_dir / DERIVED_DIR_NAME
    return cache_root() / "onnx" / export_fingerprint(model_dir)


def _export_fp32(model_dir: Path, out_path: Path) -> tuple[list[str], str, int, int]:
    import torch
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # Eager attention exports to the plain MatMul/Softmax pattern that ORT's fusion recognises.
    model = AutoModelForQuestionAnswering.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names:
        names.append("token_type_ids")

    class _QA(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args):  # noqa: ANN002 - positional inputs in ``names`` order
            out = self.model(**dict(zip(names, args, strict=True)))
            return out.start_logits, out.end_logits

    dummy = tuple(torch.ones(2, 16, dtype=torch.long) if n != "token_type_ids"
                  else torch.zeros(2, 16, dtype=torch.long) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "start_logits", "end_logits"]}
    with torch.no_grad():
        torch.onnx.export(_QA(), dummy, str(out_path), input_names=names,
                          output_names=["start_logits", "end_logits"], dynamic_axes=axes,
                          opset_version=17, do_constant_folding=True, dynamo=False)
    return names, config.model_type, config.num_attention_heads, config.hidden_size


def int8_matmul_roles(model_path: Path) -> dict[str, str]:
    """Role of each MatMul of the fused graph: ``"attention_output"``, ``"ffn_in"``, ``"ffn_out"``,
    ``"qa_head"`` or ``"other"`` (names come from the PyTorch module paths of BERT-like models)."""
    import onnx

    roles = {}
    for node in onnx.load(str(model_path), load_external_data=False).graph.node:
        if node.op_type != "MatMul":
            continue
        name = node.name
        if "qa_outputs" in name:
            roles[name] = "qa_head"
        elif "/attention/output/" in name:
            roles[name] = "attention_output"
        elif "/intermediate/" in name:
            roles[name] = "ffn_in"
        elif "/output/dense/" in name:
            roles[name] = "ffn_out"
        else:
            roles[name] = "other"
    return roles


def to_blockwise_int8(model, node_names: set[str], block_size: int = INT8_BLOCK_SIZE):
    """Replace the MatMuls in ``node_names`` (constant weight ``[K, N]``) by ONNX Runtime's
    ``com.microsoft.MatMulNBits`` with 8-bit symmetric weights, one scale per ``block_size`` input
    channels of each output column, and ``accuracy_level=4`` (activations quantised to int8 per block of
    each token at run time, int8 dot products).

    Why: dynamic ``MatMulInteger`` quantisation uses one activation scale per *tensor*, and the inputs
    of the feed-forward blocks (LayerNorm outputs, GELU outputs) have a few tokens/channels far larger
    than the rest, so most values round to a handful of levels; per-block scales keep them apart.
    (Written here because ORT's own ``MatMulNBitsQuantizer`` needs the ``onnx_ir`` package.)
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type != "MatMul" or node.name not in node_names or node.input[1] not in weights:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        k, n = w.shape
        blocks = -(-k // block_size)
        padded = np.zeros((blocks * block_size, n), dtype=np.float32)
        padded[:k] = w
        per_block = padded.T.reshape(n, blocks, block_size)
        scales = np.maximum(np.abs(per_block).max(axis=2), 1e-12) / 127.0
        # default zero point of 8-bit MatMulNBits is 128: stored value = round(w / scale) + 128
        quantised = (np.clip(np.round(per_block / scales[:, :, None]), -127, 127) + 128).astype(np.uint8)
        base = node.input[1]
        graph.initializer.extend([numpy_helper.from_array(quantised, base + "_int8_blocks"),
                                  numpy_helper.from_array(scales.reshape(-1).astype(np.float32),
                                                          base + "_int8_scales")])
        nodes.append(helper.make_node(
            "MatMulNBits", [node.input[0], base + "_int8_blocks", base + "_int8_scales"], list(node.output),
            name=node.name + "_int8", domain="com.microsoft",
            K=k, N=n, bits=8, block_size=block_size, accuracy_level=4))
    used = {name for node in nodes for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model


def quantize_int8(fused: Path, out_path: Path) -> None:
    """The int8 recipe, chosen by measurement (shared test reader, 449 SQuAD questions, top answer and
    F1 at best τ vs fp32; see benchmarks/reader.py's docstring for the table):

    - attention-output MatMuls: dynamic int8 (``MatMulInteger``, per-channel weights) — insensitive;
    - feed-forward MatMuls: 8-bit blockwise weights and activations (:func:`to_blockwise_int8`) —
      per-tensor dynamic quantisation of these alone cost 15 points of agreement;
    - fused attention (QKV projections) and the QA head stay fp32; so do the embeddings (ORT's default
      also quantises the embedding ``Gather``, which cost 5 points).

    Agreement 96.2%, F1 −0.4 (everything per-tensor dynamic: 80%, F1 −1.7, but about 2× faster).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    roles = int8_matmul_roles(fused)
    staged = out_path.with_name(out_path.stem + ".staged.onnx")
    quantize_dynamic(str(fused), str(staged), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"],
                     nodes_to_exclude=[n for n, role in roles.items() if role != "attention_output"],
                     # fused ops (Attention, SkipLayerNorm) live in the com.microsoft domain where ONNX
                     # shape inference cannot type their outputs; they are float tensors
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    model = onnx.load(str(staged))
    staged.unlink()
    blockwise = {n for n, role in roles.items() if role in ("ffn_in", "ffn_out")}
    onnx.save(to_blockwise_int8(model, blockwise), str(out_path))


def _build_exports(model_dir: Path, target: Path) -> None:
    """Export, fuse and quantise into a fresh directory, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        raw = work / "raw.onnx"
        names, model_type, heads, hidden = _export_fp32(model_dir, raw)
        fused = work / "model-fp32.onnx"
        fusion = _FUSABLE_MODEL_TYPES.get(model_type)
        if fusion:
            from onnxruntime.transformers.optimizer import optimize_model

            optimized = optimize_model(str(raw), model_type=fusion, num_heads=heads, hidden_size=hidden)
            optimized.save_model_to_file(str(fused))
            fused_ops = optimized.get_fused_operator_statistics()
        else:
            logger.warning("No ONNX graph fusion for model type %s; ONNX may be slower than torch",
                           model_type)
            shutil.copyfile(raw, fused)
            fused_ops = {}
        raw.unlink()
        quantize_int8(fused, work / "model-int8.onnx")
        manifest = {"source": str(model_dir.resolve()), "fingerprint": export_fingerprint(model_dir),
                    "inputs": names, "model_type": model_type,
                    "int8": f"attention output: dynamic int8 per-channel; feed-forward: MatMulNBits 8-bit "
                            f"block {INT8_BLOCK_SIZE}; attention QKV, QA head, embeddings: fp32",
                    "fused_operators": {k: v for k, v in fused_ops.items() if v}}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        if target.exists():
            shutil.rmtree(target)
        # A whole directory is moved into place, which docqa.atomic (one file at a time) does not do:
        # the rename is atomic, the export lock serialises writers, and a crash before it leaves only
        # the temporary ``.export-*`` directory, which is removed below or ignored (no manifest).
        os.replace(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def ensure_onnx_exports(model_dir: Path) -> Path:
    """Directory with ``model-fp32.onnx`` (fused) and ``model-int8.onnx`` for ``model_dir``, exporting
    once (under a file lock, so parallel processes do not export twice)."""
    from filelock import FileLock

    model_dir = Path(model_dir)
    target = onnx_cache_dir(model_dir)
    fingerprint = export_fingerprint(model_dir)

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
            logger.info("Exporting %s to ONNX in %s (once)", model_dir, target)
            _build_exports(model_dir, target)
    return target


def load_backend(name: str | ReaderBackendName, model_dir: Path, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 num_threads: int | None = None, pad_token_id: int = 0) -> ReaderBackend:
    """Backend by name: ``"torch"``, ``"torch-bf16"``, ``"onnx-fp32"``, ``"onnx-int8"``, ``"cuda"`` or
    ``"cuda-fp16"`` (or a :class:`ReaderBackendName`;
    ``"auto"`` is resolved to one of these by
    :class:`~docqa.pipelines.components.readers.reader.DocQAReader`).

    :raises ConfigError: for an unknown name (the message lists the valid ones).
    """
    kind = ReaderBackendName.from_str(name)
    if kind is ReaderBackendName.AUTO:
        raise ConfigError("'auto' is not a runtime: DocQAReader.warm_up resolves it by measuring "
                          "(docqa.pipelines.components.readers.auto_backend)")
    if kind in TORCH_RUNTIMES:
        dtype, device = TORCH_RUNTIMES[kind]
        if device == "cuda" and not cuda_available():
            raise ConfigError(f"The reader backend '{kind.value}' needs a CUDA GPU that PyTorch can use, and "
                              f"there is none here (or DOCQA_CUDA=0): use 'auto', 'onnx-fp32' or 'torch'")
        if device == "cuda" and batch_size == DEFAULT_BATCH_SIZE:
            batch_size = GPU_BATCH_SIZE  # the CPU's default is far too small a batch for a GPU
        return TorchBackend(Path(model_dir), batch_size, num_threads, pad_token_id, dtype=dtype,
                            device=device)
    exports = ensure_onnx_exports(Path(model_dir))
    file = "model-fp32.onnx" if kind is ReaderBackendName.ONNX_FP32 else "model-int8.onnx"
    return OnnxBackend(exports / file, batch_size, num_threads, pad_token_id, name=kind.value)
