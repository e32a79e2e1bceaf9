"""Passage and query embedders: one shared sentence encoder per model per process, fast on CPU.

Why not Haystack's ``SentenceTransformers*Embedder``: on these 2-core CPUs it embeds ~20–35 passages/s.
The ONNX backends export the same sentence-transformers model once to ONNX (``torch.onnx.export``),
fuse attention/LayerNorm/GELU with ``onnxruntime.transformers.optimizer``, (int8) apply per-channel
dynamic int8 quantisation, and cache the result on disk. The default, ``auto``, *measures* torch, ONNX
fp32 and ONNX int8 for the model on this CPU once and uses the fastest that keeps the nearest passages
of fp32 for ≥ 97% of calibration questions (:mod:`docqa.pipelines.components.embedders.auto_backend`): int8
wins on AVX-512 VNNI CPUs, not necessarily on AVX2-only ones. Measured on the SQuAD dev + distractor corpus
(``benchmarks/ingest_retrieve.py``): ~3x the stock embedder's throughput, cosine to the fp32 vectors
>= 0.98 (mean 0.994), dense recall unchanged. Per-tensor int8 (and torch dynamic int8) fall to cosine
~0.93 and lose recall, so they are not offered. ``backend="torch"`` keeps the plain
sentence-transformers path (``auto`` measures without the ONNX candidates, with a warning, if the export
cannot be done).

Loading is shared: :func:`get_encoder` returns the same encoder for the same model directory and
backend everywhere in the process (ingest, search, HTTP service), loaded once under a lock.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import deserialize_callable, serialize_callable

from docqa import config
from docqa.atomic import atomic_writer
from docqa.choices import Choice
from docqa.config import PACKAGED_EMBEDDING_MODEL
from docqa.errors import ConfigError
from docqa.pipelines.components.fast_tokenizer import load_fast_tokenizer
from docqa.pipelines.components.measured_choice import BackendChoice, runtime_version
from docqa.pipelines.model_loading import cache_root, model_fingerprint, resolve_model_dir

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

# Bump when the export recipe changes so stale cached graphs are not reused.
_EXPORT_RECIPE = "v1-eager-fused-qint8pc"
# Texts per forward pass on a GPU (the CPU path keeps the caller's 32): not yet measured on a GPU here.
GPU_BATCH_SIZE = 256


class EmbeddingBackend(Choice):
    """How the sentence encoder runs.

    ``AUTO`` (default) is whichever of the others was measured fastest for this model on this CPU while
    keeping fp32's nearest passages (cached; see :mod:`~docqa.pipelines.components.embedders.auto_backend`).
    ``.value`` is the documented name (and what benchmarks record); a ``str`` subclass, so plain strings
    compare equal and callers may pass either.
    """

    AUTO = "auto"
    ONNX_INT8 = "onnx-int8"
    ONNX = "onnx"
    TORCH = "torch"
    # sentence-transformers on a CUDA GPU (docqa.pipelines.components.gpu): fp32, and fp16 weights (lossy:
    # used only when it keeps fp32's nearest passages, like int8). ``auto`` times them only with a GPU.
    CUDA = "cuda"
    CUDA_FP16 = "cuda-fp16"

    @classmethod
    def option_name(cls) -> str:
        return "embedding backend"


def passage_text(doc: Document, embed_title: bool = False) -> str:
    """The text a passage is embedded as.

    Default: the passage content alone. Prefixing ``meta["title"]`` (underscores as spaces) was measured
    and did not help dense or hybrid recall on SQuAD (R@5 0.880 vs 0.885 dense) while costing tokens;
    the title is used by BM25 instead, where it helps.
    """
    content = doc.content or ""
    if embed_title:
        title = str((doc.meta or {}).get("title") or "").replace("_", " ").strip()
        if title:
            return f"{title}\n{content}"
    return content


class SentenceEncoder:
    """A sentence-transformers model (mean or CLS pooling) that returns L2-normalised float32 vectors."""

    def __init__(self, model_dir: Path, backend: str | EmbeddingBackend = EmbeddingBackend.AUTO,
                 threads: int | None = None) -> None:
        requested = EmbeddingBackend.from_str(backend)
        self.model_dir = Path(model_dir)
        self.threads = threads
        self._tok_lock = threading.Lock()
        st_cfg = _read_json(self.model_dir / "sentence_bert_config.json")
        self.max_seq_length = int(st_cfg.get("max_seq_length", 256))
        self.pooling = _pooling_mode(self.model_dir)
        self._session: Any = None
        self._st: Any = None
        self.min_batch_size = 1  # a GPU backend raises it: batches of 32 leave a GPU idle
        self._query_passes: Any = None  # SharedBatches over encode, when queries share passes
        # The backend actually in use (never AUTO), and how it was chosen.
        self.backend: EmbeddingBackend
        self.choice: BackendChoice = BackendChoice(backend=requested.value, chosen_by="setting")
        if requested is EmbeddingBackend.AUTO:
            self._adopt_measured_choice()
            return
        if requested in (EmbeddingBackend.TORCH, EmbeddingBackend.CUDA, EmbeddingBackend.CUDA_FP16):
            self._load_torch(requested)
            self.backend = requested
            if requested is not EmbeddingBackend.TORCH:
                self.share_queries()  # one GPU for every thread: concurrent queries share its passes
            return
        quantize = requested is not EmbeddingBackend.ONNX
        self._load_onnx(quantize=quantize)
        self.backend = EmbeddingBackend.ONNX_INT8 if quantize else EmbeddingBackend.ONNX

    def _adopt_measured_choice(self) -> None:
        """Become the encoder ``auto`` chose (measuring once per model and CPU, then from the cache)."""
        from docqa.pipelines.components.embedders.auto_backend import choose_embedding_backend

        def load(name: str) -> SentenceEncoder:
            return SentenceEncoder(self.model_dir, backend=name, threads=self.threads)

        choice, winner = choose_embedding_backend(self.model_dir, load)
        if winner is None:
            try:
                winner = load(choice.backend)
            except Exception as err:  # cached choice, but the export fails now: torch always works
                logger.warning("ONNX backend %s of %s failed (%s); using torch", choice.backend,
                               self.model_dir, err)
                winner = load(EmbeddingBackend.TORCH.value)
        self.__dict__.update({k: v for k, v in vars(winner).items() if k != "choice"})
        self.choice = choice

    # ----- loading ------------------------------------------------------------------------------------
    def _load_torch(self, kind: EmbeddingBackend = EmbeddingBackend.TORCH) -> None:
        from sentence_transformers import SentenceTransformer

        from docqa.pipelines.components.gpu import cuda_available

        gpu = kind is not EmbeddingBackend.TORCH
        if gpu and not cuda_available():
            raise ConfigError(f"The embedding backend '{kind.value}' needs a CUDA GPU that PyTorch can use, "
                              "and there is none here (or DOCQA_CUDA=0): use 'auto', 'onnx' or 'torch'")
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        self._st = SentenceTransformer(str(self.model_dir), device="cuda" if gpu else "cpu")
        if kind is EmbeddingBackend.CUDA_FP16:
            self._st.half()
        if gpu:
            self.min_batch_size = GPU_BATCH_SIZE
        self.tokenizer = self._st.tokenizer
        st = self._st
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def _load_onnx(self, quantize: bool) -> None:
        import onnxruntime as ort

        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling '{self.pooling}' is not supported by the ONNX path")
        # tokenizers alone when it reproduces the tokenizer: no transformers import (fast_tokenizer.py)
        self.tokenizer = load_fast_tokenizer(self.model_dir)
        if self.tokenizer is None:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        path = _exported_graph(self.model_dir, self.pooling, quantize)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self._session.get_inputs()}
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def share_queries(self, window_s: float = 0.0, workers: int = 1) -> bool:
        """Embed queries asked at the same time from several threads (a service's concurrent ``/ask``) in
        shared forward passes: :meth:`encode_query` then goes through
        :class:`~docqa.pipelines.components.readers.shared_batches.SharedBatches`, as the reader's windows do
        with :meth:`DocQA.share_reading`. A query's vector is the one it gets alone (up to float rounding of
        a differently padded batch). On by default on a GPU; on the CPU only with shared reading (a query
        is 1-3 ms of a 150-250 ms question there: ``benchmarks/shared_queries.py``). Not on
        ``onnx-int8``, where a vector depends on its batch-mates (returns False; see
        :data:`~docqa.pipelines.components.readers.shared_batches.BATCH_DEPENDENT_RUNTIMES`)."""
        from docqa.pipelines.components.readers.shared_batches import SharedBatches, batch_independent

        if not batch_independent(self.backend.value):
            logger.info("Queries are embedded alone on the %s runtime (shared passes would change their "
                        "vectors)", self.backend.value)
            return False
        self._query_passes = SharedBatches(_EncodeCalls(self), window_s, workers=workers)
        return True

    def encode_query(self, text: str) -> np.ndarray:
        """One query's vector; in a pass shared with concurrent queries when :meth:`share_queries` is on."""
        if self._query_passes is not None:
            return self._query_passes.logits([text])[0]
        return self.encode([text])[0]

    # ----- encoding -----------------------------------------------------------------------------------
    def encode(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Embed ``texts`` (any order) -> ``(len(texts), dim)`` float32, each row of unit length.

        Texts are processed longest first so each batch pads to similar lengths; tokens beyond the model's
        ``max_seq_length`` (256 for MiniLM) are truncated, as sentence-transformers does.
        """
        total = len(texts)
        out = np.zeros((total, self.dim), dtype=np.float32)
        if total == 0:
            return out
        batch_size = max(batch_size, self.min_batch_size)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        done = 0
        for start in range(0, total, batch_size):
            idx = order[start : start + batch_size]
            batch = [texts[i] for i in idx]
            out[idx] = self._encode_batch(batch)
            done += len(idx)
            if progress is not None:
                progress(done, total)
        return out

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        if self._st is not None:
            vecs = self._st.encode(
                batch, batch_size=len(batch), convert_to_numpy=True, show_progress_bar=False
            )
            return _l2_normalise(np.asarray(vecs, dtype=np.float32))
        with self._tok_lock:  # fast tokenizers are not safe to call from several threads at once
            enc = self.tokenizer(
                batch, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np"
            )
        feeds = {k: np.asarray(v, dtype=np.int64) for k, v in enc.items() if k in self._input_names}
        if "token_type_ids" in self._input_names and "token_type_ids" not in feeds:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        vecs = self._session.run(None, feeds)[0]
        return _l2_normalise(np.asarray(vecs, dtype=np.float32))


class _EncodeCalls:
    """``SharedBatches`` calls ``logits(items)``: here the items are texts and the results their vectors."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder

    def logits(self, texts: Sequence[str]) -> list[np.ndarray]:
        return list(self.encoder.encode(list(texts)))


def _l2_normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return (vecs / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _pooling_mode(model_dir: Path) -> str:
    """The sentence-transformers pooling of ``model_dir`` ("mean" if it has no pooling config)."""
    modules = _read_json(model_dir / "modules.json") if (model_dir / "modules.json").exists() else []
    for module in modules if isinstance(modules, list) else []:
        if str(module.get("type", "")).endswith("Pooling"):
            cfg = _read_json(model_dir / module.get("path", "1_Pooling") / "config.json")
            if cfg.get("pooling_mode_cls_token"):
                return "cls"
            if cfg.get("pooling_mode_mean_tokens", True):
                return "mean"
            return "other"
    return "mean"


def _model_fingerprint(model_dir: Path) -> str:
    """The weights plus the export recipe and toolchain that turned them into the cached graph."""
    versions = f"{runtime_version('torch')}|{runtime_version('onnxruntime')}"  # read, not imported
    return model_fingerprint(model_dir, f"{_EXPORT_RECIPE}|{versions}")


_EXPORT_LOCK = threading.Lock()


def _exported_graph(model_dir: Path, pooling: str, quantize: bool) -> Path:
    """Path of the cached optimised (and int8) ONNX graph for ``model_dir``; export it on first use.

    The graph is built in a temporary directory and written into place with :mod:`docqa.atomic`, so a
    crash or a concurrent process never leaves a half-written model in the cache.

    The int8 graph is quantised from the cached fp32 one (exported first if need be) rather than
    exported again: the export and fusion are the same, and doing them twice cost a first-ever ingest,
    which measures both graphs, 2.4 s of 3.4 s per graph (cProfile, 2 busy cores).
    """
    name = "model-int8.onnx" if quantize else "model-fp32.onnx"
    target_dir = cache_root() / "embedding-onnx" / f"{model_dir.name}-{_model_fingerprint(model_dir)}"
    target = target_dir / name
    if target.exists():
        return target
    fp32 = _exported_graph(model_dir, pooling, quantize=False) if quantize else None
    with _EXPORT_LOCK:
        if target.exists():
            return target
        target_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target_dir, prefix=".export-") as tmp:
            built = _quantize(fp32, Path(tmp)) if fp32 is not None else _export(model_dir, pooling, Path(tmp))
            # One copy of a graph of some tens of MB, once per model: cheap next to the export itself.
            with built.open("rb") as source, atomic_writer(target) as out:
                shutil.copyfileobj(source, out, 1 << 20)
    return target


def _export(model_dir: Path, pooling: str, workdir: Path) -> Path:
    """torch.onnx.export (eager attention, so ORT can fuse it) -> ORT BERT fusion (fp32)."""
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))

    class _Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001 - traced
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    sample = tokenizer(["a short sentence", "another, somewhat longer sentence to trace"], padding=True,
                       return_tensors="pt")
    token_type_ids = sample.get("token_type_ids")
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(sample["input_ids"])
    raw = workdir / "raw.onnx"
    dyn = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Pooled(model),
            (sample["input_ids"], sample["attention_mask"], token_type_ids),
            str(raw),
            dynamo=False,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "token_type_ids": dyn,
                          "embedding": {0: "batch"}},
            opset_version=17,
        )
    fused = workdir / "fused.onnx"
    opt = optimizer.optimize_model(
        str(raw), model_type="bert",
        num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
        hidden_size=int(getattr(config, "hidden_size", 0) or 0),
    )
    opt.save_model_to_file(str(fused))
    return fused


def _quantize(fused: Path, workdir: Path) -> Path:
    """Per-channel dynamic int8 of the fused fp32 graph ``fused``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = workdir / "int8.onnx"
    root = logging.getLogger()
    was_disabled = root.disabled
    root.disabled = True  # quantize_dynamic logs a "consider pre-processing" hint on the root logger
    try:
        quantize_dynamic(
            str(fused), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.disabled = was_disabled
    return quantized


_ENCODERS: dict[tuple[str, str, int | None], SentenceEncoder] = {}
_ENCODERS_LOCK = threading.Lock()
_LOAD_COUNT: dict[tuple[str, str, int | None], int] = {}


def get_encoder(
    model: str = PACKAGED_EMBEDDING_MODEL,
    backend: str | EmbeddingBackend = EmbeddingBackend.AUTO,
    threads: int | None = None,
) -> SentenceEncoder:
    """The process-wide encoder for ``model`` (resolved like every DocQA model); loaded at most once.

    :raises ConfigError: for an unknown backend name.
    :raises docqa.pipelines.model_loading.ModelUnavailableError: when the model cannot be found or fetched.
    """
    kind = EmbeddingBackend.from_str(backend)
    model_dir = resolve_model_dir(model, role="embedding", env_var=config.EMBEDDING_MODEL)
    # Keyed by the name, not the member: "auto" and EmbeddingBackend.AUTO must find the same encoder.
    key = (str(Path(model_dir).resolve()), kind.value, threads)
    encoder = _ENCODERS.get(key)
    if encoder is not None:
        return encoder
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(key)
        if encoder is None:
            encoder = SentenceEncoder(Path(model_dir), backend=kind, threads=threads)
            _ENCODERS[key] = encoder
            _LOAD_COUNT[key] = _LOAD_COUNT.get(key, 0) + 1
    return encoder


def encoder_load_count() -> int:
    """How many encoders this process has loaded (for tests that check models load once)."""
    return sum(_LOAD_COUNT.values())


def clear_cached_graphs() -> None:
    """Delete exported ONNX graphs (they are rebuilt on next use). For troubleshooting."""
    shutil.rmtree(cache_root() / "embedding-onnx", ignore_errors=True)


class _SharedEncoderUser:
    """What both embedders do with their encoder: fetch the process-wide one lazily, in ``warm_up``.

    Subclasses set ``model``, ``backend``, ``threads`` and ``_encoder = None`` in ``__init__``.
    """

    model: str
    backend: EmbeddingBackend
    threads: int | None
    _encoder: SentenceEncoder | None

    def warm_up(self) -> None:
        """Load (or fetch the shared) encoder; raises ModelUnavailableError when the model is missing."""
        if self._encoder is None:
            self._encoder = get_encoder(self.model, self.backend, self.threads)

    @property
    def encoder(self) -> SentenceEncoder:
        """The loaded encoder (``.choice`` says which backend ``auto`` chose and why)."""
        self.warm_up()
        assert self._encoder is not None
        return self._encoder


@component
class PassageEmbedder(_SharedEncoderUser):
    """Embed passages: returns copies of the Documents with ``embedding`` (unit-length float32 list).

    Usage::

        from haystack import Document
        from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder

        embedder = PassageEmbedder()  # the packaged all-MiniLM-L6-v2, ONNX int8 when it exports
        embedder.warm_up()  # loads (or reuses) the process-wide encoder; exports to ONNX once per model
        docs = embedder.run(documents=[Document(content="The Normans gave their name to Normandy.")])
        len(docs["documents"][0].embedding)  # 384

        same = PassageEmbedder.from_dict(embedder.to_dict())

    :param model: Hub id, local directory, or the packaged MiniLM (default).
    :param backend: ``"auto"`` (default), ``"onnx-int8"``, ``"onnx"`` or ``"torch"``, or an
        :class:`EmbeddingBackend`.
    :param batch_size: texts per forward pass.
    :param embed_title: prefix ``meta["title"]`` to the content (see :func:`passage_text`).
    :param threads: intra-op threads; ``None`` = the runtime's default.
    :param progress: ``callable(done, total)`` called after each batch, e.g. to drive a rich progress bar.
        :meth:`to_dict` stores it by import path, so only a module-level function survives a round trip.
    """

    def __init__(
        self,
        model: str = PACKAGED_EMBEDDING_MODEL,
        *,
        backend: str | EmbeddingBackend = EmbeddingBackend.AUTO,
        batch_size: int = 32,
        embed_title: bool = False,
        threads: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.model = model
        self.backend = EmbeddingBackend.from_str(backend)
        self.batch_size = batch_size
        self.embed_title = embed_title
        self.threads = threads
        self.progress = progress
        self._encoder: SentenceEncoder | None = None

    def to_dict(self) -> dict[str, Any]:
        """Init parameters for ``Pipeline.dumps``/:meth:`from_dict` (the backend by name).

        :raises haystack.core.errors.SerializationError: when ``progress`` is a lambda or a bound method.
        """
        return default_to_dict(
            self,
            model=self.model,
            backend=self.backend.value,
            batch_size=self.batch_size,
            embed_title=self.embed_title,
            threads=self.threads,
            progress=serialize_callable(self.progress) if self.progress else None,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PassageEmbedder:
        """An embedder with the settings of :meth:`to_dict`'s output; not loaded until :meth:`warm_up`."""
        params = dict(data.get("init_parameters", {}))
        if params.get("progress"):
            params["progress"] = deserialize_callable(params["progress"])
        return default_from_dict(cls, {**data, "init_parameters": params})

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document], progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Embed ``documents`` (title + content as :func:`passage_text` decides); inputs are not mutated."""
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise TypeError("PassageEmbedder.run expects a list of haystack Documents")
        texts = [passage_text(d, self.embed_title) for d in documents]
        vecs = self.encoder.encode(texts, batch_size=self.batch_size, progress=progress or self.progress)
        return {"documents": [replace(d, embedding=v.tolist()) for d, v in zip(documents, vecs, strict=True)]}


@component
class QueryEmbedder(_SharedEncoderUser):
    """Embed one query string into a unit-length float32 vector (as a list, like Haystack's embedders).

    Shares the process-wide encoder with :class:`PassageEmbedder` for the same model and backend, so
    queries and passages are embedded by one loaded model.

    Usage::

        from docqa.pipelines.components.embedders.sentence_embedders import QueryEmbedder

        embedder = QueryEmbedder()
        embedder.warm_up()
        vector = embedder.run(text="Which university is in Cambridge?")["embedding"]  # 384 floats

        same = QueryEmbedder.from_dict(embedder.to_dict())

    :param model: Hub id, local directory, or the packaged MiniLM (default).
    :param backend: as for :class:`PassageEmbedder`.
    :param threads: intra-op threads; ``None`` = the runtime's default.
    """

    def __init__(
        self,
        model: str = PACKAGED_EMBEDDING_MODEL,
        *,
        backend: str | EmbeddingBackend = EmbeddingBackend.AUTO,
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.backend = EmbeddingBackend.from_str(backend)
        self.threads = threads
        self._encoder: SentenceEncoder | None = None

    def to_dict(self) -> dict[str, Any]:
        """Init parameters for ``Pipeline.dumps``/:meth:`from_dict` (the backend by name)."""
        return default_to_dict(self, model=self.model, backend=self.backend.value, threads=self.threads)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryEmbedder:
        """An embedder with the settings of :meth:`to_dict`'s output; not loaded until :meth:`warm_up`."""
        return default_from_dict(cls, data)

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        """Embed ``text``; warms up on first use when the caller did not."""
        if not isinstance(text, str):
            raise TypeError("QueryEmbedder.run expects a string")
        self.warm_up()
        assert self._encoder is not None
        return {"embedding": self._encoder.encode_query(text).tolist()}
