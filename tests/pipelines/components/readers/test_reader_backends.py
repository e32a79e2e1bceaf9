"""ONNX Runtime backends: same logits as PyTorch, export once, cache outside read-only model dirs."""

from __future__ import annotations

import numpy as np
import pytest
from haystack import Document
from transformers import AutoTokenizer

from docqa.errors import ConfigError
from docqa.pipelines.components.readers.backends import (
    ReaderBackendName,
    ensure_onnx_exports,
    length_sorted_batches,
    load_backend,
)
from docqa.pipelines.components.readers.qa_windows import build_windows
from docqa.pipelines.components.readers.reader import DocQAReader

TEXTS = [
    "The Normans gave their name to Normandy, a region in France. " * 12,
    "Zürich liegt an der Limmat. Le café est naïve.",
    "Rollo agreed to swear fealty to King Charles III of West Francia in 911.",
]


@pytest.fixture(scope="module")
def windows(tiny_qa_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_qa_model_dir)
    return build_windows(tokenizer, "Who swore fealty?", TEXTS, max_seq_length=128, stride=32)


def test_length_sorted_batches_group_similar_lengths(windows):
    batches = length_sorted_batches(windows, 2)
    assert sorted(i for b in batches for i in b) == list(range(len(windows)))
    lengths = [windows[i].length for b in batches for i in b]
    assert lengths == sorted(lengths, reverse=True)


def test_onnx_fp32_matches_torch_and_batching_does_not_change_logits(tiny_qa_model_dir, windows):
    torch_backend = load_backend("torch", tiny_qa_model_dir, batch_size=8)
    reference = load_backend("torch", tiny_qa_model_dir, batch_size=1).logits(windows)
    onnx = load_backend("onnx-fp32", tiny_qa_model_dir, batch_size=3).logits(windows)
    for (s0, e0), (s1, _), (s2, e2), w in zip(reference, torch_backend.logits(windows), onnx, windows,
                                                strict=True):
        assert s0.shape == (w.length,)
        np.testing.assert_allclose(s1, s0, atol=1e-4)
        np.testing.assert_allclose(s2, s0, atol=1e-3)
        np.testing.assert_allclose(e2, e0, atol=1e-3)


def test_export_is_done_once_beside_a_writable_model(tiny_qa_model_dir):
    target = ensure_onnx_exports(tiny_qa_model_dir)
    assert target.parent == tiny_qa_model_dir
    fused = target / "model-fp32.onnx"
    before = fused.stat().st_mtime_ns
    assert ensure_onnx_exports(tiny_qa_model_dir) == target
    assert fused.stat().st_mtime_ns == before
    assert (target / "model-int8.onnx").stat().st_size < fused.stat().st_size


def test_read_only_model_exports_to_user_cache(readonly_tiny_qa_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target = ensure_onnx_exports(readonly_tiny_qa_model_dir)
    assert target.is_relative_to(tmp_path / "cache" / "docqa" / "onnx")
    assert not (readonly_tiny_qa_model_dir / "docqa-onnx").exists()
    reader = DocQAReader(str(readonly_tiny_qa_model_dir), backend="onnx-int8", no_answer_threshold=0.0)
    out = reader.run("Who?", [Document(content=TEXTS[2])])
    top = out["answers"][0]
    assert TEXTS[2][top.document_offset.start : top.document_offset.end] == top.data


def test_unknown_backend_name_lists_choices(tiny_qa_model_dir):
    with pytest.raises(ConfigError, match="torch, onnx-fp32, onnx-int8"):
        load_backend("tpu", tiny_qa_model_dir)
    with pytest.raises(ConfigError, match="'ONNX-INT8'; choose one of"):
        ReaderBackendName.from_str("ONNX-INT8")  # the documented spelling only, as before
    assert ReaderBackendName.from_str("onnx-fp32") is ReaderBackendName.ONNX_FP32
    assert load_backend(ReaderBackendName.TORCH, tiny_qa_model_dir).name == "torch"


@pytest.mark.slow
def test_int8_gives_same_answers_as_fp32_on_the_test_reader(test_reader_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    docs = [Document(content=(
        "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
        "a region in France. They were descended from Norse raiders and pirates from Denmark, Iceland "
        "and Norway who, under their leader Rollo, agreed to swear fealty to King Charles III."))]
    questions = ["Who was the Norse leader?", "When were the Normans in Normandy?",
                 "In what country is Normandy located?", "From which countries did the Norse originate?"]
    answers = {}
    for backend in ("torch", "onnx-int8"):
        reader = DocQAReader(str(test_reader_dir), backend=backend, no_answer_threshold=0.0)
        answers[backend] = [reader.run(q, docs)["answers"][0].data for q in questions]
    assert answers["onnx-int8"] == answers["torch"]


def _window(length: int):
    from docqa.pipelines.components.readers.qa_windows import Window

    return Window(passage_index=0, input_ids=np.ones(length, dtype=np.int64), token_type_ids=None,
                  offsets=np.zeros((length, 2), dtype=np.int64), context_mask=np.ones(length, dtype=bool),
                  cls_index=0)


def test_inference_batches_cap_padding_but_keep_equal_lengths_together():
    from docqa.pipelines.components.readers.backends import MAX_PADDING

    lengths = [165, 384, 100, 384, 170, 384, 120]
    windows = [_window(n) for n in lengths]
    batches = length_sorted_batches(windows, 8, MAX_PADDING)
    assert [[lengths[i] for i in b] for b in batches] == [[384, 384, 384], [170, 165], [120], [100]]
    for batch in batches:
        real = sum(lengths[i] for i in batch)
        assert max(lengths[i] for i in batch) * len(batch) <= (1 + MAX_PADDING) * real
    # without a cap (training), batches are fixed-size
    assert [len(b) for b in length_sorted_batches(windows, 4)] == [4, 3]


def test_blockwise_int8_matmul_is_close_to_fp32():
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from docqa.pipelines.components.readers.backends import to_blockwise_int8

    rng = np.random.default_rng(0)
    w = rng.normal(size=(80, 24)).astype(np.float32)  # K not a multiple of the block size
    x = rng.normal(size=(3, 5, 80)).astype(np.float32)
    x[:, 0] *= 50.0  # one token far larger than the rest, as [CLS]/[SEP] often are
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="/ffn/intermediate/dense/MatMul")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, 80])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, 24])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    quantised = to_blockwise_int8(model, {"/ffn/intermediate/dense/MatMul"})
    assert [n.op_type for n in quantised.graph.node] == ["MatMulNBits"]
    session = ort.InferenceSession(quantised.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(["y"], {"x": x})[0]
    want = x @ w
    # small tokens keep their precision despite the large one (per-tensor scales would lose them)
    np.testing.assert_allclose(got[:, 1:], want[:, 1:], atol=0.05 * np.abs(want[:, 1:]).max())
    np.testing.assert_allclose(got[:, 0], want[:, 0], atol=0.05 * np.abs(want[:, 0]).max())
    assert onnx.checker.check_model(quantised) is None


def test_int8_export_quantises_dense_layers_and_keeps_logits_close(tiny_qa_model_dir, windows):
    import onnx

    target = ensure_onnx_exports(tiny_qa_model_dir)
    ops = [n.op_type for n in onnx.load(str(target / "model-int8.onnx")).graph.node]
    assert "MatMulNBits" in ops and "MatMulInteger" in ops  # feed-forward blockwise, attention output
    fp32 = load_backend("onnx-fp32", tiny_qa_model_dir).logits(windows)
    int8 = load_backend("onnx-int8", tiny_qa_model_dir).logits(windows)
    for (s0, e0), (s1, e1) in zip(fp32, int8, strict=True):
        for a, b in ((s0, s1), (e0, e1)):
            assert np.corrcoef(a, b)[0, 1] > 0.99
            assert np.abs(a - b).max() < 0.1 * (a.max() - a.min())
