"""DocQA's extractive reader: SQuAD 2.0 answers with calibrated no-answer, on PyTorch or ONNX Runtime.

Why our own component instead of Haystack's ``TransformersExtractiveReader`` (kept as the reference in
tests/test_reader_parity.py and benchmarks/reader.py):

- no-answer uses the model's own null score (``start+end`` logit at ``[CLS]``) against the best span,
  with a threshold τ calibrated per model and backend (``docqa.pipelines.components.readers.calibration``);
  Haystack ignores that logit and uses ∏(1−p) of its top answers;
- BERT segment ids (``token_type_ids``) are passed as in training (Haystack's reader omits them);
- windows of all passages run in length-sorted batches (less padding), optionally on ONNX Runtime with
  fused graphs and int8 weights;
- answers carry page and page offsets, and the same answer found in several passages is one answer
  listing its best occurrence in each (at most five; ``meta["source_count"]`` counts them all).

``score`` is a probability from one softmax over all valid spans of all windows plus the null score
(see ``docqa.pipelines.components.readers.span_decoding``), so scores are comparable across passages and with
``no_answer_score``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from haystack import Document, ExtractedAnswer, component, default_from_dict, default_to_dict

from docqa import config
from docqa.errors import ConfigError
from docqa.pipelines.components.fast_tokenizer import load_fast_tokenizer
from docqa.pipelines.components.measured_choice import BackendChoice
from docqa.pipelines.components.readers import calibration as calibration_store
from docqa.pipelines.components.readers.adaptive import DEFAULT_RULE, AdaptiveRule
from docqa.pipelines.components.readers.auto_backend import choose_reader_backend
from docqa.pipelines.components.readers.backends import (
    DEFAULT_BATCH_SIZE,
    ReaderBackend,
    ReaderBackendName,
    load_backend,
)
from docqa.pipelines.components.readers.qa_windows import (
    DEFAULT_MAX_QUESTION_TOKENS,
    DEFAULT_MAX_SEQ_LENGTH,
    DEFAULT_STRIDE,
    Window,
    build_windows,
)
from docqa.pipelines.components.readers.shared_batches import SharedBatches, batch_independent
from docqa.pipelines.components.readers.span_decoding import (
    DEFAULT_MAX_ANSWER_LENGTH,
    Answer,
    DecodedQuestion,
    decode_windows,
)
from docqa.pipelines.model_loading import resolve_model_dir
from docqa.resources import data_path

GPU_RUNTIMES = (ReaderBackendName.CUDA, ReaderBackendName.CUDA_FP16)
logger = logging.getLogger(__name__)

CONTEXT_CHARS = 150  # characters of passage kept on each side of the answer in ExtractedAnswer.context


def locate_in_page(page_offsets: Sequence[Sequence[int]], content_length: int, start: int, end: int
                   ) -> tuple[int, int, int] | None:
    """Map passage offsets ``[start, end)`` to ``(page, start_in_page, end_in_page)``.

    ``page_offsets`` is ingest's ``[[page, start_in_page, end_in_page], ...]``: the passage is those page
    pieces in order, joined by a page separator (one per page boundary crossed, also across empty pages).
    The separator length follows from the passage length, so no separator constant is needed here.
    An answer crossing a page boundary is reported on the page where it starts, clipped to that page.
    """
    pieces = [(int(p), int(s), int(e)) for p, s, e in page_offsets]
    if not pieces:
        return None
    text_chars = sum(e - s for _, s, e in pieces)
    page_span = pieces[-1][0] - pieces[0][0]
    sep = (content_length - text_chars) / page_span if page_span > 0 else 0.0
    position = 0.0
    previous_page = pieces[0][0]
    for number, (page, p_start, p_end) in enumerate(pieces):
        if number:
            position += sep * (page - previous_page)
        previous_page = page
        length = p_end - p_start
        piece_start = int(round(position))
        if start < piece_start + length or number == len(pieces) - 1:
            offset = max(0, start - piece_start)
            in_page_start = p_start + min(offset, length)
            in_page_end = min(p_end, in_page_start + (end - start))
            return page, in_page_start, in_page_end
        position += length
    return None


@dataclass
class _Question:
    query: str
    documents: list[Document]
    texts: list[str]
    windows: list[Window]


@component
class DocQAReader:
    """Extract ranked answers to a question from passages; say "no answer" when the passages hold none.

    Usage::

        from haystack import Document
        from docqa.pipelines.components.readers.reader import DocQAReader

        reader = DocQAReader("deepset/bert-base-cased-squad2", backend="onnx-int8", top_k=3)
        reader.warm_up()  # loads the model (exports it to ONNX once for the ONNX backends)
        result = reader.run(query="Who led the Normans?",
                            documents=[Document(content="The Normans, under their leader Rollo, ...")])
        result["no_answer"], result["answers"][0].data  # (False, "Rollo")

        same = DocQAReader.from_dict(reader.to_dict())  # same settings; loads on its own warm_up()

    :param model: local directory or Hub id of an extractive QA model
        (e.g. ``deepset/bert-base-cased-squad2``).
    :param backend: ``"auto"`` (default: the fastest of the others measured for this model on this CPU,
        int8 only if it keeps ≥ 97% of fp32's top answers; cached — see
        :mod:`~docqa.pipelines.components.readers.auto_backend`), ``"torch"``, ``"onnx-fp32"`` or
        ``"onnx-int8"``, as a string or a
        :class:`~docqa.pipelines.components.readers.backends.ReaderBackendName`.
    :param max_seq_length: tokens per window (question + passage + special tokens).
    :param stride: tokens shared by consecutive windows of a long passage.
    :param max_answer_length: longest answer in tokens; ``None`` = unlimited.
    :param top_k: answers returned.
    :param no_answer_threshold: τ in ``null − best > τ``; ``None`` = the value calibrated for this model
        and backend in the DocQA config (``docqa eval --calibrate``), else 0.0.
    :param batch_size: most windows per forward pass; windows are sorted by length and a batch also
        closes before padding would exceed 5% of its tokens (see ``backends.length_sorted_batches``).
    :param num_threads: intra-op threads; ``None`` = the cores this process may use.
    :param adaptive: :meth:`run` reads passages best-first in small batches and stops once the answer is
        clear (:mod:`~docqa.pipelines.components.readers.adaptive`); ``None`` = ``DOCQA_READER_ADAPTIVE``
        (default on; ``DOCQA_READER_ADAPTIVE=0`` reads everything). ``run`` reports ``passages_read``.
    """

    def __init__(
        self,
        model: str,
        backend: str | ReaderBackendName = ReaderBackendName.AUTO,
        max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
        stride: int = DEFAULT_STRIDE,
        max_answer_length: int | None = DEFAULT_MAX_ANSWER_LENGTH,
        top_k: int = 5,
        no_answer_threshold: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        num_threads: int | None = None,
        max_question_tokens: int = DEFAULT_MAX_QUESTION_TOKENS,
        adaptive: bool | None = None,
    ) -> None:
        backend = ReaderBackendName.from_str(backend)  # fails before any loading, listing the choices
        if top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {top_k}")
        if max_answer_length is not None and max_answer_length < 1:
            raise ConfigError(f"max_answer_length must be at least 1 or None, got {max_answer_length}")
        self.model = str(model)
        self.backend = backend
        self.max_seq_length = max_seq_length
        self.stride = stride
        self.max_answer_length = max_answer_length
        self.top_k = top_k
        self.no_answer_threshold = no_answer_threshold
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.max_question_tokens = max_question_tokens
        self.adaptive = adaptive
        self.adaptive_rule: AdaptiveRule = DEFAULT_RULE
        self.backend_choice: BackendChoice | None = None  # what "auto" chose (or the setting), after warm_up
        self.model_dir = None
        self.tokenizer: Any = None
        # A Hugging Face fast tokenizer is not safe to call from two threads at once: each call sets its
        # truncation state, and concurrent questions (a service's reading threads, shared reading passes)
        # deadlocked inside it (seen in test_shared_batches). Only tokenising is serialised, not passes.
        self._tokenizer_lock = threading.Lock()
        self._backend: ReaderBackend | None = None
        self._stored_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The init parameters (the backend by its name), for ``Pipeline.dumps`` and :meth:`from_dict`."""
        return default_to_dict(
            self,
            model=self.model,
            backend=self.backend.value,
            max_seq_length=self.max_seq_length,
            stride=self.stride,
            max_answer_length=self.max_answer_length,
            top_k=self.top_k,
            no_answer_threshold=self.no_answer_threshold,
            batch_size=self.batch_size,
            num_threads=self.num_threads,
            max_question_tokens=self.max_question_tokens,
            adaptive=self.adaptive,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocQAReader:
        """A reader with the settings of :meth:`to_dict`'s output; not loaded until :meth:`warm_up`."""
        return default_from_dict(cls, data)

    def warm_up(self) -> None:
        """Load tokenizer and model (exporting to ONNX once for the ONNX backends).

        :raises docqa.pipelines.model_loading.ModelUnavailableError: model missing; its message says how to
            get it.
        """
        if self._backend is not None:
            return
        model_dir = resolve_model_dir(self.model, role="reader", env_var=config.READER_MODEL)
        # tokenizers alone when it reproduces the model's tokenizer (a cold ask skips importing transformers,
        # ~0.8 s; see fast_tokenizer.py), else transformers' own.
        tokenizer: Any = load_fast_tokenizer(model_dir)
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model_dir)
        # Validate window settings once, with a clear message, before any question arrives.
        build_windows(tokenizer, "warm up", ["warm up"], max_seq_length=self.max_seq_length,
                      stride=self.stride, max_question_tokens=self.max_question_tokens)
        pad = tokenizer.pad_token_id or 0

        def load(kind: str | ReaderBackendName) -> ReaderBackend:
            return load_backend(kind, model_dir, batch_size=self.batch_size, num_threads=self.num_threads,
                                pad_token_id=pad)

        backend: ReaderBackend | None = None
        if self.backend is ReaderBackendName.AUTO:
            choice, backend = choose_reader_backend(
                model_dir, tokenizer, load, compact=self._is_compact(model_dir),
                max_seq_length=self.max_seq_length, stride=self.stride,
                max_question_tokens=self.max_question_tokens)
        else:
            choice = BackendChoice(backend=self.backend.value, chosen_by="setting")
        active = ReaderBackendName.from_str(choice.backend)
        stored = calibration_store.stored_threshold(self.model, active.value)
        if stored is None:
            stored = calibration_store.shipped_threshold(model_dir)
        self._stored_threshold = stored
        self._backend = backend or load(active)
        if active in GPU_RUNTIMES:
            # One GPU serves every thread of the process: concurrent questions (a service's /ask) share its
            # passes instead of queueing their small batches on it one after another (shared_batches.py).
            self._backend = SharedBatches(self._backend, 0.0)
        self.backend_choice = choice
        self.tokenizer = tokenizer
        self.model_dir = model_dir

    def share_batches(self, window_s: float = 0.0, workers: int = 1) -> bool:
        """Read concurrent questions in shared forward passes, ``workers`` passes at a time (a service's
        ``/ask``s; see :mod:`~docqa.pipelines.components.readers.shared_batches`); answers are those of
        reading alone. Not on ``onnx-int8``, whose logits depend on what shares the batch (returns False
        and keeps reading each question alone)."""
        self.warm_up()
        inner = self._backend.inner if isinstance(self._backend, SharedBatches) else self._backend
        if not batch_independent(inner.name):
            logger.warning("Shared reading is off for the %s runtime: its answers would depend on the "
                           "questions asked at the same time", inner.name)
            return False
        self._backend = SharedBatches(inner, window_s, workers=workers)
        return True

    @staticmethod
    def _is_compact(model_dir: Any) -> bool:
        try:
            return data_path("compact-reader").resolve() == model_dir.resolve()
        except OSError:
            return False

    @property
    def active_backend(self) -> str:
        """The runtime in use (``auto`` resolved); the requested name before :meth:`warm_up`."""
        return self.backend_choice.backend if self.backend_choice else self.backend.value

    @property
    def adaptive_enabled(self) -> bool:
        if self.adaptive is None:
            return config.env_flag(config.READER_ADAPTIVE, True)
        return bool(self.adaptive)

    def threshold(self, override: float | None = None) -> float:
        """τ in effect: the run argument, else the init argument, else the user's calibrated value (config
        file), else the τ shipped in the model directory (``calibration.json``), else 0.0."""
        for value in (override, self.no_answer_threshold, self._stored_threshold):
            if value is not None:
                return float(value)
        return calibration_store.DEFAULT_NO_ANSWER_THRESHOLD

    @component.output_types(answers=list[ExtractedAnswer], no_answer=bool, no_answer_score=float,
                            passages_read=int)
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        no_answer_threshold: float | None = None,
        adaptive: bool | None = None,
    ) -> dict[str, Any]:
        """Answer ``query`` from ``documents`` (in retrieval order, best first).

        :param adaptive: override the reader's setting for this call (see the class docstring).
        :returns: ``answers`` (best first; when ``no_answer`` they are the closest candidates, each with
            ``meta["unsure"] = True``), ``no_answer`` (``null − best > τ``, or nothing readable),
            ``no_answer_score`` (probability of "no answer" in the same softmax as the answer scores) and
            ``passages_read`` (fewer than given when adaptive reading stopped early).
        """
        use_adaptive = self.adaptive_enabled if adaptive is None else adaptive
        if not use_adaptive or len(documents) <= self.adaptive_rule.checkpoints[0]:
            out = self.run_batch([query], [documents], top_k=top_k,
                                 no_answer_threshold=no_answer_threshold)[0]
            return {**out, "passages_read": len(documents)}
        return self._run_adaptive(query, list(documents), top_k, no_answer_threshold)

    def _windows(self, query: str, texts: list[str]) -> list[Window]:
        """The question's windows over ``texts``, one tokenizer call at a time (see ``_tokenizer_lock``)."""
        with self._tokenizer_lock:
            return build_windows(self.tokenizer, query, texts, max_seq_length=self.max_seq_length,
                                 stride=self.stride, max_question_tokens=self.max_question_tokens)

    def _run_adaptive(self, query: str, docs: list[Document], top_k: int | None,
                      no_answer_threshold: float | None) -> dict[str, Any]:
        """Read ``docs`` in the rule's batches; stop when the best span beats the null score by the
        rule's margin (only ever with an answer in hand: see :mod:`~.adaptive`)."""
        self.warm_up()
        assert self._backend is not None
        texts = [d.content or "" for d in docs]
        windows = self._windows(query, texts)
        tau = self.threshold(no_answer_threshold)
        scores = [d.score for d in docs]
        read_windows: list[Window] = []
        logits: list = []
        read = 0
        for start, end in self.adaptive_rule.batches(len(docs)):
            batch = [w for w in windows if start <= w.passage_index < end]
            logits.extend(self._backend.logits(batch) if batch else [])
            read_windows.extend(batch)
            read = end
            decoded = decode_windows(read_windows, logits, texts, max_answer_length=self.max_answer_length,
                                     top_k=top_k or self.top_k)
            if end < len(docs) and self.adaptive_rule.should_stop(read, -decoded.null_score_diff, scores):
                break
        question = _Question(query, docs, texts, read_windows)
        return {**self._to_output(question, decoded, tau), "passages_read": read}

    def run_batch(
        self,
        queries: Sequence[str],
        documents: Sequence[Sequence[Document]],
        top_k: int | None = None,
        no_answer_threshold: float | None = None,
    ) -> list[dict[str, Any]]:
        """Like :meth:`run` for several questions at once.

        All their windows share length-sorted batches (what evaluation uses). Results are independent of
        how questions are grouped.
        """
        self.warm_up()
        assert self._backend is not None
        questions = []
        for query, docs in zip(queries, documents, strict=True):
            docs = list(docs)
            texts = [d.content or "" for d in docs]
            windows = self._windows(query, texts)
            questions.append(_Question(query, docs, texts, windows))
        all_windows = [w for q in questions for w in q.windows]
        all_logits = self._backend.logits(all_windows) if all_windows else []
        results, cursor = [], 0
        for q in questions:
            logits = all_logits[cursor : cursor + len(q.windows)]
            cursor += len(q.windows)
            decoded = decode_windows(q.windows, logits, q.texts, max_answer_length=self.max_answer_length,
                                     top_k=top_k or self.top_k)
            results.append(self._to_output(q, decoded, self.threshold(no_answer_threshold)))
        return results

    def _to_output(self, q: _Question, decoded: DecodedQuestion, tau: float) -> dict[str, Any]:
        diff = decoded.null_score_diff
        no_answer = not decoded.answers or diff > tau
        answers = [self._extracted(q, a, diff, no_answer) for a in decoded.answers]
        return {"answers": answers, "no_answer": bool(no_answer),
                "no_answer_score": float(decoded.null_probability)}

    def _extracted(self, q: _Question, answer: Answer, diff: float, unsure: bool) -> ExtractedAnswer:
        best = answer.best
        doc = q.documents[best.passage_index]
        text = q.texts[best.passage_index]
        c_start = max(0, best.start_char - CONTEXT_CHARS)
        c_end = min(len(text), best.end_char + CONTEXT_CHARS)
        meta: dict[str, Any] = {
            "sources": [self._source(q, s.passage_index, s.start_char, s.end_char) for s in answer.sources],
            "source_count": answer.source_count,
            "null_score_diff": diff if math.isfinite(diff) else None,
            "start_logit": best.start_logit,
            "end_logit": best.end_logit,
            "span_score": best.score,
            "unsure": unsure,
        }
        page = self._page(doc, text, best.start_char, best.end_char)
        if page is not None:
            meta["page"], meta["page_offset"] = page[0], {"start": page[1], "end": page[2]}
        return ExtractedAnswer(
            data=answer.text,
            query=q.query,
            score=float(answer.probability),
            document=doc,
            context=text[c_start:c_end],
            document_offset=ExtractedAnswer.Span(best.start_char, best.end_char),
            context_offset=ExtractedAnswer.Span(best.start_char - c_start, best.end_char - c_start),
            meta=meta,
        )

    def _source(self, q: _Question, index: int, start: int, end: int) -> dict[str, Any]:
        doc = q.documents[index]
        source: dict[str, Any] = {"document_id": doc.id, "document_offset": {"start": start, "end": end}}
        page = self._page(doc, q.texts[index], start, end)
        if page is not None:
            source["page"], source["page_offset"] = page[0], {"start": page[1], "end": page[2]}
        return source

    @staticmethod
    def _page(doc: Document, text: str, start: int, end: int) -> tuple[int, int, int] | None:
        offsets = (doc.meta or {}).get("page_offsets")
        if not offsets:
            return None
        try:
            return locate_in_page(offsets, len(text), start, end)
        except (TypeError, ValueError):
            return None  # malformed page metadata must not lose the answer itself
