"""From start/end logits of all windows to ranked answers with exact character offsets.

Scoring (SQuAD 2.0, as in Google's ``run_squad`` and Hugging Face's ``run_qa``):

- a span ``(i, j)`` of *passage* tokens with ``i <= j < i + max_answer_length`` scores
  ``start[i] + end[j]``; spans never touch question or special tokens, so they cannot cross a window border;
- the null ("no answer") score of a window is ``start[cls] + end[cls]``; over several windows we take
  the smallest one (the window most convinced that an answer exists), as ``run_squad`` does;
- ``null_score_diff = null − best_span``; the reader says "no answer" when it exceeds a threshold τ.

Raw span scores rank answers across windows and passages (this is also how Haystack's reader ranks:
its sigmoid(0.1·score) is monotonic in the same sum), so the top answer matches theirs.

Confidence: a softmax over *every* valid span of every window plus the null score, i.e.
``p(span) = exp(score) / (exp(null) + Σ_valid exp(score'))``. It lies in 0..1, it is comparable across
passages (one normaliser for the whole question), and ``p(null)`` is returned as the no-answer
probability. A merged answer (same text in several passages) keeps the score of its best occurrence so
that ranking stays that of the raw scores.

Spans close the brackets and quotes they open where one character allows it
(:mod:`~docqa.pipelines.components.readers.span_tidying`: ``Catholicism (Christianity`` → ``Catholicism
(Christianity)``); scores and token positions are those of the span as read.

Sources: a merged answer lists one source per distinct passage (its best occurrence there), best first,
at most ``max_sources`` (default 5), and counts every passage it was found in (``source_count``). Why
(issue 27): it listed every occurrence, and every source carries its passage's text to the client, so
a passage that repeats the answer made the response grow with the square of the passage's length (a
64 KiB one-"word" file: 392 sources, each with the whole passage, a 26 MB ``/ask`` response).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from docqa.pipelines.components.readers.qa_windows import Window
from docqa.pipelines.components.readers.span_tidying import balance_brackets
from docqa.pipelines.squad import normalize_answer

DEFAULT_MAX_ANSWER_LENGTH = 30
DEFAULT_SPANS_PER_WINDOW = 20
DEFAULT_OVERLAP_THRESHOLD = 0.01
DEFAULT_MAX_SOURCES = 5


@dataclass
class SpanCandidate:
    """One answer span in one window, with character offsets into its passage."""

    passage_index: int
    window_index: int
    start_token: int
    end_token: int
    start_char: int
    end_char: int
    start_logit: float
    end_logit: float

    @property
    def score(self) -> float:
        return self.start_logit + self.end_logit


@dataclass
class Answer:
    """A ranked answer: its best occurrence, and its best occurrence in each passage where the same text
    was found (``sources``, best first, capped; ``source_count`` counts all those passages)."""

    text: str
    best: SpanCandidate
    probability: float
    sources: list[SpanCandidate] = field(default_factory=list)
    source_count: int = 1


@dataclass
class DecodedQuestion:
    answers: list[Answer]
    null_score: float  # min over windows of start[cls] + end[cls]; -inf without any window
    best_span_score: float  # -inf without any candidate
    null_probability: float  # softmax share of the null score; 1.0 when nothing could be read

    @property
    def null_score_diff(self) -> float:
        """``null − best``: large means "no answer". +inf when there is no span at all."""
        if not math.isfinite(self.best_span_score):
            return math.inf
        return self.null_score - self.best_span_score


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def _paragraph_of_tokens(text: str, char_starts: np.ndarray) -> np.ndarray:
    """Index of the paragraph (blank-line separated) each token starts in."""
    breaks = np.array([m.end() for m in _PARAGRAPH_BREAK.finditer(text)], dtype=np.int64)
    return np.searchsorted(breaks, char_starts, side="right")


def _span_matrix(
    start: np.ndarray, end: np.ndarray, window: Window, max_answer_length: int | None, text: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of all valid spans of one window: (positions of passage tokens, [n, n] score matrix with
    -inf where the span is invalid).

    A span may not run across a blank line of ``text``: passages join paragraphs and pages with blank
    lines, and an answer that starts in one paragraph and ends in the next is never a real answer.
    """
    pos = np.flatnonzero(window.context_mask)
    s = start[pos].astype(np.float64)
    e = end[pos].astype(np.float64)
    scores = s[:, None] + e[None, :]
    n = pos.size
    rows = np.arange(n)[:, None]
    cols = np.arange(n)[None, :]
    valid = cols >= rows
    if max_answer_length is not None:
        # lengths are counted in tokens of the window; passage tokens are contiguous in a window
        valid &= (pos[None, :] - pos[:, None]) < max_answer_length
    if "\n" in text and n:
        paragraph = _paragraph_of_tokens(text, window.offsets[pos, 0])
        valid &= paragraph[:, None] == paragraph[None, :]
    scores[~valid] = -np.inf
    return pos, scores


def decode_windows(
    windows: Sequence[Window],
    logits: Sequence[tuple[np.ndarray, np.ndarray]],
    passages: Sequence[str],
    *,
    max_answer_length: int | None = DEFAULT_MAX_ANSWER_LENGTH,
    spans_per_window: int = DEFAULT_SPANS_PER_WINDOW,
    top_k: int = 5,
    overlap_threshold: float | None = DEFAULT_OVERLAP_THRESHOLD,
    max_sources: int = DEFAULT_MAX_SOURCES,
) -> DecodedQuestion:
    """Rank answers for one question over all its windows.

    :param windows: the windows of this question (any passages, any order).
    :param logits: ``(start_logits, end_logits)`` per window, each of length ``window.length``.
    :param passages: texts indexed by ``Window.passage_index``.
    :param max_answer_length: longest answer in tokens; ``None`` = unlimited (Haystack's behaviour).
    :param spans_per_window: candidates kept per window before cross-window ranking.
    :param overlap_threshold: drop an answer overlapping a better one of the same passage by more than
        this fraction of either span (Haystack's rule); ``None`` keeps all.
    :param max_sources: sources listed per answer (one per passage, best first).
    """
    candidates: list[SpanCandidate] = []
    null_score = math.inf
    log_terms: list[float] = []
    for w_index, (window, (start, end)) in enumerate(zip(windows, logits, strict=True)):
        start = np.asarray(start, dtype=np.float64)[: window.length]
        end = np.asarray(end, dtype=np.float64)[: window.length]
        null_score = min(null_score, float(start[window.cls_index] + end[window.cls_index]))
        pos, scores = _span_matrix(start, end, window, max_answer_length, passages[window.passage_index])
        if pos.size == 0:
            continue
        flat = scores.ravel()
        finite = np.isfinite(flat)
        if not finite.any():
            continue
        top = flat.max()
        log_terms.append(float(top + np.log(np.exp(flat[finite] - top).sum())))
        k = min(spans_per_window, int(finite.sum()))
        best = np.argpartition(-flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
        for idx in best:
            if not np.isfinite(flat[idx]):
                continue
            i, j = divmod(int(idx), pos.size)
            ti, tj = int(pos[i]), int(pos[j])
            start_char, end_char = balance_brackets(
                passages[window.passage_index], int(window.offsets[ti, 0]), int(window.offsets[tj, 1]))
            candidates.append(
                SpanCandidate(
                    passage_index=window.passage_index,
                    window_index=w_index,
                    start_token=ti,
                    end_token=tj,
                    start_char=start_char,
                    end_char=end_char,
                    start_logit=float(start[ti]),
                    end_logit=float(end[tj]),
                )
            )
    if not windows:
        return DecodedQuestion([], -math.inf, -math.inf, 1.0)

    log_z = float(np.logaddexp.reduce(np.array([null_score, *log_terms])))
    candidates.sort(key=lambda c: c.score, reverse=True)
    candidates = remove_overlaps(candidates, overlap_threshold)
    answers = merge_same_text(candidates, passages, log_z, max_sources)[:top_k]
    best_score = candidates[0].score if candidates else -math.inf
    return DecodedQuestion(
        answers=answers,
        null_score=null_score,
        best_span_score=best_score,
        null_probability=math.exp(null_score - log_z),
    )


def _overlap(a: SpanCandidate, b: SpanCandidate) -> int:
    if a.start_char <= b.end_char and b.start_char <= a.end_char:
        return min(a.end_char - a.start_char, a.end_char - b.start_char,
                   b.end_char - a.start_char, b.end_char - b.start_char)
    return 0


def remove_overlaps(ranked: Sequence[SpanCandidate], threshold: float | None) -> list[SpanCandidate]:
    """Keep a span only if it overlaps no better span of the same passage by more than ``threshold`` of
    either length. The same span found in two overlapping windows is thereby kept once (its best).

    A span is compared only with the kept spans of its own passage, so the cost grows with the square of
    the candidates per passage, not of all candidates of the question."""
    if threshold is None:
        return list(ranked)
    kept: list[SpanCandidate] = []
    kept_in: dict[int, list[SpanCandidate]] = {}
    for cand in ranked:
        same_passage = kept_in.setdefault(cand.passage_index, [])
        clash = False
        for other in same_passage:
            ov = _overlap(other, cand)
            if ov == 0:
                continue
            len_o = max(other.end_char - other.start_char, 1)
            len_c = max(cand.end_char - cand.start_char, 1)
            if ov / len_o > threshold or ov / len_c > threshold:
                clash = True
                break
        if not clash:
            kept.append(cand)
            same_passage.append(cand)
    return kept


def answer_key(text: str) -> str:
    """Key under which answers are merged: SQuAD normalisation (case, punctuation, articles, spaces);
    falls back to the stripped text when normalisation leaves nothing (e.g. the answer "The")."""
    return normalize_answer(text) or text.strip()


def merge_same_text(
    ranked: Sequence[SpanCandidate],
    passages: Sequence[str],
    log_z: float,
    max_sources: int = DEFAULT_MAX_SOURCES,
) -> list[Answer]:
    """Fold spans with the same (normalised) text into one answer; the answer keeps the text, offsets and
    probability of its best occurrence. Its sources are its best occurrence in each passage, in rank
    order, at most ``max_sources``; a later occurrence in a passage already counted adds nothing."""
    if max_sources < 1:
        raise ValueError(f"max_sources must be at least 1, got {max_sources}")
    merged: dict[str, tuple[Answer, set[int]]] = {}
    order: list[Answer] = []
    for cand in ranked:
        text = passages[cand.passage_index][cand.start_char : cand.end_char]
        key = answer_key(text)
        if key in merged:
            answer, seen = merged[key]
            if cand.passage_index not in seen:
                seen.add(cand.passage_index)
                answer.source_count += 1
                if len(answer.sources) < max_sources:
                    answer.sources.append(cand)
            continue
        answer = Answer(text=text, best=cand, probability=math.exp(cand.score - log_z), sources=[cand])
        merged[key] = (answer, {cand.passage_index})
        order.append(answer)
    return order
