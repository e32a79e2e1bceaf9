"""(question, passage) → cross-encoder input: the one preprocessing step of the reranker, shared by
inference (:mod:`~docqa.pipelines.components.rankers.reranker`) and training
(:mod:`docqa.pipelines.training.reranker_training`).

Why a module of its own, with no Haystack import: the training script runs on a lent GPU machine that
has torch and transformers but not Haystack, and a reranker scores well only on inputs cut exactly as in
training. Inputs are assembled from token ids, ``[CLS] question [SEP] passage [SEP]`` with segment ids
0/1 (BERT's pair format, which the compact reader's encoder was fine-tuned on); the question is cut to
``max_question_tokens`` first, then the passage to what is left of ``max_length``. Tokenising questions
and passages separately lets training tokenise 24,558 paragraphs once instead of once per pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_LENGTH = 256  # SQuAD paragraphs: median 111 words ≈ 150 tokens; 256 keeps ~95% whole
DEFAULT_MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class PairFormat:
    """Special token ids and lengths of the cross-encoder's inputs."""

    cls_id: int
    sep_id: int
    pad_id: int = 0
    max_length: int = DEFAULT_MAX_LENGTH
    max_question_tokens: int = DEFAULT_MAX_QUESTION_TOKENS

    @classmethod
    def of(cls, tokenizer, max_length: int = DEFAULT_MAX_LENGTH,
           max_question_tokens: int = DEFAULT_MAX_QUESTION_TOKENS) -> PairFormat:
        """The format for a BERT-like ``tokenizer`` (it must have [CLS]/[SEP]-style tokens).

        :raises ValueError: when the lengths leave no room for a passage.
        """
        if max_length < max_question_tokens + 8:
            raise ValueError(f"max_length {max_length} leaves no room for a passage after "
                             f"{max_question_tokens} question tokens")
        cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        if cls_id is None or sep_id is None:
            raise ValueError("the reranker's tokenizer needs a [CLS] and a [SEP] token")
        return cls(int(cls_id), int(sep_id), int(tokenizer.pad_token_id or 0), max_length,
                   max_question_tokens)


def token_ids(tokenizer, texts: Sequence[str], limit: int) -> list[list[int]]:
    """Ids of each text without special tokens, cut to ``limit`` tokens."""
    if not texts:
        return []
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=limit,
                        return_attention_mask=False, return_token_type_ids=False)
    return [list(ids) for ids in encoded["input_ids"]]


def pair_ids(question: Sequence[int], passage: Sequence[int], fmt: PairFormat) -> tuple[list[int], int]:
    """``[CLS] q [SEP] p [SEP]`` cut to ``fmt.max_length``, and where segment 1 (the passage) starts."""
    q = list(question[: fmt.max_question_tokens])
    room = fmt.max_length - len(q) - 3
    ids = [fmt.cls_id, *q, fmt.sep_id, *passage[:room], fmt.sep_id]
    return ids, len(q) + 2


def pad_pairs(pairs: Sequence[tuple[list[int], int]], pad_id: int = 0) -> dict[str, np.ndarray]:
    """Right-padded int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` [B, longest]."""
    length = max(len(ids) for ids, _ in pairs)
    ids = np.full((len(pairs), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(pairs), length), dtype=np.int64)
    types = np.zeros((len(pairs), length), dtype=np.int64)
    for row, (tokens, second) in enumerate(pairs):
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
        types[row, second : len(tokens)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so a batch pads little."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
