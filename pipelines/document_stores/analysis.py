"""How text becomes BM25 terms, for every engine: lower-cased words, stop words dropped, Snowball stems and
adjacent-stem bigrams.

Both engines index these tokens — the local store hashes them into its segments' postings
(:mod:`~docqa.pipelines.document_stores.local.segments`), the Milvus store sends them as the text its BM25
function indexes (:func:`~docqa.pipelines.document_stores.milvus.bm25_text.bm25_terms`) — so a question is
analysed the same way whichever store answers it. Why not Haystack's ``InMemoryBM25Retriever`` tokenizer:
it neither stems nor drops stop words, so "founded" misses "founding" and "the"/"of" dilute every score;
with stems, stop words, the title as a field and bigrams, BM25 alone reached R@1 0.865 on the SQuAD
benchmark against 0.812 for Haystack's BM25 (``benchmarks/ingest_retrieve.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

# A compact English stop-word list (the common closed-class words). Question words like "who"/"when" are
# in it on purpose: they appear in every question and say nothing about which passage answers it.
_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves s t d ll m re ve also"""
ENGLISH_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

# A passage is "repetitive" — keyword stuffing, not prose — when it has at least REPETITION_MIN_TERMS analysed
# terms and repeats them more than REPETITION_LIMIT times each on average (length / distinct terms). Prose
# stays far below: over the 25,513 paragraphs of the training, dev and distractor files (Wikipedia, Reddit,
# Amazon reviews) the median is 1.14, the 99.9th percentile 1.69 and the maximum 2.15. The dev experiment
# in :func:`repetitive` gave the same results for limits 3, 4 and 6; 4 keeps a 2x margin over prose.
REPETITION_LIMIT = 4.0
REPETITION_MIN_TERMS = 32

# Letters and digits only: "_" and punctuation split words, so "Steam_engine" gives "steam", "engine".
_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)


def repetitive(length: Any, distinct: Any) -> Any:
    """Whether passages of ``length`` analysed terms, ``distinct`` of them different, are keyword stuffing:
    keyword (BM25) search ignores them and meaning (dense) search alone can still find them.

    Why: BM25 rewards a passage for holding the question's words, however it holds them. A 1 KB file of
    a question's words repeated ("Duchy,Normandy,founded,...") outscored every real passage for that
    question in BM25, and by so much that hybrid fusion put it first. Measured on the dev articles
    (Harvard_University, Force + 20 distractor articles, 314 questions) with one such file per question
    indexed: the stuffed file came first for 100% of the questions and hybrid R@1 fell from 0.892 to 0;
    ignoring repetitive passages in BM25 brought R@1 back to 0.898 with no stuffed file first, and left
    the clean index's results unchanged. Damping their term counts instead (counts scaled down to 2 or 1.5
    repeats per term) still let the stuffed file come first for 95% and 90% of the questions: BM25
    saturates term counts anyway, the harm is in holding *every* word of the question.

    Works on numbers or numpy arrays alike.
    """
    return (length >= REPETITION_MIN_TERMS) & (length > REPETITION_LIMIT * np.maximum(distinct, 1))


@lru_cache(maxsize=8)
def _stemmer(language: str) -> Any:
    import Stemmer  # PyStemmer: Snowball stemmers in C

    return Stemmer.Stemmer(language)


class Tokenizer:
    """Lower-case word tokens, stop words dropped, Snowball-stemmed, plus (optionally) bigrams of adjacent
    remaining stems ("steam engine" -> "steam", "engin", "steam engin"). Callable: ``text -> list[str]``.

    Bigrams reward passages that contain the question's phrases, not just its words: on the SQuAD
    benchmark they raised hybrid recall@1 from 0.852 to 0.889 (R@5 0.971 -> 0.974).
    """

    def __init__(
        self,
        language: str | None = "english",
        stopwords: Iterable[str] | None = ENGLISH_STOPWORDS,
        bigrams: bool = False,
    ):
        self.language = language
        self.stopwords = frozenset(stopwords or ())
        self.bigrams = bigrams
        self._stem = _stemmer(language).stemWords if language else None

    def __call__(self, text: str) -> list[str]:
        words = [w for w in _TOKEN_RE.findall(text.lower()) if w not in self.stopwords]
        if self._stem:
            words = self._stem(words)
        if self.bigrams and len(words) > 1:
            # A space cannot occur inside a token, so a bigram never collides with a unigram.
            words = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        return words
