"""Matching a question against the curated FAQ, before any document is read.

A support team often knows the answer to its most frequent questions better than any passage does. The
user's question is embedded with the same query embedder as retrieval uses and compared (cosine on
L2-normalised vectors) with every FAQ question held by the :class:`~docqa.pipelines.faq.store.
FaqStore`. When the best similarity reaches the threshold the curated answer is returned as written;
otherwise DocQA answers from the documents, with the nearest FAQ entry attached.

The default threshold (:data:`DEFAULT_FAQ_THRESHOLD`) is measured, not guessed: see
``benchmarks/faq_match.py`` and ``data/faq_paraphrases.json``. Override it per call, per matcher, or with
the environment variable ``DOCQA_FAQ_THRESHOLD``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from haystack import component, default_from_dict, default_to_dict
from haystack.core.serialization import (
    component_from_dict,
    component_to_dict,
    generate_qualified_class_name,
    import_class_by_name,
)

from docqa import config
from docqa.errors import InvalidInputError
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.faq.results import FaqMatch
from docqa.pipelines.faq.store import EmbedTexts, FaqStore

# Measured by benchmarks/faq_match.py on data/faq_paraphrases.json with the packaged all-MiniLM-L6-v2:
# the lowest threshold whose precision stays >= 0.95 also 0.01 below it (embedding noise). There:
# precision 0.97, recall 0.55 (5-fold cross-validated the same). Paraphrases that share few words with
# the FAQ question fall below it and get document answers, with the nearest FAQ question attached.
DEFAULT_FAQ_THRESHOLD = config.DEFAULT_FAQ_THRESHOLD


class TextEmbedder(Protocol):
    """What the matcher needs from an embedder: ``run(text=...)`` returning ``{"embedding": [...]}``."""

    def run(self, text: str) -> dict[str, Any]: ...


def resolve_threshold(threshold: float | None = None) -> float:
    """The per-call value, else ``DOCQA_FAQ_THRESHOLD``, else the calibrated default.

    A service calls this once at start-up so that a bad variable stops the start, not every question.

    :raises ConfigError: ``DOCQA_FAQ_THRESHOLD`` is not a number between 0 and 1 (the message names it).
    :raises InvalidInputError: a per-call value outside 0..1 (cosine similarities of questions live there).
    """
    if threshold is None:
        return config.env_float(config.FAQ_THRESHOLD, DEFAULT_FAQ_THRESHOLD, low=0.0, high=1.0)
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInputError(f"the FAQ threshold must be between 0 and 1, got {threshold}")
    return float(threshold)


@component
class FaqMatcher:
    """The FAQ entry nearest to a question, and whether it is close enough to answer with.

    Handed its :class:`FaqStore`; follows ``faq.json`` when another process replaces it. Give it the
    question (it is embedded with ``embedder``) or, inside a pipeline that already embedded the query for
    retrieval, the ``query_embedding``. The embedder also re-embeds stored FAQ questions that were
    embedded by another model.

    Usage::

        from docqa.pipelines.components.embedders.sentence_embedders import QueryEmbedder
        from docqa.pipelines.faq.store import FaqStore
        from docqa.pipelines.document_stores.local.index import LocalIndex

        matcher = FaqMatcher(FaqStore(LocalIndex("./docqa-index")), embedder=QueryEmbedder())
        matcher.warm_up()
        match = matcher.run(question="I forgot my password")["match"]
        if match is not None and match.matched:
            print(match.entry.answer, match.similarity)
    """

    def __init__(
        self,
        store: FaqStore,
        embedder: TextEmbedder | None = None,
        *,
        embedding_model: str | None = None,
        threshold: float | None = None,
    ) -> None:
        """
        :param embedding_model: the model the query embeddings come from; defaults to ``embedder.model``.
        :param threshold: the similarity that makes a match; None: ``DOCQA_FAQ_THRESHOLD`` (read per call)
            or :data:`DEFAULT_FAQ_THRESHOLD`.
        """
        model = embedding_model or getattr(embedder, "model", None)
        if not model:
            raise ValueError("FaqMatcher needs an embedder, or the embedding_model of its query vectors")
        if threshold is not None:
            resolve_threshold(threshold)
        self.store = store
        self.embedder = embedder
        self.embedding_model = str(model)
        self.threshold = threshold

    # ----- Haystack component protocol -----
    def warm_up(self) -> None:
        """Load the embedder and the stored FAQ vectors now rather than on the first question."""
        warm = getattr(self.embedder, "warm_up", None)
        if callable(warm):
            warm()
        self.store.vectors(self.embedding_model, self._embed_or_none())

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            store=self.store.to_dict(),
            embedder=component_to_dict(self.embedder, "embedder") if self.embedder is not None else None,
            embedding_model=self.embedding_model,
            threshold=self.threshold,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaqMatcher:
        # Our own parts are rebuilt here rather than by Haystack's generic nested deserialisation, whose
        # module allowlist does not include this package.
        params = dict(data.get("init_parameters", {}))
        params["store"] = FaqStore.from_dict(params["store"])
        if params.get("embedder") is not None:
            params["embedder"] = _embedder_from_dict(params["embedder"])
        return default_from_dict(cls, {**data, "init_parameters": params})

    @component.output_types(match=FaqMatch | None)
    def run(
        self,
        question: str | None = None,
        query_embedding: list[float] | None = None,
        threshold: float | None = None,
        filters: dict[str, Any] | None = None,
    ) -> dict[str, FaqMatch | None]:
        """Match one question (with ``filters``, Haystack syntax already checked by
        ``document_stores.filters.check_filters``: among the entries whose tags pass).

        :returns: ``{"match": FaqMatch}`` for the nearest entry (check ``match.matched``), or
            ``{"match": None}`` when the index has no FAQ (then nothing is embedded).
        :raises InvalidInputError: neither a question nor its embedding, or a threshold outside 0..1.
        """
        limit = resolve_threshold(threshold if threshold is not None else self.threshold)
        embed = self._embed_or_none()
        entries, _ = self.store.vectors(self.embedding_model, embed)
        if not entries:
            return {"match": None}
        if query_embedding is None:
            if question is None or not question.strip():
                raise InvalidInputError("FaqMatcher.run needs a non-empty question or its query_embedding")
            query_embedding = self._embed_one(question)
        found = self.store.nearest(query_embedding, self.embedding_model, embed, filters=filters)
        if found is None:  # the FAQ was removed between the two looks
            return {"match": None}
        entry, similarity = found
        return {"match": FaqMatch(entry, similarity, limit)}

    # ----- embedding -----
    def embed_questions(self, texts: Sequence[str]) -> np.ndarray:
        """FAQ questions embedded like user questions (with the query embedder): the same kind of text.

        :raises ValueError: this matcher was built without an embedder.
        """
        return np.asarray([self._embed_one(t) for t in texts], dtype=np.float32)

    def _embed_one(self, text: str) -> list[float]:
        if self.embedder is None:
            raise ValueError("this FaqMatcher has no embedder: pass query_embedding instead of the question")
        return self.embedder.run(text=text)["embedding"]

    def _embed_or_none(self) -> EmbedTexts | None:
        return self.embed_questions if self.embedder is not None else None


def _embedder_from_dict(data: dict[str, Any]) -> Any:
    from docqa.pipelines.components.embedders.sentence_embedders import QueryEmbedder

    if data.get("type") == generate_qualified_class_name(QueryEmbedder):
        embedder_class: type = QueryEmbedder
    else:
        embedder_class = import_class_by_name(data["type"])  # subject to Haystack's module allowlist
    return component_from_dict(embedder_class, data, "embedder")


_SHARED: dict[tuple[str, str], FaqMatcher] = {}
_SHARED_LOCK = threading.Lock()


def shared_matcher(index: LocalIndex, embedder: TextEmbedder, embedding_model: str) -> FaqMatcher:
    """One matcher per (index directory, embedding model) per process: every DocQA object of a service
    then shares one cached copy of the FAQ vectors instead of reading ``faq.json`` each."""
    key = (str(index.directory.resolve()), embedding_model)
    with _SHARED_LOCK:
        matcher = _SHARED.get(key)
        if matcher is None:
            matcher = FaqMatcher(FaqStore(index), embedder, embedding_model=embedding_model)
            _SHARED[key] = matcher
        return matcher
