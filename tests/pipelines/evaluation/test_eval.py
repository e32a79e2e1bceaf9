"""`docqa eval` keeps its JSON contract: retrieval metrics, then reader and end-to-end SQuAD 2.0 metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa.app.cli import app


@pytest.fixture
def small_squad(tmp_path: Path, shared_dir: Path) -> tuple[Path, Path]:
    """Three paragraphs with their questions, and two distractor paragraphs, from the shared dev set."""
    data = json.loads((shared_dir / "data" / "squad2-dev-public.json").read_text(encoding="utf-8"))
    article = data["data"][0]
    main = {"version": "v2.0", "data": [{"title": article["title"], "paragraphs": article["paragraphs"][:3]}]}
    other = data["data"][1]
    distractor = {
        "version": "v2.0",
        "data": [
            {
                "title": other["title"],
                "paragraphs": [{"context": p["context"], "qas": []} for p in other["paragraphs"][:2]],
            }
        ],
    }
    (tmp_path / "main.json").write_text(json.dumps(main), encoding="utf-8")
    (tmp_path / "distractors.json").write_text(json.dumps(distractor), encoding="utf-8")
    return tmp_path / "main.json", tmp_path / "distractors.json"


def test_retriever_only_contract(small_squad: tuple[Path, Path]) -> None:
    main, distractors = small_squad
    result = CliRunner().invoke(
        app, ["eval", str(main), "--distractors", str(distractors), "--retriever-only", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["indexing"]["passages"] == 5 and data["indexing"]["seconds"] > 0
    assert data["questions"] >= 10
    retrieval = data["retrieval"]
    assert set(retrieval) == {"recall@1", "recall@5", "recall@10", "recall@20", "mrr", "p50_ms", "p95_ms"}
    assert 0.5 < retrieval["recall@1"] <= retrieval["recall@5"] <= retrieval["recall@10"] == 1.0
    assert "reader" not in data


@pytest.mark.slow  # reads 12 questions twice and calibrates: ~3 s quiet, 13 s busy
def test_reader_metrics_and_calibration(
    small_squad: tuple[Path, Path], test_reader_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.json"
    monkeypatch.setenv("DOCQA_CONFIG", str(config))
    main, _ = small_squad
    result = CliRunner().invoke(
        app, ["eval", str(main), "--reader", str(test_reader_dir), "--calibrate", "--limit", "12", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for part in ("reader", "end_to_end"):
        metrics = data[part]
        for key in (
            "exact",
            "f1",
            "HasAns_exact",
            "HasAns_f1",
            "NoAns_exact",
            "NoAns_f1",
            "best_f1",
            "best_f1_thresh",
            "p50_ms",
            "p95_ms",
        ):
            assert key in metrics, (part, key)
        assert 0 <= metrics["exact"] <= metrics["f1"] <= 100
    tau = data["calibration"]["no_answer_threshold"]
    stored = json.loads(config.read_text(encoding="utf-8"))["readers"]
    assert [entry["no_answer_threshold"] for entry in stored.values()] == [tau]
    assert data["reader"]["no_answer_threshold"] == tau


def test_missing_reader_fails_clearly_and_suggests_retriever_only(
    small_squad: tuple[Path, Path], tmp_path: Path
) -> None:
    main, _ = small_squad
    result = CliRunner().invoke(app, ["eval", str(main), "--reader", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "--retriever-only" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # two evals with a reader: ~15 s quiet, 60 s busy
def test_off_corpus_questions_report_how_often_they_were_still_answered(
    small_squad: tuple[Path, Path], test_reader_dir: Path, shared_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    from docqa.pipelines.components.readers.answerability import FEATURES, AnswerabilityModel

    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "config.json"))
    main, _ = small_squad
    data = json.loads((shared_dir / "data" / "squad2-dev-public.json").read_text(encoding="utf-8"))
    article = data["data"][2]  # an article whose paragraphs are not indexed
    off = tmp_path / "off.json"
    off.write_text(json.dumps({"version": "v2.0", "data": [
        {"title": article["title"], "paragraphs": article["paragraphs"][:2]}]}), encoding="utf-8")
    reader = tmp_path / "reader"
    shutil.copytree(test_reader_dir, reader)
    runs = {}
    for name, bias in (("none", None), ("rejects all", -50.0)):
        if bias is not None:  # a shipped answerability model that says "not in your documents" every time
            zeros = [0.0] * len(FEATURES)
            AnswerabilityModel(zeros, bias, zeros, [1.0] * len(FEATURES), threshold=0.5).save(reader)
        # --backend torch: the copied reader is a new model to DOCQA_READER_BACKEND=auto, which would export
        # it to ONNX and time three backends before every run (minutes on a busy machine); what is checked
        # here does not depend on the backend.
        # --limit 4: four questions of each kind show the same behaviour as ten, at 40% of the reading.
        args = ["eval", str(main), "--reader", str(reader), "--off-corpus", str(off), "--limit", "4",
                "--backend", "torch", "--json"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        runs[name] = json.loads(result.stdout)
    plain, rejecting = runs["none"], runs["rejects all"]
    assert plain["off_corpus"]["questions"] == 4
    assert plain["off_corpus"]["answered_rate"] == plain["off_corpus"]["answered_rate_reader_tau_only"]
    assert plain["end_to_end"]["answerability_model"] is False
    assert rejecting["off_corpus"]["answered_rate"] == 0.0
    assert rejecting["end_to_end"]["answerability_model"] is True
    assert rejecting["end_to_end"]["HasAns_f1"] == 0.0  # everything withheld ...
    # ... while the spans themselves are the same
    assert rejecting["end_to_end"]["forced_HasAns_f1"] == plain["end_to_end"]["forced_HasAns_f1"] > 0
    assert plain["reader"]["forced_HasAns_f1"] >= plain["reader"]["HasAns_f1"]


@pytest.mark.slow
def test_eval_reports_retrieval_with_and_without_the_reranker(
        small_squad: tuple[Path, Path], tiny_reranker_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from docqa.pipelines.components.rankers import reranker

    monkeypatch.setattr(reranker, "bundled_reranker_dir", lambda: tiny_reranker_dir)  # as if shipped
    monkeypatch.setenv("DOCQA_CACHE_DIR", str(tiny_reranker_dir.parent / "cache"))
    monkeypatch.setenv("DOCQA_RERANK", "1")
    main, distractors = small_squad
    args = ["eval", str(main), "--distractors", str(distractors), "--retriever-only", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    plain, reranked = data["retrieval"], data["retrieval_reranked"]
    assert set(reranked) == set(plain)
    assert reranked["recall@20"] == plain["recall@20"] == 1.0  # same candidates, another order
    assert data["reranker"]["candidates"] == 10 and data["reranker"]["backend"] in {
        "torch", "onnx-fp32", "onnx-int8"}
    table = CliRunner().invoke(app, args[:-1])
    assert "reranked" in table.stdout and "reorders the top 10 passages" in table.stdout
    off = json.loads(CliRunner().invoke(app, [*args, "--no-rerank"]).stdout)
    assert "retrieval_reranked" not in off and "off" in off["reranker"]["why_not"]
    assert off["retrieval"]["recall@1"] == plain["recall@1"]
