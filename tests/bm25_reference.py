"""An independent, in-memory Okapi BM25 (SciPy sparse matrix) used as the *reference* the store's segment
postings must score exactly like, and by ``benchmarks/legacy`` (the retired snapshot store's BM25).

Why it lives in tests: the product's BM25 is the segment postings of the local store and Milvus's BM25
function; this class was the store's BM25 before the segment store and is kept only to check that scoring
over many segments equals one index over all passages.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from haystack import Document
from scipy import sparse

from docqa.pipelines.document_stores.analysis import ENGLISH_STOPWORDS, Tokenizer, repetitive


class BM25Index:
    """Okapi BM25 over a mutable set of Documents; the title (``meta["title"]``) is an extra weighted field.

    Build with ``BM25Index(documents)`` or ``add_documents``; ``remove_documents`` drops passages of a
    deleted or changed file. ``retrieve(query, top_k)`` returns copies of the best Documents with their
    BM25 score in ``score`` (higher is better; not comparable across queries); ``search`` returns ids and
    scores, and the scores of extra ids a hybrid search asks about.

    Usage::

        index = BM25Index([Document(id="a", content="Watt improved the steam engine.")])
        index.retrieve("steam engines", top_k=1)[0].id  # "a"
    """

    def __init__(
        self,
        documents: Iterable[Document] | None = None,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        language: str | None = "english",
        remove_stopwords: bool = True,
        title_field: str | None = "title",
        title_weight: int = 1,
        bigrams: bool = True,
    ) -> None:
        """
        :param k1: term-frequency saturation. :param b: length normalisation (0 = none, 1 = full).
        :param language: Snowball stemmer language, or None for no stemming.
        :param title_field: meta key whose text is added to each passage's tokens (None: content only).
        :param title_weight: how many times the title tokens count (a cheap BM25F).
        :param bigrams: also index adjacent-stem bigrams (see :class:`Tokenizer`).
        """
        self.k1 = float(k1)
        self.b = float(b)
        self.language = language
        self.remove_stopwords = remove_stopwords
        self.title_field = title_field
        self.title_weight = int(title_weight)
        self.bigrams = bigrams
        self.tokenizer = Tokenizer(language, ENGLISH_STOPWORDS if remove_stopwords else None, bigrams=bigrams)
        self._lock = threading.RLock()
        self._docs: dict[str, Document] = {}
        self._counts: dict[str, Counter[str]] = {}
        # Built lazily by _build(): row order, vocabulary, term->docs weight matrix.
        self._dirty = True
        self._row_ids: list[str] = []
        self._row_index: dict[str, int] = {}
        self._vocab: dict[str, int] = {}
        self._matrix: sparse.csr_matrix | None = None
        if documents is not None:
            self.add_documents(documents)

    # ----- index maintenance -------------------------------------------------------------------------
    def _doc_tokens(self, doc: Document) -> Counter[str]:
        counts = Counter(self.tokenizer(doc.content or ""))
        if self.title_field and self.title_weight > 0:
            title = (doc.meta or {}).get(self.title_field)
            if title:
                for tok in self.tokenizer(str(title)):
                    counts[tok] += self.title_weight
        return counts

    def add_documents(self, documents: Iterable[Document]) -> int:
        """Add (or replace, by id) documents; returns how many were indexed. Tokenises outside the lock."""
        prepared = [(d, self._doc_tokens(d)) for d in documents]
        with self._lock:
            for doc, counts in prepared:
                self._docs[doc.id] = doc
                self._counts[doc.id] = counts
            if prepared:
                self._dirty = True
        return len(prepared)

    def remove_documents(self, document_ids: Iterable[str]) -> int:
        """Remove documents by id (unknown ids are ignored); returns how many were removed."""
        removed = 0
        with self._lock:
            for doc_id in document_ids:
                if self._docs.pop(doc_id, None) is not None:
                    del self._counts[doc_id]
                    removed += 1
            if removed:
                self._dirty = True
        return removed

    def get_document(self, doc_id: str) -> Document | None:
        """The indexed Document with this id (as added, embedding included if it had one), or None."""
        return self._docs.get(doc_id)

    def count_documents(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._docs

    def _build(self) -> None:
        """(Re)compute the term x document matrix of BM25 weights from the cached token counts."""
        row_ids = list(self._docs)
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        lengths = np.zeros(len(row_ids), dtype=np.float64)
        for r, doc_id in enumerate(row_ids):
            counts = self._counts[doc_id]
            lengths[r] = sum(counts.values())
            if repetitive(lengths[r], len(counts)):  # keyword stuffing: no BM25 terms
                continue
            for term, tf in counts.items():
                rows.append(vocab.setdefault(term, len(vocab)))
                cols.append(r)
                tfs.append(tf)
        n_docs = len(row_ids)
        if n_docs == 0 or not vocab:
            self._row_ids, self._vocab, self._matrix = row_ids, vocab, None
            self._row_index = {doc_id: i for i, doc_id in enumerate(row_ids)}
            self._dirty = False
            return
        rows_a = np.asarray(rows, dtype=np.int64)
        cols_a = np.asarray(cols, dtype=np.int64)
        tf_a = np.asarray(tfs, dtype=np.float64)
        # token-weighted average length, as the store (searcher.weighted_average_length)
        avgdl = float(lengths @ lengths / lengths.sum()) if lengths.sum() > 0 else 1.0
        df = np.bincount(rows_a, minlength=len(vocab)).astype(np.float64)
        # Lucene's idf: always positive, so a term in most passages still counts a little.
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = self.k1 * (1.0 - self.b + self.b * lengths[cols_a] / avgdl)
        weights = idf[rows_a] * tf_a * (self.k1 + 1.0) / (tf_a + norm)
        matrix = sparse.csr_matrix((weights, (rows_a, cols_a)), shape=(len(vocab), n_docs), dtype=np.float32)
        self._row_ids, self._vocab, self._matrix = row_ids, vocab, matrix
        self._row_index = {doc_id: i for i, doc_id in enumerate(row_ids)}
        self._dirty = False

    # ----- scoring ------------------------------------------------------------------------------------
    def _score(self, query: str) -> tuple[list[str], dict[str, int], np.ndarray]:
        """Scores of every indexed document, with the row order and id->row map they refer to (one
        consistent snapshot, even if another thread edits the index meanwhile)."""
        with self._lock:
            if self._dirty:
                self._build()
            row_ids, row_index, vocab, matrix = self._row_ids, self._row_index, self._vocab, self._matrix
        if matrix is None:
            return row_ids, row_index, np.zeros(len(row_ids), dtype=np.float32)
        terms = [vocab[t] for t in set(self.tokenizer(query)) if t in vocab]
        if not terms:
            return row_ids, row_index, np.zeros(len(row_ids), dtype=np.float32)
        return row_ids, row_index, np.asarray(matrix[terms].sum(axis=0)).ravel()

    def score_all(self, query: str) -> tuple[list[str], np.ndarray]:
        """BM25 score of every indexed document for ``query``: (ids in row order, scores)."""
        row_ids, _, scores = self._score(query)
        return row_ids, scores

    def search(
        self, query: str, top_k: int, also: Iterable[str] = ()
    ) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """The ``top_k`` best ``(doc_id, score)`` pairs (documents sharing no term with the query are left
        out) and, for each indexed id in ``also``, its score: a hybrid retriever needs BM25's opinion of
        the dense retriever's candidates too."""
        row_ids, row_index, scores = self._score(query)
        extra = {d: float(scores[row_index[d]]) for d in also if d in row_index}
        return self._top(row_ids, scores, top_k), extra

    @staticmethod
    def _top(row_ids: list[str], scores: np.ndarray, top_k: int) -> list[tuple[str, float]]:
        if top_k <= 0 or not len(scores):
            return []
        k = min(top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # by score, ties by insertion order: deterministic
        return [(row_ids[i], float(scores[i])) for i in top if scores[i] > 0.0]

    def retrieve(self, query: str, top_k: int = 10) -> list[Document]:
        """The best-matching Documents for ``query`` (copies, with ``score`` set), best first."""
        hits, _ = self.search(query, top_k)
        docs = self._docs
        out = []
        for doc_id, score in hits:
            doc = docs.get(doc_id)
            if doc is not None:
                out.append(replace(doc, score=score))
        return out

    def idf(self, term: str) -> float:
        """Inverse document frequency of an (unstemmed) word; 0.0 if it is not indexed. For diagnostics."""
        toks = self.tokenizer(term)
        if not toks:
            return 0.0
        with self._lock:
            if self._dirty:
                self._build()
            col = self._vocab.get(toks[0])
            if col is None or self._matrix is None:
                return 0.0
            df = self._matrix[col].getnnz()
        n = len(self._row_ids)
        return math.log1p((n - df + 0.5) / (df + 0.5))
