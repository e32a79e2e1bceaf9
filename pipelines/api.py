"""The public Python API: what a host application embeds.

    from docqa import DocQA

    qa = DocQA("./docqa-index")          # or DocQA() to use DOCQA_INDEX / defaults
    qa.ingest(["./manuals"])             # incremental: unchanged files are not re-embedded
    for passage in qa.search("how do I reset the device?", top_k=3):
        print(passage.file, passage.page, passage.score)

Models are loaded lazily, once per process, and shared by every DocQA object that names the same model.

This module is also the one surface the front ends (``app/``) use besides the foundations (``docqa.errors``,
``docqa.config``, ...): :data:`__all__` lists the modes, backends, result types, errors, limits and helpers
they need, so a store or loader can move without touching a front end (``tests/test_layout.py`` checks).
Errors are caught by kind (:mod:`docqa.errors`); the few concrete ones exported here carry details a front
end shows (``FaqFileError.problems``, ``FeedbackFieldError.field``) or a distinct answer (409 for
``EmbeddingModelMismatchError``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from docqa.config import Settings
from docqa.errors import InvalidInputError
from docqa.ingest.images import IMAGE_SUFFIXES
from docqa.ingest.ingestor import STATUSES, FileResult, Ingestor, IngestProgress, IngestReport
from docqa.ingest.layout import OCR_BOXES
from docqa.ingest.loaders import (
    MARKDOWN_SUFFIXES,
    PDF_SUFFIXES,
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    is_supported,
    supported_list,
    unsupported_reason,
)
from docqa.ingest.office import DOCX_SUFFIXES
from docqa.ingest.records import SourceFile
from docqa.ingest.tags import parse_tags
from docqa.ingest.uploads import UploadData, is_upload, safe_upload_name
from docqa.ingest.uploads import remove_upload as remove_upload_copy
from docqa.ingest.watcher import DEFAULT_DEBOUNCE_S
from docqa.ingest.webpage import HTML_SUFFIXES
from docqa.pipelines.access.audit import AuditEvent, AuditLog, parse_since
from docqa.pipelines.access.keys import ALL_COLLECTIONS, Grant, KeyStore, Role
from docqa.pipelines.answers import Answer, AskResult, Passage
from docqa.pipelines.collections import (
    CollectionNotFoundError,
    collection_exists,
    create_collection,
    delete_collection,
    list_collections,
    open_collection_store,
    validate_collection_name,
)
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
from docqa.pipelines.components.faq.matcher import FaqMatcher, resolve_threshold, shared_matcher
from docqa.pipelines.components.rankers.reranker import DocQAReranker, reranker_available
from docqa.pipelines.components.readers.backends import ReaderBackendName
from docqa.pipelines.components.readers.reader import DocQAReader
from docqa.pipelines.components.readers.selection import ReaderInfo
from docqa.pipelines.components.retrievers.search_mode import SearchMode
from docqa.pipelines.document_names import DocumentNotFoundError, find_documents
from docqa.pipelines.document_stores.errors import EmbeddingModelMismatchError
from docqa.pipelines.document_stores.filters import FilterError
from docqa.pipelines.evaluation.run_eval import run_eval
from docqa.pipelines.faq.files import FAQ_SUFFIXES, FaqEntry, FaqFileError, read_faq
from docqa.pipelines.faq.results import FaqAskResult
from docqa.pipelines.faq.store import FaqLoadReport, FaqStore
from docqa.pipelines.feedback import limits as feedback_limits
from docqa.pipelines.feedback.export import FeedbackExport, export_feedback, write_export
from docqa.pipelines.feedback.methods import FeedbackMethods
from docqa.pipelines.feedback.store import FeedbackFieldError, FeedbackPage, FeedbackRecord, FeedbackVerdict
from docqa.pipelines.filtering import IndexFilters, parse_filter_expressions
from docqa.pipelines.indexing import IndexingPipeline
from docqa.pipelines.migrate import migrate, migrate_collections
from docqa.pipelines.model_loading import ModelUnavailableError
from docqa.pipelines.models.gate import DEFAULT_MARGIN, DEFAULT_TOLERANCE, GateSettings
from docqa.pipelines.models.improve import ImproveResult, ImproveSettings
from docqa.pipelines.models.jobs import ImproveBusyError, JobNotFoundError
from docqa.pipelines.models.methods import ModelMethods
from docqa.pipelines.models.registry import ModelEntry, ModelNotFoundError
from docqa.pipelines.query import QueryPipelines
from docqa.pipelines.reindexing import ReindexReport, reindex, reindex_collections
from docqa.pipelines.training.checkpoints import CHECKPOINT_FILE as TRAINING_CHECKPOINT_FILE
from docqa.pipelines.training.checkpoints import STATE_DIR as TRAINING_STATE_DIR
from docqa.pipelines.training.reader_training import TrainingConfig, train_reader
from docqa.pipelines.training.report import summary_lines as training_summary_lines
from docqa.pipelines.uploading import (
    UnreadableUploadsError,
    UploadedFile,
    UploadReport,
    add_uploads,
    settle_interrupted_uploads,
)
from docqa.pipelines.watching import IndexWatcher

# The public surface: `from docqa.pipelines.api import X` is how app/ (and a host application) reaches
# anything beyond `from docqa import DocQA` and the foundations.
__all__ = [
    # the facade
    "DocQA",
    # modes and backends (Enums whose from_str lists the choices)
    "ReaderBackendName", "SearchMode",
    # results
    "Answer", "AskResult", "Passage", "FaqAskResult", "FaqEntry", "FaqLoadReport", "ReaderInfo",
    "FeedbackExport", "FeedbackPage", "FeedbackRecord", "FeedbackVerdict",
    "FileResult", "IngestReport", "STATUSES", "SourceFile", "UploadReport", "UploadedFile",
    # progress and watching
    "IngestProgress", "IndexWatcher", "DEFAULT_DEBOUNCE_S",
    # errors a front end shows with their details (everything else: catch by kind, docqa.errors)
    "DocumentNotFoundError", "EmbeddingModelMismatchError", "FaqFileError", "FeedbackFieldError",
    "ModelUnavailableError", "UnreadableUploadsError", "FilterError",
    # collections of one index
    "CollectionNotFoundError", "collection_exists", "create_collection", "delete_collection",
    "list_collections", "validate_collection_name",
    # access: scoped keys and the audit log (at the index root)
    "KeyStore", "Grant", "Role", "ALL_COLLECTIONS", "AuditLog", "AuditEvent", "parse_since",
    # the improve loop: settings, decision, registry entries, errors with a distinct answer
    "ImproveSettings", "ImproveResult", "GateSettings", "DEFAULT_MARGIN", "DEFAULT_TOLERANCE", "ModelEntry",
    "ModelNotFoundError", "JobNotFoundError", "ImproveBusyError",
    # filters: the CLI's short form
    "parse_filter_expressions", "parse_tags",
    # what files DocQA reads, and how uploads are named
    "SUPPORTED_SUFFIXES", "PDF_SUFFIXES", "TEXT_SUFFIXES", "MARKDOWN_SUFFIXES", "DOCX_SUFFIXES",
    "HTML_SUFFIXES", "IMAGE_SUFFIXES", "FAQ_SUFFIXES",
    "is_supported", "supported_list", "unsupported_reason", "safe_upload_name",
    # passage metadata, limits and settings
    "OCR_BOXES", "feedback_limits", "resolve_faq_threshold",
    # tools beyond one index: evaluation, training, feedback export, moving between stores
    "run_eval", "TrainingConfig", "train_reader", "training_summary_lines", "TRAINING_STATE_DIR",
    "TRAINING_CHECKPOINT_FILE", "export_feedback", "write_export", "migrate", "migrate_collections",
    "ReindexReport", "reindex_collections",
]  # fmt: skip

resolve_faq_threshold = resolve_threshold  # the FAQ threshold (DOCQA_FAQ_THRESHOLD) a service checks at start



class DocQA(FeedbackMethods, ModelMethods):
    """One collection of an index (the directory, or a Milvus collection with the directory beside it for
    the manifest, FAQ and feedback: ``store`` / ``DOCQA_STORE``) plus the models that read and search it.

    ``collection`` (``DOCQA_COLLECTION``; default ``default``, the index directory itself) must exist:
    :func:`create_collection` makes one (:mod:`docqa.pipelines.collections` says why each is a store of
    its own)."""

    def __init__(
        self,
        index_dir: str | Path | None = None,
        *,
        embedding_model: str | None = None,
        reader_model: str | None = None,
        reader_backend: str | None = None,
        reader_fallback: bool | None = None,
        settings: Settings | None = None,
        store: str | None = None,
        rerank: bool | None = None,
        collection: str | None = None,
    ) -> None:
        base = settings or Settings.from_env()
        self.settings = base.override(
            index_dir=index_dir,
            embedding_model=embedding_model,
            reader_model=reader_model,
            reader_backend=reader_backend,
            reader_fallback=reader_fallback,
            store=store,
            rerank=rerank,
            collection=collection,
        )
        self.root_dir = self.settings.index_dir  # the index root: collections, keys and the audit log
        self.collection = validate_collection_name(self.settings.collection)
        # The store's three sides (pipelines/document_stores/protocols.py): index writes, store searches,
        # catalog lists. local_index: the directory's own files (FAQ, feedback), whatever the store.
        bundle = open_collection_store(self.settings.store, self.root_dir, self.collection,
                                       self.settings.embedding_model)
        self.index = bundle.index
        self.catalog = bundle.catalog
        self.local_index = bundle.local_index
        self._passage_embedder: PassageEmbedder | None = None
        self._query_embedder: QueryEmbedder | None = None
        # Cheap to create: the store reads the index and the pipelines load models on first use.
        self.store = bundle.search
        # The bundled cross-encoder reorders retrieved passages when it ships and is not switched off
        # (DOCQA_RERANK=0, rerank=False); loaded on the first question, shared per process.
        self.reranker = DocQAReranker() if self.settings.rerank and reranker_available() else None
        self.query_pipelines = QueryPipelines(self.store, self.settings.embedding_model, self.reranker,
                                              query_encoder=self.settings.query_encoder)
        self._lock = threading.RLock()  # lazy loading from several request threads builds each thing once
        self._reader: tuple[DocQAReader, ReaderInfo] | None = None
        self._reader_stamp = 0
        self._reader_failure: tuple[float, ModelUnavailableError] | None = None
        self._shared_reading: tuple[float, int] | None = None  # (window s, workers) when reading is shared
        settle_interrupted_uploads(self)  # files of an upload killed before it settled (one stat if none)

    # ----- models (lazy: listing documents needs none) -----
    def passage_embedder(self) -> PassageEmbedder:
        with self._lock:
            if self._passage_embedder is None:
                embedder = PassageEmbedder(model=self.settings.embedding_model)
                embedder.warm_up()
                self._passage_embedder = embedder
            return self._passage_embedder

    def query_embedder(self) -> QueryEmbedder:
        with self._lock:
            if self._query_embedder is None:
                embedder = QueryEmbedder(model=self.settings.embedding_model)
                embedder.warm_up()
                self._query_embedder = embedder
            return self._query_embedder

    @property
    def embedding_dim(self) -> int:
        return self.passage_embedder().encoder.dim

    # ----- writing -----
    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        prune: bool = False,
        progress: IngestProgress | None = None,
        checkpoint_every: int = 512,
        lock_timeout: float = 5.0,
        ocr: bool = True,
        cancel: Callable[[], bool] | None = None,
        tags: dict[str, Any] | None = None,
        jobs: int | None = 1,
    ) -> IngestReport:
        """Index every supported file under ``paths`` (recursively); see :class:`IngestReport`.
        ``jobs``: processes reading files while this one embeds (None: every usable core; docqa.ingest.bulk).

        ``tags`` (``{"team": "legal", "year": 2024}``) replace the tags of every file of this run, also of
        unchanged files (their passages' metadata is updated, nothing is re-embedded); None keeps them.

        ``ocr=False`` leaves scanned PDF pages out (noted in the report) and fails image files.
        A file of more than ``checkpoint_every`` passages is committed in parts (searchable as they come;
        listed as partial until done). ``cancel()`` is checked between batches: True stops the run
        (``report.cancelled``), keeping what was committed.

        The Ingestor (``ingest/``) decides what changed, loads and splits; :meth:`indexing_pipeline`
        embeds and writes each checkpoint's batch.
        """
        ingestor = Ingestor(
            self.index,
            self.indexing_pipeline(),
            embedding_model=self.settings.embedding_model,
            dim=self.embedding_dim,
            checkpoint_every=checkpoint_every,
            lock_timeout=lock_timeout,
            ocr=ocr,
            jobs=jobs,
        )
        return ingestor.run(paths, prune=prune, progress=progress, cancel=cancel, tags=tags)

    def indexing_pipeline(self) -> IndexingPipeline:
        """This index's indexing ``haystack.Pipeline`` (passage embedder → writer), built on first use."""
        with self._lock:
            built: IndexingPipeline | None = getattr(self, "_indexing_pipeline", None)
            if built is None:
                built = IndexingPipeline(self.index, self.passage_embedder())
                self._indexing_pipeline = built
            return built

    def compact(self, lock_timeout: float = 5.0) -> dict[str, int]:
        """Merge the index's segments and drop deleted passages for good (``docqa compact``).

        :raises docqa.pipelines.document_stores.local.index.IndexLockedError: another process is writing the
            index.
        """
        return self.index.compact(lock_timeout=lock_timeout)

    def reindex(self, *, force: bool = False, lock_timeout: float = 5.0,
                progress: Callable[[int, int], None] | None = None) -> ReindexReport:
        """Embed every passage of this collection again with the configured embedding model, in one commit
        (``docqa reindex``; :mod:`docqa.pipelines.reindexing` says why and how). ``progress(done, total)``."""
        return reindex(self.settings.store, self.root_dir, self.settings.embedding_model,
                       collection=self.collection, force=force, lock_timeout=lock_timeout, progress=progress)

    def delete(
        self, name: str, lock_timeout: float = 5.0, *, remove_upload: bool = False
    ) -> list[SourceFile]:
        """Remove one document (by path, indexed path or file name) from the index.

        ``remove_upload``: also delete the saved copy of a document that was uploaded (the page and the
        service do); a file elsewhere on disk is never touched.
        """
        matches = self.find_documents(name)
        removed = self.index.delete_files([m.key for m in matches], lock_timeout=lock_timeout)
        if remove_upload:
            for source in removed:
                remove_upload_copy(source.key, self.index.directory)
        return removed

    # ----- uploads and watched folders (the front ends' shared ways in) -----
    def add_uploads(
        self,
        files: Iterable[tuple[str | None, UploadData]],
        *,
        progress: IngestProgress | None = None,
        lock_timeout: float = 5.0,
        refuse_unreadable: bool = False,
        ocr: bool = True,
        cancel: Callable[[], bool] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> UploadReport:
        """Save uploaded files (client name, bytes or a binary stream) as ``<index>/uploads/<safe name>``
        and ingest them; a name uploaded again replaces its document. See :mod:`docqa.pipelines.uploading`.

        :raises UnreadableUploadsError: with ``refuse_unreadable``, a file the loader cannot read; nothing
            was indexed.
        :raises BusyError: another upload or writer held the index for ``lock_timeout`` seconds.
        """
        return add_uploads(
            self,
            files,
            progress=progress,
            lock_timeout=lock_timeout,
            refuse_unreadable=refuse_unreadable,
            ocr=ocr,
            cancel=cancel,
            tags=tags,
        )

    def is_upload(self, key: str) -> bool:
        """True when the indexed document ``key`` is a copy saved by :meth:`add_uploads`."""
        return is_upload(key, self.index.directory)

    def watch(
        self,
        paths: Iterable[str | Path],
        *,
        on_change: Callable[[FileResult], None],
        ocr: bool = True,
        checkpoint_every: int = 512,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        lock_timeout: float = 30.0,
    ) -> IndexWatcher:
        """A watcher that keeps this index in step with ``paths`` (folders recursively, and files):
        ``run()`` it in the foreground or a thread, ``stop()`` it; ``on_change`` hears one line per change.

        :raises InvalidInputError: a path that does not exist.
        """
        return IndexWatcher(
            self,
            paths,
            on_change=on_change,
            ocr=ocr,
            checkpoint_every=checkpoint_every,
            debounce_s=debounce_s,
            lock_timeout=lock_timeout,
        )

    # ----- reading -----
    def documents(self) -> list[SourceFile]:
        """What is indexed, sorted by file name."""
        # the manifest alone: no passage is read
        return sorted(self.catalog.files().values(), key=lambda s: (s.file_name.lower(), s.key))

    def find_documents(self, name: str) -> list[SourceFile]:
        """Resolve a user's name for a document (:func:`docqa.pipelines.document_names.find_documents`).

        :raises DocumentNotFoundError: when nothing matches, or a bare file name matches several files.
        """
        return find_documents(self.documents(), name)

    def search(self, query: str, top_k: int = 5, mode: str | SearchMode = SearchMode.HYBRID,
               rerank: bool | None = None, filters: dict[str, Any] | None = None) -> list[Passage]:
        """The ``top_k`` best passages for ``query``; ``mode`` is "hybrid" (default), "dense" or "bm25"
        (a :class:`SearchMode` or its name; BM25 needs no embedding model). ``rerank`` (default: whenever
        the reranker is on, see :meth:`rerank_status`) reorders the retriever's top N with the reranker.
        ``filters`` (Haystack's filter syntax over file metadata and tags, see :meth:`filter_fields`)
        restrict the search before ranking: the best ``top_k`` among the passages that pass.

        :raises InvalidInputError: for an unknown mode (the message lists the choices) or ``top_k < 1``;
            ``FilterError`` naming an unknown field or a value of the wrong kind.
        """
        mode = SearchMode.from_str(mode)
        if top_k < 1:
            raise InvalidInputError("top_k must be at least 1")
        filters = self.filters.check(filters)
        documents = self.query_pipelines.search(
            query, top_k=top_k, mode=mode, rerank=rerank is not False, filters=filters
        )
        return [Passage.from_document(d) for d in documents]

    def rerank_status(self) -> dict[str, Any]:
        """Whether passages are reranked, and if not, why (``notice``: one line for a person)."""
        if self.reranker is not None:
            choice = self.reranker.backend_choice
            return {"enabled": True, "model": self.reranker.model, "candidates": self.reranker.candidates,
                    "backend": choice.to_dict() if choice else None, "notice": None}
        if not self.settings.rerank:
            notice = "reranking is off (DOCQA_RERANK=0 or --no-rerank)"
        else:
            notice = "no reranker in data/reranker (reinstall DocQA): passages are in retrieval order"
        return {"enabled": False, "model": None, "candidates": None, "backend": None, "notice": notice}

    def share_reading(self, window_s: float = 0.0, workers: int = 1) -> None:
        """Let questions asked at the same time from several threads (a service's concurrent ``/ask``)
        share the reader's forward passes: throughput rises with concurrent users instead of each
        question queueing whole. ``window_s``: how long an idle reader waits for company before a pass;
        ``workers``: passes run at the same time. The questions' embeddings are shared the same way (this
        loads the embedder now).
        Applies from the reader's next use; answers are unchanged (see
        :mod:`docqa.pipelines.components.readers.shared_batches`)."""
        with self._lock:
            self._shared_reading = (window_s, workers)
            if self._reader is not None:
                self._reader[0].share_batches(window_s, workers)
        # the question's embedding too: the process-wide encoder every query embedder of this model uses
        # (FAQ matching's, and the fitted question encoder of document search where that is another one)
        self.query_embedder().encoder.share_queries(window_s, workers)
        if self.query_pipelines.query_model != self.settings.embedding_model:
            from docqa.pipelines.components.embedders.sentence_embedders import get_encoder

            get_encoder(self.query_pipelines.query_model).share_queries(window_s, workers)

    def ask(
        self,
        question: str,
        *,
        top_k: int = 5,
        max_answers: int = 3,
        no_answer_threshold: float | None = None,
        faq_threshold: float | None = None,
        use_faq: bool = True,
        reading_slot: contextlib.AbstractContextManager[Any] | None = None,
        rerank: bool | None = None,
        filters: dict[str, Any] | None = None,
    ) -> FaqAskResult:
        """Answer ``question``: a curated FAQ answer when the question matches an FAQ entry closely
        enough (``faq_threshold``, default ``DOCQA_FAQ_THRESHOLD`` or 0.80), else :meth:`ask_documents`.

        :param reading_slot: entered only around the document step (retrieval and reading), never for a
            curated answer: a service passes e.g. a ``threading.BoundedSemaphore`` to limit how many
            questions read documents at once, while FAQ answers never wait for a slot.
        :param filters: search only the documents that pass (see :meth:`search`), and match only the FAQ
            entries whose tags pass (an untagged entry fails ``==``, passes ``!=``: Haystack's rules).
        :returns: a :class:`~docqa.pipelines.faq.results.FaqAskResult` (an :class:`AskResult` that
            also
            says how the question compared with the FAQ; ``from_faq`` is True for a curated answer).
        :raises InvalidInputError: an empty question, ``top_k``/``max_answers`` below 1, a threshold outside
            0..1.
        """
        if not question or not question.strip():
            raise InvalidInputError("question must not be empty")
        if top_k < 1 or max_answers < 1:
            raise InvalidInputError("top_k and max_answers must be at least 1")
        threshold = resolve_threshold(faq_threshold)
        filters = self.filters.check(filters)
        started = time.perf_counter()
        match = None
        if use_faq:
            match = self.faq_matcher().run(question=question, threshold=threshold, filters=filters)["match"]
        faq_ms = (time.perf_counter() - started) * 1000.0
        if match is not None and match.matched:
            return FaqAskResult.curated(question, match, faq_ms)
        with reading_slot if reading_slot is not None else contextlib.nullcontext():
            result = self.ask_documents(
                question, top_k=top_k, max_answers=max_answers, no_answer_threshold=no_answer_threshold,
                rerank=rerank, filters=filters,
            )
        return FaqAskResult.from_documents(result, match, faq_ms)

    @functools.cached_property
    def filters(self) -> IndexFilters:
        """Checks filters against this index's fields (:meth:`filter_fields`) and counts what they let
        through (``filters.scope(f)``: documents passing, documents indexed)."""
        return IndexFilters(self.catalog, self.index)

    def filter_fields(self) -> dict[str, str]:
        """Every field a filter may name in this index ("text", "number" or "date"): the built-in
        metadata (file_name, folder, file_type, title, size, page_count, modified, ingested) and tags."""
        return self.filters.fields()

    def faq_matcher(self) -> FaqMatcher:
        """The matcher of this index's FAQ, shared per process with every DocQA of the same index and model
        (it embeds with this DocQA's query embedder, as retrieval does)."""
        return shared_matcher(self.local_index, self.query_embedder(), self.settings.embedding_model)

    def load_faq(
        self, source: str | Path | bytes, *, name: str | None = None, lock_timeout: float = 5.0
    ) -> FaqLoadReport:
        """Store the FAQ file ``source`` (CSV question,answer / JSON / YAML list) in the index,
        replacing the previous FAQ; the report lists added/changed/removed entries.

        :param source: a path, or the file's bytes (then ``name`` gives the file name: format and messages).
        :raises docqa.pipelines.faq.files.FaqFileError: the file is invalid; nothing is
            changed.
        :raises docqa.pipelines.document_stores.local.index.IndexLockedError: another process is writing the
            index.
        """
        entries, label = read_faq(source, name)
        return FaqStore(self.local_index).replace(
            entries,
            self.faq_matcher().embed_questions,
            self.settings.embedding_model,
            source=label,
            lock_timeout=lock_timeout,
        )

    def faq_entries(self) -> list[FaqEntry]:
        """The FAQ entries stored in the index, in file order (empty when none was loaded)."""
        return FaqStore(self.local_index).entries()

    def ask_documents(
        self,
        question: str,
        *,
        top_k: int = 5,
        max_answers: int = 3,
        no_answer_threshold: float | None = None,
        rerank: bool | None = None,
        filters: dict[str, Any] | None = None,
    ) -> AskResult:
        """Retrieve passages (among those passing ``filters``, see :meth:`search`), rerank them (unless
        the reranker is off or ``rerank`` is False) and read the
        best ``top_k``; answers are ranked across passages.

        When the reader model is unavailable the result still carries the passages, with
        ``reader_error`` saying how to install the model (search keeps working without a reader).
        """
        if not question or not question.strip():
            raise InvalidInputError("question must not be empty")
        if top_k < 1 or max_answers < 1:
            raise InvalidInputError("top_k and max_answers must be at least 1")
        filters = self.filters.check(filters)
        try:
            reader, info = self.reader_and_info()
        except ModelUnavailableError as err:
            documents, retrieval_ms = self.query_pipelines.retrieve(
                question, top_k=top_k, rerank=rerank, filters=filters
            )
            passages = [Passage.from_document(d) for d in documents]
            timings = {"retrieval": retrieval_ms, "total": retrieval_ms}
            return AskResult(question, [], True, 1.0, passages, timings, reader_error=str(err))
        output = self.query_pipelines.ask(
            question, reader, top_k=top_k, max_answers=max_answers, no_answer_threshold=no_answer_threshold,
            rerank=rerank, filters=filters,
        )
        passages = [Passage.from_document(d) for d in output.documents]
        by_id = {p.id: p for p in passages}
        return AskResult(
            question,
            [Answer.from_extracted(a, by_id) for a in output.answers],
            output.no_answer,
            output.no_answer_score,
            passages,
            output.timings_ms,
            reader=info.name,
            reader_notice=info.notice,
            reader_fallback=bool(info.is_fallback),
            answerability=output.answerability,
        )

    def stats(self) -> dict[str, Any]:
        """Counts for a status line: documents, passages, pages, last ingest."""
        meta = self.catalog.index_meta()
        if not meta:
            return {
                "index": self.catalog.location(),
                "documents": 0,
                "passages": 0,
                "pages": 0,
                "last_ingest": None,
            }
        files = self.catalog.files()
        return {
            "index": self.catalog.location(),
            "documents": len(files),
            "passages": meta["passages"],
            "pages": sum(s.pages for s in files.values()),
            "last_ingest": max((s.ingested_at for s in files.values()), default=None),
            "embedding_model": meta.get("embedding_model"),
        }
