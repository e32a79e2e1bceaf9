"""A model's ``tokenizer.json`` read by the ``tokenizers`` library alone, for the ONNX runtimes.

Why not ``transformers.AutoTokenizer``: importing ``transformers`` and building its tokenizer object cost
0.8-1.0 s of every cold `docqa ask` (2 cores; profile in issue 24: import 2.3 s, embedder load 1.5 s of
which ~1.0 s was the transformers import, reading 0.35 s), while the ONNX reader and embedder need only
the Rust tokenizer underneath (``import tokenizers``: 0.03 s). :class:`FastTokenizer` offers the few calls
:mod:`~docqa.pipelines.components.readers.qa_windows` and the ONNX embedder make, with the same results
as Hugging Face's fast tokenizer — ``tests/pipelines/components/test_fast_tokenizer.py`` compares ids,
offsets, type ids and windows on the reader and embedder tokenizers DocQA ships and tests with.

Used only when the model directory has a ``tokenizer.json`` and its ``tokenizer_config.json`` says
nothing this class does not reproduce (see :func:`load_fast_tokenizer`); otherwise callers keep
``AutoTokenizer``. The torch runtimes and training keep ``AutoTokenizer`` too (they import transformers
anyway).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
# tokenizer_config.json keys that change how text is tokenized beyond tokenizer.json; with any of these
# set to something other than the listed harmless values we fall back to AutoTokenizer.
_HARMLESS = {
    "add_prefix_space": (None, False),
    "clean_up_tokenization_spaces": (None, False, True),  # decoding only
}


class Encoded(dict):
    """What a Hugging Face ``BatchEncoding`` offers the callers: ``enc["key"]`` and ``enc.encodings``."""

    encodings: list[Any]


class FastTokenizer:
    """The ``tokenizers.Tokenizer`` of a model directory behind the subset of the Hugging Face fast
    tokenizer interface DocQA's ONNX paths use. Not thread-safe (like the Hugging Face one: truncation
    is a setting of the shared object), so callers keep their tokenizer lock."""

    is_fast = True

    def __init__(self, tokenizer: Any, config: dict[str, Any]) -> None:
        self._tokenizer = tokenizer
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.cls_token_id = self._token_id(config.get("cls_token"))
        self.pad_token_id = self._token_id(config.get("pad_token")) or 0
        self.model_max_length = int(config.get("model_max_length") or 512)
        names = config.get("model_input_names") or ["input_ids", "token_type_ids", "attention_mask"]
        self._type_ids = "token_type_ids" in names

    def _token_id(self, token: Any) -> int | None:
        if isinstance(token, dict):  # {"content": "[CLS]", ...} in older configs
            token = token.get("content")
        return self._tokenizer.token_to_id(token) if isinstance(token, str) else None

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return int(self._tokenizer.num_special_tokens_to_add(pair))

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        truncation: bool | str = False,
        max_length: int | None = None,
        stride: int = 0,
        return_overflowing_tokens: bool = False,
        return_offsets_mapping: bool = False,
        padding: bool = False,
        return_tensors: str | None = None,
    ) -> Encoded:
        single = isinstance(text, str)
        texts = [text] if isinstance(text, str) else list(text)
        inputs: list[Any] = texts if text_pair is None else list(zip(texts, text_pair, strict=True))
        if truncation:
            strategy = truncation if isinstance(truncation, str) else "longest_first"
            self._tokenizer.enable_truncation(
                max_length or self.model_max_length, stride=stride, strategy=strategy
            )
        try:
            encodings = self._tokenizer.encode_batch(inputs, add_special_tokens=add_special_tokens)
        finally:
            self._tokenizer.no_truncation()
        flat, samples = [], []
        for index, encoding in enumerate(encodings):
            parts = [encoding, *encoding.overflowing] if return_overflowing_tokens else [encoding]
            flat.extend(parts)
            samples.extend([index] * len(parts))
        out = Encoded()
        out.encodings = flat
        rows = {"input_ids": [e.ids for e in flat], "attention_mask": [e.attention_mask for e in flat]}
        if self._type_ids:
            rows["token_type_ids"] = [e.type_ids for e in flat]
        if padding:
            rows = _pad(rows, self.pad_token_id)
        if return_offsets_mapping:
            rows["offset_mapping"] = [e.offsets for e in flat]
        if return_overflowing_tokens:
            rows["overflow_to_sample_mapping"] = samples
        if return_tensors == "np":
            out.update({k: np.asarray(v, dtype=np.int64) for k, v in rows.items()})
        elif single and not return_overflowing_tokens:
            out.update({k: v[0] for k, v in rows.items()})
        else:
            out.update(rows)
        return out


def _pad(rows: dict[str, list[list[int]]], pad_id: int) -> dict[str, list[list[int]]]:
    width = max((len(r) for r in rows["input_ids"]), default=0)
    fill = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0}
    return {k: [list(r) + [fill[k]] * (width - len(r)) for r in v] for k, v in rows.items()}


def load_fast_tokenizer(model_dir: str | Path) -> FastTokenizer | None:
    """The model's tokenizer without ``transformers``, or None when it has no ``tokenizer.json`` or its
    configuration asks for behaviour :class:`FastTokenizer` does not reproduce (the caller then loads
    ``AutoTokenizer``)."""
    folder = Path(model_dir)
    if not (folder / TOKENIZER_FILE).is_file():
        return None
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if config.get("tokenizer_class") not in ("BertTokenizer", "BertTokenizerFast"):
        return None  # the one family DocQA ships and tests (BERT / MiniLM WordPiece)
    for key, allowed in _HARMLESS.items():
        if config.get(key) not in allowed:
            return None
    if config.get("padding_side", "right") != "right" or config.get("truncation_side", "right") != "right":
        return None
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    except Exception:  # noqa: BLE001 - a tokenizer.json this library version cannot read: use transformers
        return None
    return FastTokenizer(tokenizer, config)
