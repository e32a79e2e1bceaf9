"""The query side as Haystack Pipelines over one search store (``SearchStore``: local or Milvus).

- retrieval, one per search mode: ``embedder`` (QueryEmbedder) → ``retriever``; BM25 has no embedder,
  so keyword search works without loading the embedding model.
- question answering: ``embedder`` → ``retriever`` (hybrid) → [``reranker``] → ``reader`` → ``judge``;
  the passages come back through ``include_outputs_from``. Its embedder, retriever and reader are wrapped
  in ``Timed*`` components that time their own step (the reranker times itself), so ``timings_ms``
  reports retrieval, reranking and reading as measured, not as what is left of the total.
- reranking (:class:`~docqa.pipelines.components.rankers.reranker.DocQAReranker`, when one is given): the
  retriever fetches the reranker's ``candidates`` (N) passages and the reranker keeps the best ``top_k``;
  without one (none shipped, ``DOCQA_RERANK=0``, ``--no-rerank``) the retriever's top ``top_k`` go on.

:class:`QueryPipelines` builds each pipeline once, on first use, under a lock (request threads share
them). A search with a blank query or over an empty index returns no passages without running a model.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from haystack import Document, ExtractedAnswer, Pipeline, component, default_to_dict
from haystack.core.errors import PipelineRuntimeError

from docqa import config
from docqa.errors import DocQAError
from docqa.pipelines.components.embedders.query_encoder import query_model_for
from docqa.pipelines.components.embedders.sentence_embedders import QueryEmbedder
from docqa.pipelines.components.rankers.reranker import DocQAReranker
from docqa.pipelines.components.readers.answerability import AnswerabilityJudge
from docqa.pipelines.components.readers.reader import DocQAReader
from docqa.pipelines.components.retrievers.search_mode import SearchMode
from docqa.pipelines.components.retrievers.store_retrievers import DocQAHybridRetriever, retriever_for
from docqa.pipelines.document_stores.protocols import SearchStore
from docqa.pipelines.model_loading import ModelUnavailableError, resolve_model_dir


def _run(pipeline: Pipeline, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """``pipeline.run``, re-raising a DocQA error from a component as itself: Haystack wraps component
    errors in ``PipelineRuntimeError``, and a store that became unreachable mid-query (Milvus) must still
    reach the user as its one-line message (CLI error, page banner, HTTP 503)."""
    try:
        return pipeline.run(data, **kwargs)
    except PipelineRuntimeError as err:
        if isinstance(err.__cause__, DocQAError):
            raise err.__cause__ from None
        raise


@component
class TimedReader:
    """The reader's place in the QA pipeline: runs a loaded :class:`DocQAReader` and says how long reading
    took (``reading_ms``).

    Why not the ``DocQAReader`` instance itself: Haystack lets a component instance belong to one Pipeline
    only, while one loaded reader (seconds to load, hundreds of MB) serves every DocQA object in the
    process (``readers.selection.shared_reader``). Why the clock: a Pipeline returns outputs, not timings
    per
    component, and ``AskResult.timings_ms`` reports reading apart from retrieval.

    Usage::

        reader = DocQAReader("deepset/bert-base-cased-squad2")
        step = TimedReader(reader)
        out = step.run(query="Who led the Normans?", documents=[Document(content="... Rollo ...")])
        out["answers"], out["no_answer"], out["reading_ms"]
        same = TimedReader.from_dict(step.to_dict())  # a new reader with the same settings
    """

    def __init__(self, reader: DocQAReader) -> None:
        self.reader = reader

    def warm_up(self) -> None:
        self.reader.warm_up()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, reader=self.reader.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimedReader:
        return cls(DocQAReader.from_dict(data["init_parameters"]["reader"]))

    @component.output_types(
        answers=list[ExtractedAnswer], no_answer=bool, no_answer_score=float, reading_ms=float,
        passages_read=int,
    )
    def run(
        self,
        query: str,
        documents: list[Document],
        top_k: int | None = None,
        no_answer_threshold: float | None = None,
    ) -> dict[str, Any]:
        """The reader's output for ``query`` over ``documents`` (with ``passages_read``: adaptive reading
        may stop before the last passage), plus ``reading_ms``."""
        started = time.perf_counter()
        output = self.reader.run(
            query=query, documents=documents, top_k=top_k, no_answer_threshold=no_answer_threshold
        )
        return {**output, "reading_ms": (time.perf_counter() - started) * 1000.0}


@component
class TimedQueryEmbedder:
    """The QA pipeline's ``embedder``: runs a :class:`QueryEmbedder` and says how long embedding the
    question took (``embedding_ms``), the first half of the retrieval step.

    Why a wrapper: a Pipeline returns outputs, not timings per component. Reporting retrieval as
    ``total - reading`` (as before) also counted the answerability judge and the pipeline's own scheduling
    as retrieval; each step now times itself.

    Usage::

        step = TimedQueryEmbedder(QueryEmbedder())
        out = step.run(text="Who led the Normans?")
        out["embedding"], out["embedding_ms"]
        same = TimedQueryEmbedder.from_dict(step.to_dict())
    """

    def __init__(self, embedder: QueryEmbedder) -> None:
        self.embedder = embedder

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, embedder=self.embedder.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimedQueryEmbedder:
        return cls(QueryEmbedder.from_dict(data["init_parameters"]["embedder"]))

    @component.output_types(embedding=list[float], embedding_ms=float)
    def run(self, text: str) -> dict[str, Any]:
        """The embedder's output for ``text``, plus ``embedding_ms``."""
        started = time.perf_counter()
        output = self.embedder.run(text=text)
        return {**output, "embedding_ms": (time.perf_counter() - started) * 1000.0}


@component
class TimedRetriever:
    """The QA pipeline's ``retriever``: runs a :class:`DocQAHybridRetriever` and says how long the store
    search took (``retrieval_ms``), the second half of the retrieval step (see :class:`TimedQueryEmbedder`
    for why each step times itself).

    Usage::

        step = TimedRetriever(DocQAHybridRetriever(document_store=store))
        out = step.run(query=q, query_embedding=embedding, top_k=5)
        out["documents"], out["retrieval_ms"]
        same = TimedRetriever.from_dict(step.to_dict())
    """

    def __init__(self, retriever: DocQAHybridRetriever) -> None:
        self.retriever = retriever

    def warm_up(self) -> None:
        self.retriever.warm_up()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, retriever=self.retriever.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimedRetriever:
        return cls(DocQAHybridRetriever.from_dict(data["init_parameters"]["retriever"]))

    @component.output_types(documents=list[Document], retrieval_ms=float)
    def run(
        self,
        query: str,
        query_embedding: list[float],
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The retriever's passages for ``query``, plus ``retrieval_ms``."""
        started = time.perf_counter()
        output = self.retriever.run(
            query=query, query_embedding=query_embedding, top_k=top_k, filters=filters
        )
        return {**output, "retrieval_ms": (time.perf_counter() - started) * 1000.0}


@dataclass
class QAOutput:
    """What the QA pipeline produced for one question."""

    documents: list[Document]
    answers: list[ExtractedAnswer]
    no_answer: bool
    no_answer_score: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    # P(the answer is in the documents), its threshold and features; {} when the reader ships no model
    answerability: dict[str, Any] = field(default_factory=dict)


def _model_dir(reader: DocQAReader) -> str | None:
    """The reader's model directory (where its answerability model ships), without loading the model."""
    if reader.model_dir is not None:
        return str(reader.model_dir)
    try:
        return str(resolve_model_dir(reader.model, role="reader", env_var=config.READER_MODEL))
    except ModelUnavailableError:
        return None  # the reader itself reports the missing model when it loads


class QueryPipelines:
    """The retrieval and QA Pipelines of one document store, built lazily, once, thread-safely.

    Usage::

        store = LocalDocumentStore("./docqa-index", embedding_model=model)
        pipelines = QueryPipelines(store, embedding_model=model)
        pipelines.search("steam engine condenser", top_k=3, mode="bm25")  # Documents, best first
        pipelines.retrieval_pipeline("hybrid")                               # the haystack.Pipeline
        out = pipelines.ask("Who improved the steam engine?", reader, top_k=5, max_answers=3)
        out.answers, out.documents, out.timings_ms

    Each pipeline gets its own component instances (Haystack's rule); the query embedders all share the
    process-wide encoder of ``embedding_model``, so that costs no second model load.
    """

    def __init__(
        self, store: SearchStore, embedding_model: str, reranker: DocQAReranker | None = None,
        query_encoder: str | None = None,
    ) -> None:
        self.store = store
        self.embedding_model = embedding_model
        self.reranker = reranker
        # same / a fitted encoder's directory; None reads DOCQA_QUERY_ENCODER (query_encoder.query_model_for)
        self.query_encoder = query_encoder
        self._query_model: str | None = None
        self._lock = threading.Lock()
        self._retrieval: dict[tuple[SearchMode, bool], Pipeline] = {}
        self._qa: dict[bool, tuple[DocQAReader, Pipeline]] = {}

    @property
    def query_model(self) -> str:
        """The model that embeds questions: the embedding model, or a fitted question encoder chosen by
        ``DOCQA_QUERY_ENCODER`` that pairs with the index's passages (:func:`~docqa.pipelines.components.
        embedders.query_encoder.query_model_for`); resolved once (the first call may build the fitted
        encoder's cached copy)."""
        if self._query_model is None:
            self._query_model = query_model_for(self.embedding_model, self.query_encoder)
        return self._query_model

    def _embedder(self) -> QueryEmbedder:
        return QueryEmbedder(model=self.query_model)

    def _reranks(self, rerank: bool | None) -> bool:
        """Whether a search reranks: asked for (``None`` = whenever a reranker was given) and possible."""
        return self.reranker is not None and (rerank is None or rerank)

    def _reranker_step(self) -> DocQAReranker:
        # a new instance per pipeline (Haystack's rule); it shares the loaded model with self.reranker
        assert self.reranker is not None
        return DocQAReranker.from_dict(self.reranker.to_dict())

    def retrieval_pipeline(
        self, mode: str | SearchMode = SearchMode.HYBRID, rerank: bool = False
    ) -> Pipeline:
        """``embedder`` → ``retriever`` for ``mode`` (``retriever`` alone for BM25), then ``reranker`` when
        ``rerank`` and a reranker was given.

        :raises InvalidInputError: for an unknown mode, listing the choices.
        """
        mode = SearchMode.from_str(mode)
        rerank = self._reranks(rerank) and bool(rerank)
        with self._lock:
            pipeline = self._retrieval.get((mode, rerank))
            if pipeline is None:
                pipeline = Pipeline()
                pipeline.add_component("retriever", retriever_for(mode, self.store))
                if mode is not SearchMode.BM25:
                    pipeline.add_component("embedder", self._embedder())
                    pipeline.connect("embedder.embedding", "retriever.query_embedding")
                if rerank:
                    pipeline.add_component("reranker", self._reranker_step())
                    pipeline.connect("retriever.documents", "reranker.documents")
                self._retrieval[(mode, rerank)] = pipeline
            return pipeline

    def qa_pipeline(self, reader: DocQAReader, rerank: bool | None = None) -> Pipeline:
        """``embedder`` → ``retriever`` (hybrid) → [``reranker``] → ``reader`` for this reader (rebuilt if
        it changes, e.g. when a missing model was installed and the fallback reader is replaced)."""
        rerank = self._reranks(rerank)
        with self._lock:
            built = self._qa.get(rerank)
            if built is None or built[0] is not reader:
                pipeline = Pipeline()
                retriever = retriever_for(SearchMode.HYBRID, self.store)
                pipeline.add_component("embedder", TimedQueryEmbedder(self._embedder()))
                pipeline.add_component("retriever", TimedRetriever(retriever))
                pipeline.add_component("reader", TimedReader(reader))
                pipeline.add_component("judge", AnswerabilityJudge(model_dir=_model_dir(reader)))
                pipeline.connect("embedder.embedding", "retriever.query_embedding")
                passages = "retriever.documents"
                if rerank:
                    pipeline.add_component("reranker", self._reranker_step())
                    pipeline.connect("retriever.documents", "reranker.documents")
                    passages = "reranker.documents"
                pipeline.connect(passages, "reader.documents")
                pipeline.connect(passages, "judge.documents")
                pipeline.connect("reader.answers", "judge.answers")
                pipeline.connect("reader.no_answer", "judge.no_answer")
                self._qa[rerank] = (reader, pipeline)
            return self._qa[rerank][1]

    def warm_up(self, mode: str | SearchMode = SearchMode.HYBRID) -> None:
        """Load the query embedder (unless ``mode`` is BM25) and the live index, so that the
        first question is not the one that pays for them."""
        self.retrieval_pipeline(mode).warm_up()

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: str | SearchMode = SearchMode.HYBRID,
        rerank: bool = False,
        filters: dict[str, Any] | None = None,
    ) -> list[Document]:
        """The ``top_k`` best passages for ``query`` (none for a blank query or an empty index); with
        ``rerank`` (and a reranker), the best ``top_k`` of the retriever's ``candidates`` by the reranker.

        :raises InvalidInputError: for an unknown mode (checked first, whatever the query).
        """
        mode = SearchMode.from_str(mode)
        rerank = self._reranks(rerank) and bool(rerank)
        pipeline = self.retrieval_pipeline(mode, rerank)
        if not query.strip() or self.store.count_documents() == 0:
            return []
        fetch = max(top_k, self.reranker.candidates) if rerank and self.reranker else top_k
        data: dict[str, Any] = {"retriever": {"top_k": fetch, "filters": filters}}
        if mode is not SearchMode.DENSE:
            data["retriever"]["query"] = query
        if mode is not SearchMode.BM25:
            data["embedder"] = {"text": query}
        if rerank:
            data["reranker"] = {"query": query, "top_k": top_k}
            return _run(pipeline, data)["reranker"]["documents"]
        return _run(pipeline, data)["retriever"]["documents"]

    def ask(
        self,
        question: str,
        reader: DocQAReader,
        *,
        top_k: int = 5,
        max_answers: int = 3,
        no_answer_threshold: float | None = None,
        rerank: bool | None = None,
        filters: dict[str, Any] | None = None,
    ) -> QAOutput:
        """Retrieve passages (hybrid), rerank them (when a reranker was given and ``rerank`` is not
        False) and read the best ``top_k``.

        ``timings_ms``: ``retrieval`` is embedding the question plus the store search, ``rerank`` the
        reranker's step (when it ran) and ``reading`` the reader's, each timed by its own step
        (:class:`TimedQueryEmbedder`, :class:`TimedRetriever`, the reranker, :class:`TimedReader`); ``total``
        is the pipeline run's wall time, which also holds the answerability judge and the pipeline's
        scheduling, so ``retrieval + rerank + reading <= total``; ``passages_read`` (a count) is how many of
        the ``top_k`` passages the reader read. The pipeline and the store's indexes are loaded before the
        clock starts, so timings are per question.
        """
        reranks = self._reranks(rerank)
        pipeline = self.qa_pipeline(reader, reranks)
        pipeline.warm_up()
        self.store.refresh()
        fetch = max(top_k, self.reranker.candidates) if reranks and self.reranker else top_k
        data: dict[str, Any] = {
            "embedder": {"text": question},
            "retriever": {"query": question, "top_k": fetch, "filters": filters},
            "reader": {"query": question, "top_k": max_answers, "no_answer_threshold": no_answer_threshold},
            "judge": {"query": question},
        }
        passages_from = "retriever"
        if reranks:
            data["reranker"] = {"query": question, "top_k": top_k}
            passages_from = "reranker"
        started = time.perf_counter()
        result = _run(pipeline, data, include_outputs_from={"embedder", "retriever", passages_from, "reader"})
        total = (time.perf_counter() - started) * 1000.0
        read, judged = result["reader"], result["judge"]
        reading = float(read["reading_ms"])
        retrieval = float(result["embedder"]["embedding_ms"]) + float(result["retriever"]["retrieval_ms"])
        timings = {"retrieval": retrieval, "reading": reading, "total": total,
                   "passages_read": float(read["passages_read"])}
        if reranks:
            timings["rerank"] = float(result["reranker"]["rerank_ms"])
        return QAOutput(
            documents=result[passages_from]["documents"],
            answers=judged["answers"],
            no_answer=bool(judged["no_answer"]),
            answerability=judged["answerability"],
            no_answer_score=float(read["no_answer_score"]),
            timings_ms=timings,
        )

    def retrieve(self, question: str, top_k: int = 5, rerank: bool | None = None,
                 filters: dict[str, Any] | None = None) -> tuple[list[Document], float]:
        """Hybrid passages for ``question`` (reranked as :meth:`ask` would) and the milliseconds it took
        (index loaded before the clock)."""
        self.warm_up()
        self.store.refresh()
        started = time.perf_counter()
        documents = self.search(question, top_k=top_k, rerank=self._reranks(rerank), filters=filters)
        return documents, (time.perf_counter() - started) * 1000.0
