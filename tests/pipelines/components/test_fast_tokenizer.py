"""The transformers-free tokenizer of the ONNX paths gives exactly what Hugging Face's fast tokenizer gives:
the reader's windows (ids, type ids, offsets, context masks, overflow) and the embedder's padded batches,
on the tokenizers DocQA ships (compact reader, packaged MiniLM) and the test reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docqa.pipelines.components.fast_tokenizer import load_fast_tokenizer
from docqa.pipelines.components.readers.qa_windows import build_windows
from docqa.resources import data_path
from tests.conftest import SAMPLES, SHARED

TEXTS = [
    "The Normans (Norman: Nourmands; French: Normands; Latin: Normanni) were the people who in the 10th "
    "and 11th centuries gave their name to Normandy, a region in France.",
    "Café déjà vu — naïve coöperation; ÅNGSTRÖM 42.5°C, “quotes”, emoji 🚂 and 日本語のテキスト.",
    "   leading spaces\tand\ttabs\nnew lines\r\nand CRLF   ",
    "x" * 700,
    (SAMPLES / "normans.txt").read_text(encoding="utf-8"),
    (SAMPLES / "steam_engine.md").read_text(encoding="utf-8"),
]
QUESTIONS = ["When were the Normans in Normandy?", "What is 42.5°C in Ångström terms? " * 12, "ok"]


def model_dirs() -> list[Path]:
    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    test_reader = SHARED / "models" / "minilm-squad2-test"
    dirs = [data_path("compact-reader"), packaged_embedding_model_dir(), test_reader]
    return [d for d in dirs if (d / "tokenizer.json").is_file()]


@pytest.fixture(params=model_dirs(), ids=lambda d: d.name)
def pair(request):
    from transformers import AutoTokenizer

    fast = load_fast_tokenizer(request.param)
    assert fast is not None, f"{request.param} should load without transformers"
    return AutoTokenizer.from_pretrained(str(request.param)), fast


def test_reader_windows_are_identical(pair) -> None:
    reference, fast = pair
    for question in QUESTIONS:
        for length, stride in ((384, 128), (128, 32)):
            expected = build_windows(reference, question, TEXTS, max_seq_length=length, stride=stride)
            got = build_windows(fast, question, TEXTS, max_seq_length=length, stride=stride)
            assert len(got) == len(expected) > len(TEXTS)  # long passages overflow into several windows
            for a, b in zip(expected, got, strict=True):
                assert a.passage_index == b.passage_index and a.cls_index == b.cls_index
                np.testing.assert_array_equal(a.input_ids, b.input_ids)
                np.testing.assert_array_equal(a.offsets, b.offsets)
                np.testing.assert_array_equal(a.context_mask, b.context_mask)
                if a.token_type_ids is None:
                    assert b.token_type_ids is None
                else:
                    np.testing.assert_array_equal(a.token_type_ids, b.token_type_ids)


def test_embedder_batches_are_identical(pair) -> None:
    reference, fast = pair
    for max_length in (256, 16):
        expected = reference(TEXTS, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        got = fast(TEXTS, padding=True, truncation=True, max_length=max_length, return_tensors="np")
        assert set(got) == set(expected)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])


def test_unknown_tokenizer_families_fall_back_to_transformers(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "XLMRobertaTokenizer"}')
    assert load_fast_tokenizer(tmp_path) is None
    assert load_fast_tokenizer(tmp_path / "missing") is None
