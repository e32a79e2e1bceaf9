"""DocQA's reranker: a cross-encoder reads each (question, passage) pair and reorders retrieval's top N.

Why: hybrid retrieval scores a passage from the question's vector and its words, never both texts
together; a cross-encoder attends across question and passage and tells "about the same topic" from
"answers it". On SQuAD 2.0 articles no model was tuned on, hybrid retrieval puts the right passage first
for 81% of questions (issue 20); the reader can only be as right as what it reads. The bundled model
(``data/reranker``, see its TRAINING.md) is trained on our own question style with hard negatives mined
by our own retrieval (``scripts/mine_reranker_data.py``, ``scripts/train_reranker.py``).

Where it sits: ``retriever`` (hybrid, top ``candidates``) → ``reranker`` (top ``top_k``) → ``reader``
(:mod:`docqa.pipelines.query`). The order is the cross-encoder's logit fused with the retriever's score
(:mod:`~docqa.pipelines.components.rankers.fusion`; the weight ships with the model, chosen on dev
articles). Each returned passage has that fused score in ``score``, the logit in ``meta["rerank_score"]``,
and keeps the retriever's score in ``meta["retrieval_score"]`` and its rank in ``meta["retrieval_rank"]``.
Where retrieval is already sure — its best candidate stands ``confident_gap`` standard deviations above
the second (:func:`~docqa.pipelines.components.rankers.fusion.confidence_gap`; the gap ships in
``reranker.json``, chosen on dev articles) — the cross-encoder is not run: the passages keep retrieval's
order and ``meta["rerank_skipped"]`` is True. That skips most questions at no loss of R@1 on dev.

Runtime: ``auto`` (default) measures torch / ONNX fp32 / ONNX int8 (and torch-bf16 where bf16 is native)
once per model and CPU and caches the choice (:mod:`~docqa.pipelines.components.rankers.auto_backend`).
Loading is shared per process: every ``DocQAReranker`` naming the same model and backend uses one loaded
model, so each Haystack pipeline can have its own component instance (Haystack's rule) at no extra cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from docqa.errors import ConfigError, UnavailableError
from docqa.pipelines.components.measured_choice import BackendChoice
from docqa.pipelines.components.rankers.backends import (
    DEFAULT_BATCH_SIZE,
    Pair,
    RerankerBackend,
    RerankerBackendName,
    load_backend,
)
from docqa.pipelines.components.rankers.cross_encoder import read_settings
from docqa.pipelines.components.rankers.fusion import confidence_gap, fused_scores
from docqa.pipelines.components.rankers.pairs import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MAX_QUESTION_TOKENS,
    PairFormat,
    pair_ids,
    token_ids,
)
from docqa.resources import data_path

BUNDLED = "bundled"
BUNDLED_DIR = "reranker"
# Passages reranked per question (N). 10, chosen on the 314 dev questions (scripts/fit_reranker_fusion.py,
# shipped model, fused): R@1 / MRR 0.898 / 0.930 at N = 5, 0.904 / 0.934 at 10, 0.904 / 0.935 at 15,
# 0.901 / 0.933 at 20 and 30 (hybrid alone 0.889 / 0.924): more candidates add nothing and cost a pair each.
DEFAULT_CANDIDATES = 10


class RerankerUnavailableError(UnavailableError):
    """No reranker model where one was asked for; ``str(err)`` says where it was looked for."""


def bundled_reranker_dir() -> Path:
    """Where the trained reranker ships (``data/reranker``)."""
    return data_path(BUNDLED_DIR)


def reranker_available(model: str = BUNDLED) -> bool:
    """Whether ``model`` (``"bundled"`` or a directory) holds a reranker."""
    directory = bundled_reranker_dir() if model == BUNDLED else Path(model).expanduser()
    return (directory / "config.json").is_file()


def resolve_reranker_dir(model: str) -> Path:
    """The directory of ``model`` (``"bundled"`` or a path).

    :raises RerankerUnavailableError: nothing there.
    """
    directory = bundled_reranker_dir() if model == BUNDLED else Path(model).expanduser()
    if not (directory / "config.json").is_file():
        what = "data/reranker is missing (reinstall DocQA)" if model == BUNDLED else "no config.json"
        raise RerankerUnavailableError(f"The reranker '{model}' is not available: {what} ({directory}). "
                                       "Search and answers work without it (DOCQA_RERANK=0 says so).")
    return directory.resolve()


@dataclass
class _Loaded:
    model_dir: Path
    backend: RerankerBackend
    tokenizer: Any
    fmt: PairFormat
    choice: BackendChoice
    lock: threading.Lock
    retrieval_weight: float = 0.0  # the model's fusion weight (reranker.json), chosen on dev articles
    confident_gap: float | None = None  # retrieval gap from which reranking is skipped (reranker.json)


_LOADED: dict[tuple[str, str, int | None, int], _Loaded] = {}
_LOADED_LOCK = threading.Lock()


def _load(model: str, backend: RerankerBackendName, num_threads: int | None, batch_size: int) -> _Loaded:
    from transformers import AutoTokenizer

    from docqa.pipelines.components.rankers.auto_backend import choose_reranker_backend

    model_dir = resolve_reranker_dir(model)
    settings = read_settings(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    fmt = PairFormat.of(tokenizer, int(settings.get("max_length", DEFAULT_MAX_LENGTH)),
                        int(settings.get("max_question_tokens", DEFAULT_MAX_QUESTION_TOKENS)))

    def load(kind: str) -> RerankerBackend:
        return load_backend(kind, model_dir, batch_size=batch_size, num_threads=num_threads,
                            pad_token_id=fmt.pad_id)

    def encode(question: str, passages: Sequence[str]) -> list[Pair]:
        return _pairs(tokenizer, fmt, question, passages)

    loaded: RerankerBackend | None = None
    if backend is RerankerBackendName.AUTO:
        choice, loaded = choose_reranker_backend(model_dir, load, encode)
    else:
        choice = BackendChoice(backend=backend.value, chosen_by="setting")
    gap = settings.get("confident_gap")
    return _Loaded(model_dir, loaded or load(choice.backend), tokenizer, fmt, choice, threading.Lock(),
                   float(settings.get("retrieval_weight", 0.0)), float(gap) if gap is not None else None)


def _pairs(tokenizer: Any, fmt: PairFormat, question: str, passages: Sequence[str]) -> list[Pair]:
    q = token_ids(tokenizer, [question], fmt.max_question_tokens)[0]
    return [pair_ids(q, p, fmt) for p in token_ids(tokenizer, list(passages), fmt.max_length)]


@component
class DocQAReranker:
    """Reorder passages by a cross-encoder's score for the question.

    Usage::

        reranker = DocQAReranker(top_k=5)          # the bundled model (data/reranker), backend "auto"
        reranker.warm_up()
        out = reranker.run(query="Who founded the Duchy of Normandy?", documents=retrieved)
        out["documents"][0].meta["retrieval_rank"], out["rerank_ms"]
        same = DocQAReranker.from_dict(reranker.to_dict())

    :param model: ``"bundled"`` (``data/reranker``) or a model directory (a one-logit sequence
        classifier, optionally with ``reranker.json``: see
        :mod:`~docqa.pipelines.components.rankers.cross_encoder`).
    :param backend: ``"auto"`` (measured, cached), ``"torch"``, ``"onnx-fp32"`` or ``"onnx-int8"``.
    :param top_k: passages returned (the best ``top_k`` of those given).
    :param candidates: how many passages the pipeline should retrieve for this reranker (N).
    :param retrieval_weight: how much retrieval's own score counts beside the cross-encoder's
        (:mod:`~docqa.pipelines.components.rankers.fusion`); ``None``: the model's ``reranker.json``
        value, chosen on the dev articles; 0: the cross-encoder's order alone.
    :param confident_gap: skip the cross-encoder when retrieval's best candidate leads the second by at
        least this many standard deviations; ``None``: the model's ``reranker.json`` value (none: always
        rerank); ``float("inf")``: always rerank.
    """

    def __init__(self, model: str = BUNDLED, backend: str | RerankerBackendName = RerankerBackendName.AUTO,
                 top_k: int = 5, candidates: int = DEFAULT_CANDIDATES, batch_size: int = DEFAULT_BATCH_SIZE,
                 num_threads: int | None = None, retrieval_weight: float | None = None,
                 confident_gap: float | None = None) -> None:
        self.backend = RerankerBackendName.from_str(backend)
        if top_k < 1 or candidates < 1:
            raise ConfigError(f"top_k and candidates must be at least 1, got {top_k} and {candidates}")
        if retrieval_weight is not None and not 0.0 <= retrieval_weight <= 100.0:
            raise ConfigError(f"retrieval_weight must be between 0 and 100, got {retrieval_weight}")
        if confident_gap is not None and not confident_gap >= 0.0:
            raise ConfigError(f"confident_gap must be at least 0, got {confident_gap}")
        self.retrieval_weight = retrieval_weight
        self.confident_gap = confident_gap
        self.model = str(model)
        self.top_k = top_k
        self.candidates = candidates
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._loaded: _Loaded | None = None

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, backend=self.backend.value, top_k=self.top_k,
                               candidates=self.candidates, batch_size=self.batch_size,
                               num_threads=self.num_threads, retrieval_weight=self.retrieval_weight,
                               confident_gap=self.confident_gap)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocQAReranker:
        return default_from_dict(cls, data)

    def warm_up(self) -> None:
        """Load the model (shared per process; ``auto`` measures the runtimes once per model and CPU).

        :raises RerankerUnavailableError: the model directory is missing.
        """
        if self._loaded is not None:
            return
        # Keyed by the directory, not the name: "bundled" must not stand for another model once loaded.
        key = (str(resolve_reranker_dir(self.model)), self.backend.value, self.num_threads, self.batch_size)
        with _LOADED_LOCK:
            loaded = _LOADED.get(key)
            if loaded is None:
                loaded = _load(self.model, self.backend, self.num_threads, self.batch_size)
                _LOADED[key] = loaded
        self._loaded = loaded

    @property
    def backend_choice(self) -> BackendChoice | None:
        return self._loaded.choice if self._loaded else None

    @property
    def fusion_weight(self) -> float:
        """The retrieval weight in use (the setting, else the loaded model's, else 0)."""
        if self.retrieval_weight is not None:
            return self.retrieval_weight
        return self._loaded.retrieval_weight if self._loaded else 0.0

    @property
    def skip_gap(self) -> float | None:
        """The confidence gap in use (the setting, else the loaded model's; ``None``: always rerank)."""
        if self.confident_gap is not None:
            return self.confident_gap
        return self._loaded.confident_gap if self._loaded else None

    @property
    def model_dir(self) -> Path | None:
        return self._loaded.model_dir if self._loaded else None

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """The cross-encoder's logit for each (``query``, text) pair."""
        self.warm_up()
        loaded = self._loaded
        assert loaded is not None
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with loaded.lock:  # fast tokenizers and ORT sessions are shared: one question at a time
            return loaded.backend.scores(_pairs(loaded.tokenizer, loaded.fmt, query, texts))

    @component.output_types(documents=list[Document], rerank_ms=float)
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """The best ``top_k`` of ``documents`` by the cross-encoder (fused with their retrieval scores by
        :attr:`fusion_weight`), best first, and the milliseconds taken. ``score`` is the fused score,
        ``meta["rerank_score"]`` the cross-encoder's logit.

        Ties keep the retriever's order; a blank query returns the first ``top_k`` unchanged.
        """
        started = time.perf_counter()
        k = top_k or self.top_k
        if not documents or not query.strip():
            return {"documents": list(documents)[:k], "rerank_ms": 0.0}
        self.warm_up()
        gap = self.skip_gap
        if gap is not None and confidence_gap([d.score for d in documents]) >= gap:
            order = sorted(range(len(documents)), key=lambda i: -float(documents[i].score or 0.0))[:k]
            kept = []
            for i in order:
                doc = documents[i]
                kept.append(replace(doc, meta={**(doc.meta or {}), "retrieval_score": doc.score,
                                               "retrieval_rank": i + 1, "rerank_skipped": True}))
            return {"documents": kept, "rerank_ms": (time.perf_counter() - started) * 1000.0}
        logits = self.score(query, [d.content or "" for d in documents])
        scores = fused_scores(logits, [d.score for d in documents], self.fusion_weight)
        order = np.argsort(-scores, kind="stable")[:k]
        out = []
        for i in order:
            doc = documents[int(i)]
            meta = {**(doc.meta or {}), "retrieval_score": doc.score, "retrieval_rank": int(i) + 1,
                    "rerank_score": float(logits[i])}
            out.append(replace(doc, score=float(scores[i]), meta=meta))
        return {"documents": out, "rerank_ms": (time.perf_counter() - started) * 1000.0}
