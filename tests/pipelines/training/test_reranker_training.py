"""Reranker training: the mined-data files load, a time-fitted run writes a reranker DocQAReranker loads
(sharing its base's word embeddings), and the device script's packing reassembles byte for byte."""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import shutil
import sys
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
            "candidates": [(i + k) % len(TOPICS) for k in (1, 0, 2, 3)]} for i in range(6)]
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
    assert 1 <= result["best_epoch"] <= len(result["epochs"]) == 3
    first = result["epochs"][0]
    assert first["steps"] == 6 and first["questions_seen"] == 24
    assert set(first["dev"]) >= {"hybrid", "rerank@5", "rerank@20"}
    assert first["dev"]["hybrid"]["recall@1"] == 0.0  # the gold is second in every synthetic list
    assert any("dev rerank@20" in line for line in lines)
    out = tmp_path / "out"
    settings = json.loads((out / "reranker.json").read_text())
    assert settings["word_embeddings"]["from"] == str(base) and settings["max_length"] == 48
    metrics = json.loads((out / "training_metrics.json").read_text())
    assert metrics["best_epoch"] == result["best_epoch"]
    from docqa.pipelines.training.reranker_report import training_md

    record = training_md(result, [result], "train: 24 questions", "python scripts/train_reranker.py ...")
    assert f"| {result['best_epoch']} **(kept)** |" in record and "  - train: 24 questions" in record
    assert "| hybrid alone | | | 0.000 /" in record and "## Licences" in record
    reranker = DocQAReranker(model=str(out), backend="torch", top_k=2)
    from haystack import Document

    docs = [Document(id=str(i), content=p) for i, p in enumerate(["about jazz", "about chess", "glaciers"])]
    assert len(reranker.run(query="Tell me about chess.", documents=docs)["documents"]) == 2


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


@pytest.mark.parametrize("name", ["reranker_training", "time_budget"])
def test_training_modules_import_without_haystack(name: str) -> None:
    """The GPU machine has no Haystack: the training path must not import it."""
    import subprocess

    code = ("import sys; sys.modules['haystack'] = None; sys.modules['Stemmer'] = None; "
            f"import docqa.pipelines.training.{name}; "
            "import docqa.pipelines.components.rankers.cross_encoder")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
