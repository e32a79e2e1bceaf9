"""Reranker training: the mined-data files load, a time-fitted run writes a reranker DocQAReranker loads
(sharing its base's word embeddings), and the device script's packing reassembles byte for byte."""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]

TOPICS = ["normandy duchy rollo", "steam engine piston", "packet switching network", "harvard university",
          "force newton motion", "amazon river basin", "photosynthesis chlorophyll light", "roman empire",
          "jazz music saxophone", "volcano lava eruption", "chess opening gambit", "glacier ice melt"]


def write_mined_folder(folder: Path) -> Path:
    """A tiny folder in the format scripts/mine_reranker_data.py writes."""
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs = [f"This paragraph is about {t}. It says many things about {t}." for t in TOPICS]
    questions, gold = [], []
    for i, topic in enumerate(TOPICS):
        for form in ("What is said about {}?", "Tell me about {}."):
            questions.append(form.format(topic.split()[0]))
            gold.append(i)
    candidates = np.array([[j for j in range(len(TOPICS)) if j != g][:5] for g in gold], dtype=np.int32)
    with lzma.open(folder / "train.json.xz", "wt", encoding="utf-8") as fh:
        json.dump({"paragraphs": paragraphs, "questions": questions, "gold": gold}, fh)
    np.savez_compressed(folder / "train-negatives.npz", candidates=candidates,
                        gold_rank=np.zeros(len(gold), dtype=np.int32))
    dev = [{"id": f"d{i}", "question": f"Where is {TOPICS[i].split()[1]} mentioned?", "gold": i,
            "candidates": [(i + k) % len(TOPICS) for k in (1, 0, 2, 3)],
            "hybrid_scores": [3.0, 2.5, 1.0, 0.0]} for i in range(6)]
    with gzip.open(folder / "dev.json.gz", "wt", encoding="utf-8") as fh:
        json.dump({"articles": ["synthetic"], "passages": paragraphs, "questions": dev}, fh)
    return folder


def test_a_time_fitted_run_writes_a_reranker_that_loads(tiny_qa_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from docqa.pipelines.components.rankers.pairs import PairFormat
    from docqa.pipelines.components.rankers.reranker import DocQAReranker
    from docqa.pipelines.training.reranker_training import (
        RerankerRecipe,
        load_dev_data,
        load_train_data,
        train_reranker,
    )

    base = tmp_path / "base"
    shutil.copytree(tiny_qa_model_dir, base, ignore=shutil.ignore_patterns("docqa-onnx*"))
    folder = write_mined_folder(tmp_path / "mined")
    tokenizer = AutoTokenizer.from_pretrained(base)
    fmt = PairFormat.of(tokenizer, max_length=48, max_question_tokens=16)
    data = load_train_data(folder, tokenizer, fmt)
    dev = load_dev_data(folder / "dev.json.gz", tokenizer, fmt)
    assert len(data.questions) == 24 and data.candidates.shape == (24, 5) and len(dev.questions) == 6
    recipe = RerankerRecipe("tiny", layers=1, learning_rate=1e-3, epochs=3, batch_questions=4, group_size=4,
                            max_length=48, max_question_tokens=16, chunk_pairs=8)
    lines: list[str] = []
    result = train_reranker(recipe, data, dev, base, tmp_path / "out", fmt=fmt, tokenizer_dir=base,
                            share_word_embeddings_from=str(base), log=lines.append)
    assert 1 <= result["best_evaluation"] <= len(result["evaluations"]) == 3
    first = result["evaluations"][0]
    assert first["step"] == 6 and first["questions_seen"] == 24 and first["epoch"] == 1.0
    assert set(first["dev"]) >= {"hybrid", "rerank@5", "rerank@20"}
    assert first["dev"]["hybrid"]["recall@1"] == 0.0  # the gold is second in every synthetic list
    assert any("dev rerank@20" in line for line in lines)
    out = tmp_path / "out"
    settings = json.loads((out / "reranker.json").read_text())
    assert settings["word_embeddings"]["from"] == str(base) and settings["max_length"] == 48
    kept = result["evaluations"][result["best_evaluation"] - 1]["dev"]
    assert settings["retrieval_weight"] == kept["fused@20"]["weight"]  # the kept evaluation's fusion
    metrics = json.loads((out / "training_metrics.json").read_text())
    assert metrics["best_evaluation"] == result["best_evaluation"]
    from docqa.pipelines.training.reranker_report import training_md

    record = training_md(result, [result], "train: 24 questions", "python scripts/train_reranker.py ...")
    assert f"| {result['best_evaluation']} **(kept)** |" in record and "  - train: 24 questions" in record
    assert "| hybrid alone | | | | 0.000 /" in record and "## Licences" in record
    assert "fused, N = 20 |" in record and f"(w {kept['fused@20']['weight']})" in record
    reranker = DocQAReranker(model=str(out), backend="torch", top_k=2)
    from haystack import Document

    docs = [Document(id=str(i), content=p) for i, p in enumerate(["about jazz", "about chess", "glaciers"])]
    assert len(reranker.run(query="Tell me about chess.", documents=docs)["documents"]) == 2


class _Killed(Exception):
    """Stands for the process being killed after a given step."""


def _tiny_run(tmp_path: Path, base: Path):
    from transformers import AutoTokenizer

    from docqa.pipelines.components.rankers.pairs import PairFormat
    from docqa.pipelines.training.reranker_training import RerankerRecipe, load_dev_data, load_train_data

    folder = tmp_path / "mined"
    if not folder.exists():
        write_mined_folder(folder)
    tokenizer = AutoTokenizer.from_pretrained(base)
    fmt = PairFormat.of(tokenizer, max_length=48, max_question_tokens=16)
    # 6 steps per epoch, 2 epochs; dev scored after steps 4, 6, 8, 12 (4 and 8 are mid-epoch)
    recipe = RerankerRecipe("tiny", layers=1, learning_rate=1e-3, epochs=2, batch_questions=4, group_size=4,
                            max_length=48, max_question_tokens=16, chunk_pairs=8, eval_every=4,
                            dev_ns=(3, 5), select_n=3, log_every=1)
    return recipe, load_train_data(folder, tokenizer, fmt), load_dev_data(folder / "dev.json.gz", tokenizer,
                                                                          fmt), fmt


def test_a_killed_run_resumed_ends_exactly_like_a_straight_run(tiny_qa_model_dir: Path,
                                                               tmp_path: Path) -> None:
    """Killed twice (mid-epoch, with its checkpoint from the dev evaluation before; then after a
    per-step checkpoint) and resumed each time: the same losses, dev scores and weights, bit for bit."""
    from safetensors.torch import load_file

    from docqa.pipelines.training.reranker_state import ResumeError
    from docqa.pipelines.training.reranker_training import train_reranker

    base = tmp_path / "base"
    shutil.copytree(tiny_qa_model_dir, base, ignore=shutil.ignore_patterns("docqa-onnx*"))
    recipe, data, dev, fmt = _tiny_run(tmp_path, base)
    common = {"fmt": fmt, "tokenizer_dir": base, "share_word_embeddings_from": None}

    straight = train_reranker(recipe, data, dev, base, tmp_path / "straight", **common,
                              state_dir=tmp_path / "straight-state", log=lambda _: None)

    def kill_after(n: int):
        def on_step(step: int) -> None:
            if step == n:
                raise _Killed
        return on_step

    state_dir, lines = tmp_path / "state", []
    with pytest.raises(_Killed):  # checkpoint after the evaluation at step 4; killed after step 5
        train_reranker(recipe, data, dev, base, tmp_path / "out", **common, state_dir=state_dir,
                       on_step=kill_after(5), log=lines.append)
    with pytest.raises(ResumeError, match="--resume"):  # a fresh run would overwrite the checkpoint
        train_reranker(recipe, data, dev, base, tmp_path / "out", **common, state_dir=state_dir)
    other = replace(recipe, learning_rate=5e-4)
    with pytest.raises(ResumeError, match="learning_rate"):
        train_reranker(other, data, dev, base, tmp_path / "out", **common, state_dir=state_dir, resume=True)
    with pytest.raises(_Killed):  # resumed at 4, a checkpoint after every step, killed after step 7
        train_reranker(recipe, data, dev, base, tmp_path / "out", **common, state_dir=state_dir, resume=True,
                       checkpoint_s=0.0, on_step=kill_after(7), log=lines.append)
    resumed = train_reranker(recipe, data, dev, base, tmp_path / "out", **common, state_dir=state_dir,
                             resume=True, log=lines.append)
    assert [line for line in lines if line.startswith("resumed")] == [
        line for line in lines if line.startswith(("resumed at step 4 ", "resumed at step 7 "))] != []
    assert len([line for line in lines if line.startswith("resumed")]) == 2

    def curve(result: dict) -> list:
        return [(e["step"], e["train_loss"], e["dev"]) for e in result["evaluations"]]

    assert [e["step"] for e in straight["evaluations"]] == [4, 6, 8, 12]
    assert curve(resumed) == curve(straight) and resumed["best_evaluation"] == straight["best_evaluation"]
    assert resumed["baseline"] == straight["baseline"]
    a, b = load_file(str(tmp_path / "straight" / "model.safetensors")), load_file(
        str(tmp_path / "out" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch_equal(a[k], b[k]) for k in a)
    # a finished run resumed again writes the same model without training
    again = train_reranker(recipe, data, dev, base, tmp_path / "again", **common, state_dir=state_dir,
                           resume=True, log=lines.append)
    assert curve(again) == curve(straight)


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.equal(x, y))


def test_a_time_fitted_run_keeps_its_deadline_when_resumed(tiny_qa_model_dir: Path, tmp_path: Path) -> None:
    """The schedule fitted to the first run's time limit is the one a resumed run decays to."""
    from docqa.pipelines.training.reranker_state import CHECKPOINT_FILE
    from docqa.pipelines.training.reranker_training import train_reranker

    base = tmp_path / "base"
    shutil.copytree(tiny_qa_model_dir, base, ignore=shutil.ignore_patterns("docqa-onnx*"))
    recipe, data, dev, fmt = _tiny_run(tmp_path, base)
    state_dir = tmp_path / "state"
    with pytest.raises(_Killed):
        train_reranker(recipe, data, dev, base, tmp_path / "out", fmt=fmt, tokenizer_dir=base,
                       share_word_embeddings_from=None, time_limit_s=3600.0, state_dir=state_dir,
                       on_step=lambda step: (_ for _ in ()).throw(_Killed()) if step == 5 else None,
                       log=lambda _: None)
    import torch

    saved = torch.load(state_dir / CHECKPOINT_FILE, weights_only=True)
    assert saved["time_limit_s"] == 3600.0 and saved["step"] == 4
    result = train_reranker(recipe, data, dev, base, tmp_path / "out", fmt=fmt, tokenizer_dir=base,
                            share_word_embeddings_from=None, state_dir=state_dir, resume=True,
                            log=lambda _: None)
    assert result["steps"] == 12 and result["seconds"] >= saved["elapsed_s"]


def test_packing_cuts_parts_that_reassemble_byte_for_byte(tmp_path: Path, monkeypatch) -> None:
    sys.path.insert(0, str(REPO))
    try:
        import scripts.train_reranker as script
    finally:
        sys.path.remove(str(REPO))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(25_000))
    (model_dir / "config.json").write_text("{}")
    monkeypatch.setattr(script, "PART_BYTES", 10_000)
    out = tmp_path / "out"
    out.mkdir()
    packed = script.pack(model_dir, out, "reranker-L6")
    assert len(packed["parts"]) >= 3 and all((out / p).stat().st_size <= 10_000 for p in packed["parts"])
    data = b"".join((out / p).read_bytes() for p in sorted(packed["parts"]))
    assert hashlib.sha256(data).hexdigest() == packed["sha256"] and len(data) == packed["bytes"]
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
    assert {"reranker-L6/model.safetensors", "reranker-L6/config.json"} <= names


def test_layers_override_renames_the_recipe_its_files_are_labelled_by() -> None:
    sys.path.insert(0, str(REPO))
    try:
        import scripts.train_reranker as script
    finally:
        sys.path.remove(str(REPO))
    assert script.renamed("L4-cpu", 2) == "L2-cpu"  # the packed tar becomes reranker-L2-cpu.tar
    assert script.renamed("L4-cpu", None) == "L4-cpu"
    assert script.renamed("small", 3) == "small-L3"


@pytest.mark.parametrize("name", ["reranker_training", "time_budget"])
def test_training_modules_import_without_haystack(name: str) -> None:
    """The GPU machine has no Haystack: the training path must not import it."""
    import subprocess

    code = ("import sys; sys.modules['haystack'] = None; sys.modules['Stemmer'] = None; "
            f"import docqa.pipelines.training.{name}; "
            "import docqa.pipelines.components.rankers.cross_encoder")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_fit_reranker_fusion_writes_the_dev_weight(tiny_reranker_dir: Path, tmp_path: Path, capsys) -> None:
    sys.path.insert(0, str(REPO))
    from scripts.fit_reranker_fusion import main as fit

    model = tmp_path / "model"
    shutil.copytree(tiny_reranker_dir, model)
    folder = write_mined_folder(tmp_path / "mined")
    assert fit([str(model), "--data", str(folder), "--n", "10", "--backend", "torch", "--dry-run"]) == 0
    assert not (model / "reranker.json").exists()
    assert fit([str(model), "--data", str(folder), "--n", "10", "--backend", "torch"]) == 0
    printed = capsys.readouterr().out
    assert "6 dev questions (synthetic + distractors)" in printed and "fused@10" in printed
    settings = json.loads((model / "reranker.json").read_text())
    fitted = settings["fusion_fitted_on"]
    assert fitted["n"] == 10 and fitted["questions"] == 6
    assert settings["retrieval_weight"] == fitted["dev"]["fused@10"]["weight"]
    assert fitted["dev"]["fused@10"]["mrr"] >= fitted["dev"]["alone@10"]["mrr"]  # weight 0 is a candidate
    assert fit([str(model), "--data", str(folder), "--n", "10", "--backend", "torch",
                "--confident-gap", "cheapest"]) == 0
    settings = json.loads((model / "reranker.json").read_text())
    from docqa.pipelines.components.rankers.fusion import GAP_GRID

    assert settings["confident_gap"] in (*GAP_GRID, float("inf"))
    assert "confident_gap_fitted_on" in settings and "safe" in capsys.readouterr().out


def test_the_cheapest_safe_gap_skips_most_without_losing_a_question_and_not_at_the_plateau_edge() -> None:
    sys.path.insert(0, str(REPO))
    try:
        from scripts.fit_reranker_fusion import cheapest_safe_gap
    finally:
        sys.path.remove(str(REPO))
    every = {"recall@1": 0.9045, "recall@5": 0.965, "mrr": 0.9342}  # 314 questions, reranking every one

    def row(r1: float, r5: float, mrr: float) -> dict[str, float]:
        return {"recall@1": r1, "recall@5": r5, "mrr": mrr}

    plateau = {0.25: row(0.9076, 0.9682, 0.9341), 0.5: row(0.9076, 0.9682, 0.9351),
               1.25: row(0.9076, 0.965, 0.9361), 3.0: row(0.9045, 0.965, 0.9342)}
    assert cheapest_safe_gap(plateau, every, 314) == 0.5  # 0.25 holds too, but it is the plateau's edge
    one_lost = {**plateau, 0.25: row(0.9013, 0.9682, 0.9341)}  # one question fewer first at 0.25
    assert cheapest_safe_gap(one_lost, every, 314) == 1.25
    mrr_drop = {**plateau, 0.5: row(0.9076, 0.9682, 0.9300)}
    assert cheapest_safe_gap(mrr_drop, every, 314) == 3.0  # 1.25's lower neighbour (0.5) loses MRR
    assert cheapest_safe_gap({g: row(0.89, 0.96, 0.92) for g in plateau}, every, 314) is None
