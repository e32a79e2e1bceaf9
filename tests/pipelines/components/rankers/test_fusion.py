"""Fusing the cross-encoder's logit with retrieval's score: the weight the model ships decides the order,
0 is the cross-encoder alone, a retriever without scores leaves the logits alone, and the weight chosen
on dev is the one with the best metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from docqa.errors import ConfigError
from docqa.pipelines.components.rankers.fusion import best_weight, confidence_gap, fused_scores, zscore
from docqa.pipelines.components.rankers.pairs import PairFormat
from docqa.pipelines.components.rankers.reranker import DocQAReranker
from docqa.pipelines.training.reranker_training import DevData, dev_scores, selection_score

QUESTION = "When was the Duchy of Normandy founded?"
TEXTS = ["The Duchy of Normandy was founded in 911.", "Steam engines push a piston.",
         "Packet switching groups data into packets.", "The Normans gave their name to Normandy.",
         "Rollo swore fealty to King Charles III."]


def test_zscore_and_fused_scores() -> None:
    z = zscore([1.0, 2.0, 3.0])
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    assert zscore([4.0, 4.0]).tolist() == [0.0, 0.0]
    logits = [2.0, 1.0, 0.0]
    assert fused_scores(logits, [0.0, 5.0, 10.0], 0.0).tolist() == logits
    assert fused_scores(logits, None, 1.0).tolist() == logits
    assert fused_scores(logits, [1.0, None, 2.0], 1.0).tolist() == logits  # a missing score: logits
    # equal weight and exactly opposite opinions cancel; a heavier retrieval weight wins
    assert np.allclose(fused_scores(logits, [0.0, 1.0, 2.0], 1.0), 0.0)
    assert np.argmax(fused_scores(logits, [0.0, 1.0, 2.0], 2.0)) == 2


def test_best_weight_picks_the_best_and_the_smallest_on_ties() -> None:
    assert best_weight(lambda w: -(w - 0.5) ** 2) == (0.5, 0.0)
    assert best_weight(lambda w: 1.0)[0] == 0.0


def _docs() -> list[Document]:
    return [Document(id=f"p{i}", content=text, score=float(10 * i)) for i, text in enumerate(TEXTS)]


def test_the_models_weight_decides_the_order(tiny_reranker_dir: Path, tmp_path: Path) -> None:
    alone = DocQAReranker(model=str(tiny_reranker_dir), backend="torch", top_k=5)
    logits = {d.id: d.meta["rerank_score"] for d in alone.run(query=QUESTION, documents=_docs())["documents"]}
    assert alone.fusion_weight == 0.0
    by_logit = sorted(logits, key=lambda i: -logits[i])
    assert by_logit != ["p4", "p3", "p2", "p1", "p0"]  # the fixture disagrees with retrieval here

    model = tmp_path / "weighted"
    shutil.copytree(tiny_reranker_dir, model)
    (model / "reranker.json").write_text(json.dumps({"retrieval_weight": 50.0}), encoding="utf-8")
    heavy = DocQAReranker(model=str(model), backend="torch", top_k=5)
    out = heavy.run(query=QUESTION, documents=_docs())["documents"]
    assert heavy.fusion_weight == 50.0
    assert [d.id for d in out] == ["p4", "p3", "p2", "p1", "p0"]  # retrieval's order wins
    assert {d.id: d.meta["rerank_score"] for d in out} == pytest.approx(logits)  # same logits kept
    expected = fused_scores([logits[f"p{i}"] for i in range(5)], [10.0 * i for i in range(5)], 50.0)
    assert [d.score for d in out] == pytest.approx(sorted(expected, reverse=True))

    setting = DocQAReranker(model=str(model), backend="torch", top_k=5, retrieval_weight=0.0)
    assert [d.id for d in setting.run(query=QUESTION, documents=_docs())["documents"]] == by_logit
    assert DocQAReranker.from_dict(setting.to_dict()).retrieval_weight == 0.0
    with pytest.raises(ConfigError, match="retrieval_weight"):
        DocQAReranker(model=str(model), retrieval_weight=-1.0)


def test_confidence_gap_measures_how_far_the_best_candidate_leads() -> None:
    assert confidence_gap([1.0, 3.0, 0.0]) == pytest.approx(float(np.diff(np.sort(zscore([1, 3, 0])))[-1]))
    assert confidence_gap([5.0]) == 0.0 and confidence_gap(None) == 0.0
    assert confidence_gap([2.0, None, 1.0]) == 0.0  # a retriever without scores: always rerank
    assert confidence_gap([10.0, 1.0, 0.9, 0.8]) > confidence_gap([1.0, 0.99, 0.98, 0.97])


def test_a_sure_retrieval_skips_the_cross_encoder(tiny_reranker_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "gapped"
    shutil.copytree(tiny_reranker_dir, model)
    (model / "reranker.json").write_text(json.dumps({"retrieval_weight": 0.0, "confident_gap": 1.0}),
                                         encoding="utf-8")
    reranker = DocQAReranker(model=str(model), backend="torch", top_k=3)
    sure = [Document(id=f"p{i}", content=text, score=s) for i, (text, s)
            in enumerate(zip(TEXTS, [0.3, 9.0, 0.2, 0.1, 0.0], strict=True))]
    out = reranker.run(query=QUESTION, documents=sure)["documents"]
    assert reranker.skip_gap == 1.0
    assert [d.id for d in out] == ["p1", "p0", "p2"]  # retrieval's order, best first
    assert all(d.meta["rerank_skipped"] and "rerank_score" not in d.meta for d in out)
    unsure = [Document(id=f"p{i}", content=text, score=1.0 - i / 100) for i, text in enumerate(TEXTS)]
    read = reranker.run(query=QUESTION, documents=unsure)["documents"]
    assert all("rerank_score" in d.meta and not d.meta.get("rerank_skipped") for d in read)
    every = DocQAReranker(model=str(model), backend="torch", top_k=3, confident_gap=float("inf"))
    assert all("rerank_score" in d.meta for d in every.run(query=QUESTION, documents=sure)["documents"])
    assert DocQAReranker.from_dict(every.to_dict()).confident_gap == float("inf")
    with pytest.raises(ConfigError, match="confident_gap"):
        DocQAReranker(model=str(model), confident_gap=-0.5)


def test_dev_scores_report_the_fused_order_and_select_by_it() -> None:
    # two questions, three candidates each in retrieval order; the gold is candidate 1 for the first
    # and candidate 0 for the second. The "model" ranks the first right and the second wrong.
    dev = DevData(passages=[[5], [6], [7]], questions=[[1], [2]], gold=[1, 0], candidates=[[0, 1, 2]] * 2,
                  hybrid_scores=[[3.0, 2.9, 0.0], [3.0, 1.0, 0.0]])
    logits = iter([np.array([0.0, 1.0, -1.0, 0.0, 1.0, -1.0])])
    fmt = PairFormat(cls_id=101, sep_id=102, pad_id=0, max_length=16, max_question_tokens=4)
    out = dev_scores(lambda batch: next(logits), dev, fmt, ns=(3,))
    assert out["hybrid"]["recall@1"] == 0.5 and out["rerank@3"]["recall@1"] == 0.5
    fused = out["fused@3"]
    assert fused["recall@1"] == 1.0 and fused["weight"] > 0  # retrieval's clear lead fixes question two
    assert selection_score(out, 3) == fused["mrr"]
