"""Question + passages → token windows for extractive QA (the one preprocessing step, shared by
inference and training).

Why a module of its own: reading, evaluation and a later fine-tuning command must cut text into exactly
the same windows, or offsets and labels drift apart. Nothing here knows about a model, a backend or a
score; it works with any Hugging Face *fast* tokenizer (cased or uncased, BERT/RoBERTa-like).

Windowing follows the Hugging Face convention that Haystack's reader also uses (``truncation`` of the
passage only, ``stride`` = number of tokens shared by consecutive windows), so our answers line up with
theirs. Questions longer than ``max_question_tokens`` are cut first (as in Google's ``run_squad``):
otherwise a long question leaves no room for the passage and the tokenizer refuses to window it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_SEQ_LENGTH = 384
DEFAULT_STRIDE = 128
DEFAULT_MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class Window:
    """One model input: the question followed by a slice of one passage.

    ``offsets[i]`` are character offsets of token ``i`` in the *original passage* text (only meaningful
    where ``context_mask[i]`` is true; question and special tokens hold ``(0, 0)``).
    """

    passage_index: int
    input_ids: np.ndarray  # int64 [L]
    token_type_ids: np.ndarray | None  # int64 [L]; None when the tokenizer has no segment ids
    offsets: np.ndarray  # int64 [L, 2]
    context_mask: np.ndarray  # bool [L]: token belongs to the passage
    cls_index: int  # position of the token whose logits stand for "no answer"

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])

    def context_char_range(self) -> tuple[int, int]:
        """First and last character of the passage that this window covers (end exclusive)."""
        idx = np.flatnonzero(self.context_mask)
        if idx.size == 0:
            return (0, 0)
        return int(self.offsets[idx[0], 0]), int(self.offsets[idx[-1], 1])


def question_budget(tokenizer, max_seq_length: int, stride: int, max_question_tokens: int) -> int:
    """How many question tokens fit so that every window still has more than ``stride`` passage tokens.

    :raises ValueError: when ``max_seq_length``/``stride`` leave no room for a passage at all.
    """
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    room = max_seq_length - specials - stride - 1
    budget = min(max_question_tokens, room)
    if stride < 0 or budget < 1:
        raise ValueError(
            f"max_seq_length={max_seq_length} with stride={stride} leaves no room for question and passage; "
            f"use a stride smaller than max_seq_length - {specials + 2} (e.g. 384/128)"
        )
    return budget


def truncate_question(tokenizer, question: str, max_tokens: int) -> str:
    """Cut ``question`` after its first ``max_tokens`` tokens, at a character boundary of the text."""
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    if len(offsets) <= max_tokens:
        return question
    return question[: offsets[max_tokens - 1][1]]


def build_windows(
    tokenizer,
    question: str,
    passages: Sequence[str | None],
    *,
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    stride: int = DEFAULT_STRIDE,
    max_question_tokens: int = DEFAULT_MAX_QUESTION_TOKENS,
) -> list[Window]:
    """Tokenize ``question`` against every passage and split long passages into overlapping windows.

    Empty or ``None`` passages produce no window (there is nothing to answer from), so the result may be
    empty. Windows come back in passage order, then left to right.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("build_windows needs a Hugging Face fast tokenizer (character offsets are required)")
    budget = question_budget(tokenizer, max_seq_length, stride, max_question_tokens)
    question = truncate_question(tokenizer, question.strip(), budget)
    kept = [i for i, p in enumerate(passages) if p is not None and p.strip()]
    if not kept:
        return []
    enc = tokenizer(
        [question] * len(kept),
        [passages[i] for i in kept],
        truncation="only_second",
        max_length=max_seq_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    cls_id = tokenizer.cls_token_id
    windows: list[Window] = []
    for encoding, sample in zip(enc.encodings, enc["overflow_to_sample_mapping"], strict=True):
        ids = np.asarray(encoding.ids, dtype=np.int64)
        seq_ids = encoding.sequence_ids
        context_mask = np.fromiter((s == 1 for s in seq_ids), dtype=bool, count=len(seq_ids))
        context_mask &= np.asarray(encoding.attention_mask, dtype=bool)
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        offsets[~context_mask] = 0
        type_ids = np.asarray(encoding.type_ids, dtype=np.int64) if "token_type_ids" in enc else None
        cls_positions = np.flatnonzero(ids == cls_id) if cls_id is not None else np.empty(0)
        windows.append(
            Window(
                passage_index=kept[sample],
                input_ids=ids,
                token_type_ids=type_ids,
                offsets=offsets,
                context_mask=context_mask,
                cls_index=int(cls_positions[0]) if cls_positions.size else 0,
            )
        )
    return windows


def char_span_to_tokens(window: Window, start_char: int, end_char: int) -> tuple[int, int] | None:
    """Token positions (inclusive) covering passage characters ``[start_char, end_char)`` in ``window``.

    Returns ``None`` when the span is not entirely inside this window's passage slice — a training
    command labels such windows with the ``cls_index`` ("no answer here"), as SQuAD 2.0 training does.
    """
    idx = np.flatnonzero(window.context_mask)
    if idx.size == 0 or end_char <= start_char:
        return None
    starts, ends = window.offsets[idx, 0], window.offsets[idx, 1]
    if starts[0] > start_char or ends[-1] < end_char:
        return None
    first = idx[np.searchsorted(ends, start_char, side="right")]  # first token ending after start_char
    last = idx[np.searchsorted(starts, end_char, side="left") - 1]  # last token starting before end_char
    if last < first:
        return None
    return int(first), int(last)


def pad_batch(windows: Sequence[Window], pad_token_id: int = 0) -> dict[str, np.ndarray]:
    """Right-pad ``windows`` to their longest member: ``input_ids``, ``attention_mask`` (and
    ``token_type_ids`` when the tokenizer produces them) as int64 arrays [B, L]."""
    length = max(w.length for w in windows)
    ids = np.full((len(windows), length), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(windows), length), dtype=np.int64)
    types = np.zeros((len(windows), length), dtype=np.int64)
    for row, w in enumerate(windows):
        ids[row, : w.length] = w.input_ids
        mask[row, : w.length] = 1
        if w.token_type_ids is not None:
            types[row, : w.length] = w.token_type_ids
    batch = {"input_ids": ids, "attention_mask": mask}
    if windows[0].token_type_ids is not None:
        batch["token_type_ids"] = types
    return batch
