"""Windows: long passages, stride overlap, question truncation, offsets into the original text."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from docqa.pipelines.components.readers.qa_windows import build_windows, char_span_to_tokens, pad_batch
from docqa.pipelines.model_loading import packaged_embedding_model_dir


@pytest.fixture(scope="module")
def uncased():
    return AutoTokenizer.from_pretrained(packaged_embedding_model_dir())


@pytest.fixture(scope="module")
def cased(tiny_cased_qa_model_dir):
    return AutoTokenizer.from_pretrained(tiny_cased_qa_model_dir)


LONG = " ".join(f"Sentence number {i} talks about the river Seine and Paris." for i in range(120))


def test_long_passage_is_split_into_overlapping_windows(uncased):
    windows = build_windows(uncased, "Which river?", [LONG], max_seq_length=128, stride=32)
    assert len(windows) > 3
    assert all(w.length <= 128 for w in windows)
    ctx = [w.offsets[w.context_mask] for w in windows]
    for a, b in zip(ctx, ctx[1:], strict=False):
        # consecutive windows share exactly `stride` passage tokens
        shared = {tuple(x) for x in a} & {tuple(x) for x in b}
        assert len(shared) == 32
    # every character of the passage that belongs to a token is covered by some window
    covered = set()
    for offsets in ctx:
        covered.update(tuple(x) for x in offsets)
    all_tokens = uncased(LONG, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert {tuple(x) for x in all_tokens} <= covered


def test_very_long_question_is_truncated_and_passage_still_read(uncased):
    question = "What " + "really " * 600 + "happened?"
    windows = build_windows(uncased, question, ["Rollo founded Normandy."], max_seq_length=384, stride=128)
    assert len(windows) == 1
    w = windows[0]
    question_tokens = int((~w.context_mask).sum()) - 3  # minus [CLS] [SEP] [SEP]
    assert question_tokens == 64
    text = "Rollo founded Normandy."
    ctx = w.offsets[w.context_mask]
    assert text[ctx[0, 0] : ctx[-1, 1]] == text


def test_offsets_point_into_original_unicode_text(uncased):
    text = "In Zürich, the café served naïve résumés — 東京 too."
    (w,) = build_windows(uncased, "Where?", [text])
    pieces = [text[s:e] for s, e in w.offsets[w.context_mask]]
    # the uncased tokenizer lower-cases and strips accents, yet offsets cover the original characters
    joined = "".join(pieces)
    for word in ["Zürich", "café", "naïve", "東", "京"]:
        assert word in joined


def test_cased_subword_offsets(cased):
    text = "The Normans founded Normandy in Zürich"
    (w,) = build_windows(cased, "Who?", [text])
    ids = w.input_ids[w.context_mask]
    tokens = cased.convert_ids_to_tokens(ids.tolist())
    pieces = [text[s:e] for s, e in w.offsets[w.context_mask]]
    assert "The" in tokens and "Normans" in tokens  # cased vocabulary keeps capitals
    for tok, piece in zip(tokens, pieces, strict=True):
        if tok != "[UNK]":
            assert tok.removeprefix("##") == piece
    start, end = char_span_to_tokens(w, text.index("Zürich"), len(text))
    assert text[w.offsets[start, 0] : w.offsets[end, 1]] == "Zürich"


def test_char_span_round_trip_and_outside_window(uncased):
    windows = build_windows(uncased, "Which river?", [LONG], max_seq_length=128, stride=32)
    target = LONG.index("Sentence number 100")
    span = (target, target + len("Sentence number 100"))
    hits = [char_span_to_tokens(w, *span) for w in windows]
    assert any(h is not None for h in hits) and any(h is None for h in hits)
    for w, h in zip(windows, hits, strict=True):
        if h is not None:
            assert LONG[w.offsets[h[0], 0] : w.offsets[h[1], 1]] == "Sentence number 100"


def test_empty_passages_and_no_passages_give_no_windows(uncased):
    assert build_windows(uncased, "Q?", []) == []
    windows = build_windows(uncased, "Q?", ["", None, "   ", "Paris"])
    assert [w.passage_index for w in windows] == [3]


def test_stride_too_large_is_a_clear_error(uncased):
    with pytest.raises(ValueError, match="stride"):
        build_windows(uncased, "Q?", ["text"], max_seq_length=64, stride=128)


def test_pad_batch_pads_right_with_mask(uncased):
    windows = build_windows(uncased, "Q?", ["short", "a much longer passage about rivers"])
    batch = pad_batch(windows)
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"].sum(axis=1).tolist() == [w.length for w in windows]
    assert np.all(batch["input_ids"][0, windows[0].length :] == 0)
