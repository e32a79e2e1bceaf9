"""The reranker component: pairs cut as the tokenizer would, passages ordered by the cross-encoder's score,
settings that survive to_dict/from_dict, runtimes that agree, and shared word embeddings checked on load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from docqa.errors import ConfigError
from docqa.pipelines.components.rankers.cross_encoder import (
    CrossEncoderError,
    load_cross_encoder,
    save_cross_encoder,
)
from docqa.pipelines.components.rankers.pairs import PairFormat, pad_pairs, pair_ids, token_ids
from docqa.pipelines.components.rankers.reranker import DocQAReranker, RerankerUnavailableError

QUESTION = "When was the Duchy of Normandy founded?"
PASSAGES = [
    "The Duchy of Normandy was founded in 911 by the treaty of Saint-Clair-sur-Epte.",
    "Steam engines use the pressure of steam to push a piston back and forth inside a cylinder.",
    "Packet switching groups data into packets that are sent over a digital network.",
    "The Normans were the people who gave their name to Normandy, a region in France.",
    "James Watt's separate condenser greatly improved the efficiency of steam engines.",
    "Rollo, a Viking leader, swore fealty to King Charles III of West Francia.",
]


def _docs() -> list[Document]:
    return [Document(id=f"p{i}", content=text, score=10.0 - i, meta={"file": f"f{i}.txt"})
            for i, text in enumerate(PASSAGES)]


def _reference_scores(model_dir: Path, question: str, passages: list[str]) -> np.ndarray:
    """Scores through transformers' own pair tokenisation: an independent path to the same numbers."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    batch = tokenizer([question] * len(passages), passages, padding=True, truncation="only_second",
                      max_length=256, return_tensors="pt")
    with torch.inference_mode():
        return model(**batch).logits.view(-1).numpy()


def test_pairs_are_cut_like_the_tokenizers_pair_encoding(tiny_reranker_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_reranker_dir)
    fmt = PairFormat.of(tokenizer, max_length=40, max_question_tokens=8)
    long_passage = " ".join(["normandy"] * 100)
    q = token_ids(tokenizer, [QUESTION], fmt.max_question_tokens)[0]
    p = token_ids(tokenizer, [long_passage], fmt.max_length)[0]
    ids, second = pair_ids(q, p, fmt)
    expected = tokenizer(QUESTION, long_passage, truncation="only_second", max_length=40)
    assert ids == expected["input_ids"] and len(ids) == 40
    batch = pad_pairs([(ids, second), ([fmt.cls_id, fmt.sep_id], 2)], fmt.pad_id)
    assert batch["token_type_ids"][0].tolist() == expected["token_type_ids"]
    assert batch["attention_mask"][1].tolist() == [1, 1] + [0] * 38
    long_question = " ".join(["duchy"] * 30)  # cut to 8 tokens, the passage gets the rest
    ids, second = pair_ids(token_ids(tokenizer, [long_question], 8)[0], p, fmt)
    assert second == 10 and len(ids) == 40
    with pytest.raises(ValueError, match="no room for a passage"):
        PairFormat.of(tokenizer, max_length=60, max_question_tokens=64)


def test_reranker_orders_passages_by_the_cross_encoders_score(tiny_reranker_dir: Path) -> None:
    reranker = DocQAReranker(model=str(tiny_reranker_dir), backend="torch", top_k=4)
    out = reranker.run(query=QUESTION, documents=_docs())
    expected = np.argsort(-_reference_scores(tiny_reranker_dir, QUESTION, PASSAGES), kind="stable")[:4]
    assert [d.id for d in out["documents"]] == [f"p{i}" for i in expected]
    assert [d.id for d in out["documents"]] != ["p0", "p1", "p2", "p3"]  # it did reorder
    first = out["documents"][0]
    assert first.meta["retrieval_rank"] == int(expected[0]) + 1
    assert first.meta["retrieval_score"] == 10.0 - int(expected[0])
    assert first.score == pytest.approx(first.meta["rerank_score"])
    assert first.meta["file"] == f"f{expected[0]}.txt"  # the passage's own meta is kept
    scores = [d.score for d in out["documents"]]
    assert scores == sorted(scores, reverse=True)
    assert out["rerank_ms"] > 0
    assert len(reranker.run(query=QUESTION, documents=_docs(), top_k=2)["documents"]) == 2
    blank = reranker.run(query="  ", documents=_docs())  # nothing to compare with: retrieval order
    assert [d.id for d in blank["documents"]] == ["p0", "p1", "p2", "p3"]


def test_reranker_round_trips_through_to_dict(tiny_reranker_dir: Path) -> None:
    reranker = DocQAReranker(model=str(tiny_reranker_dir), backend="torch", top_k=3, candidates=12)
    data = reranker.to_dict()
    assert data["type"].endswith("rankers.reranker.DocQAReranker")
    same = DocQAReranker.from_dict(data)
    assert same.to_dict() == data and same.candidates == 12
    ranked = [d.id for d in reranker.run(query=QUESTION, documents=_docs())["documents"]]
    assert [d.id for d in same.run(query=QUESTION, documents=_docs())["documents"]] == ranked


def test_bad_settings_and_missing_models_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose one of: auto, torch, onnx-fp32, onnx-int8"):
        DocQAReranker(backend="tpu")
    with pytest.raises(ConfigError, match="at least 1"):
        DocQAReranker(top_k=0)
    with pytest.raises(RerankerUnavailableError, match="no-model"):
        DocQAReranker(model=str(tmp_path / "no-model")).warm_up()


@pytest.mark.slow
def test_onnx_runtimes_score_like_torch_and_auto_picks_one(tiny_reranker_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from docqa.pipelines.components.measured_choice import cpu_identity
    from docqa.pipelines.components.rankers.auto_backend import candidates_for

    monkeypatch.setenv("DOCQA_CACHE_DIR", str(tmp_path / "cache"))
    torch_scores = DocQAReranker(model=str(tiny_reranker_dir), backend="torch").score(QUESTION, PASSAGES)
    fp32 = DocQAReranker(model=str(tiny_reranker_dir), backend="onnx-fp32").score(QUESTION, PASSAGES)
    assert np.allclose(torch_scores, fp32, atol=1e-3)
    int8 = DocQAReranker(model=str(tiny_reranker_dir), backend="onnx-int8").score(QUESTION, PASSAGES)
    assert int8.shape == fp32.shape and np.isfinite(int8).all()
    auto = DocQAReranker(model=str(tiny_reranker_dir), backend="auto", num_threads=1)
    auto.warm_up()
    choice = auto.backend_choice
    assert choice is not None and choice.chosen_by == "measured"
    timed = set(candidates_for(cpu_identity()))  # + torch-bf16 on CPUs with native bf16
    assert choice.backend in timed and set(choice.measurements) == timed
    if choice.backend in ("onnx-int8", "torch-bf16"):  # a lossy runtime wins only when it ranked like fp32
        assert choice.measurements[choice.backend]["agreement"] >= 0.97
    again = DocQAReranker(model=str(tiny_reranker_dir), backend="auto", num_threads=2)
    again.warm_up()  # another process-wide load of the same model: the cached measurement decides
    assert again.backend_choice.chosen_by == "cached measurement"
    assert again.backend_choice.backend == choice.backend


def test_shared_word_embeddings_load_back_and_a_changed_source_is_refused(
        tiny_qa_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    import torch

    from docqa.pipelines.training.reranker_training import build_model

    base = tmp_path / "base"
    shutil.copytree(tiny_qa_model_dir, base, ignore=shutil.ignore_patterns("docqa-onnx*"))
    model = build_model(base, layers=1, freeze_word_embeddings=True).eval()
    out = save_cross_encoder(model, tmp_path / "reranker", {"max_length": 64},
                             share_word_embeddings_from=str(base))
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), framework="pt") as fh:
        assert "bert.embeddings.word_embeddings.weight" not in set(fh.keys())
    loaded = load_cross_encoder(out)
    batch = {"input_ids": torch.tensor([[101, 2054, 102, 3000, 102]]),
             "token_type_ids": torch.tensor([[0, 0, 0, 1, 1]])}
    with torch.inference_mode():
        assert torch.allclose(loaded(**batch).logits, model.half().float()(**batch).logits, atol=1e-4)
    from safetensors.torch import load_file, save_file

    weights = load_file(str(base / "model.safetensors"))
    weights["bert.embeddings.word_embeddings.weight"][5] += 1.0
    save_file(weights, str(base / "model.safetensors"))
    with pytest.raises(CrossEncoderError, match="retrain the reranker"):
        load_cross_encoder(out)
