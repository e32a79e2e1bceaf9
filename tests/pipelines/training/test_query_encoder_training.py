"""Training the fitted question encoder: it learns (the gold paragraph rises), a paragraph that holds the
answer is not taught as a negative, and a killed run resumed ends exactly like a straight one."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
PARAGRAPHS = [f"paragraph {i} about topic {i} with the year {1900 + i}" for i in range(12)]
WORDS = ["river", "castle", "engine", "music", "garden", "planet", "doctor", "winter", "bridge", "silver",
         "forest", "island"]
QUESTIONS = [WORDS[i % 12] + ("?" if i >= 12 else "") for i in range(24)]


class _Killed(Exception):
    pass


def _setup(base: Path):
    from transformers import AutoConfig, AutoTokenizer

    from docqa.pipelines.training.query_encoder_training import QueryEncoderRecipe, QueryTrainData

    tokenizer = AutoTokenizer.from_pretrained(base)
    dim = AutoConfig.from_pretrained(base).hidden_size
    vectors = np.random.default_rng(0).normal(size=(len(PARAGRAPHS), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gold = np.arange(len(QUESTIONS)) % len(PARAGRAPHS)
    data = QueryTrainData(questions=tokenizer(QUESTIONS)["input_ids"], gold=gold,
                          answers=[(str(1900 + g),) for g in gold], paragraphs_lower=PARAGRAPHS,
                          passage_vectors=vectors)

    def evaluate(encode) -> dict:
        sims = encode(QUESTIONS) @ vectors.T
        ranks = [int((sims[i] > sims[i, g]).sum()) + 1 for i, g in enumerate(gold)]
        return {"dense_mrr": float(np.mean([1 / r for r in ranks])),
                "hybrid_mrr": float(np.mean([1 / r for r in ranks]))}

    # 6 steps per epoch, 2 epochs: evaluations after steps 4, 6, 8 and 12
    recipe = QueryEncoderRecipe(learning_rate=3e-4, epochs=2, batch_questions=4, eval_every=4, log_every=1,
                                mask_top=4, warmup_ratio=0.0)
    return recipe, data, evaluate, tokenizer


def test_false_negatives_are_the_other_paragraphs_holding_the_answer() -> None:
    from docqa.pipelines.training.query_encoder_training import false_negative_mask

    paragraphs = ["the gold says 1905", "another also says 1905", "nothing here", "1906 only"]
    top = np.array([[1, 0, 2, 3], [3, 2, 1, 0]])
    masked = false_negative_mask(top, np.array([0, 3]), [("1905",), ("1906",)], paragraphs)
    assert masked == [(0, 1)]  # not the gold, not a paragraph without the answer


@pytest.mark.slow  # ~10 s of training; the false-negative and import tests above and below stay fast
def test_training_raises_the_gold_and_a_killed_run_resumes_exactly(tmp_path: Path) -> None:
    """On the packaged MiniLM (a tiny random BERT collapses to one vector at any useful learning rate):
    questions learn random target vectors within 12 steps, and kill + resume changes nothing."""
    import torch

    from docqa.pipelines.model_loading import packaged_embedding_model_dir
    from docqa.pipelines.training.query_encoder_training import train_query_encoder
    from docqa.pipelines.training.reranker_state import ResumeError

    base = packaged_embedding_model_dir()
    recipe, data, evaluate, tokenizer = _setup(base)
    common = {"tokenizer": tokenizer, "log": lambda _: None}
    model, straight = train_query_encoder(recipe, data, evaluate, base, **common,
                                          state_dir=tmp_path / "straight")
    assert [e["step"] for e in straight["evaluations"]] == [4, 6, 8, 12]
    best = straight["evaluations"][straight["best_evaluation"] - 1]["dev"]["dense_mrr"]
    assert best > straight["baseline"]["dense_mrr"] + 0.3  # the questions moved toward their paragraphs

    def kill_after(n: int):
        def on_step(step: int) -> None:
            if step == n:
                raise _Killed
        return on_step

    state = tmp_path / "state"
    with pytest.raises(_Killed):  # checkpointed at the evaluation after step 4, killed after step 5
        train_query_encoder(recipe, data, evaluate, base, **common, state_dir=state,
                            on_step=kill_after(5))
    with pytest.raises(ResumeError, match="--resume"):
        train_query_encoder(recipe, data, evaluate, base, **common, state_dir=state)
    with pytest.raises(ResumeError, match="learning_rate"):
        train_query_encoder(replace(recipe, learning_rate=1e-3), data, evaluate, base, **common,
                            state_dir=state, resume=True)
    resumed_model, resumed = train_query_encoder(recipe, data, evaluate, base, **common,
                                                 state_dir=state, resume=True)
    assert [(e["step"], e["train_loss"], e["dev"]) for e in resumed["evaluations"]] == [
        (e["step"], e["train_loss"], e["dev"]) for e in straight["evaluations"]]
    a, b = model.state_dict(), resumed_model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_module_imports_without_haystack() -> None:
    """The GPU machine has no Haystack: the training path must not import it."""
    code = ("import sys; sys.modules['haystack'] = None; sys.modules['Stemmer'] = None; "
            "import docqa.pipelines.training.query_encoder_training")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
