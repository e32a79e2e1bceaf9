"""The fitted question encoder: written without the word embeddings it shares with the packaged MiniLM,
rebuilt in the cache into a model every runtime loads, paired only with the passages it was fitted to, and
chosen by DOCQA_QUERY_ENCODER (default: the embedding model embeds questions too)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from docqa.config import PACKAGED_EMBEDDING_MODEL
from docqa.errors import ConfigError
from docqa.pipelines.components.embedders.query_encoder import (
    SETTINGS_FILE,
    WORD_EMBEDDINGS,
    materialized_dir,
    query_model_for,
    save_query_encoder,
)

QUESTION = "Who improved the steam engine?"


def _record() -> dict:
    scores = {"dense_r1": 0.5, "hybrid_r1": 0.8, "hybrid_mrr": 0.85}
    return {"baseline": scores, "best_evaluation": 1,
            "evaluations": [{"evaluation": 1, "step": 3, "dev": scores}]}


@pytest.fixture(scope="module")
def unchanged_encoder_dir(tmp_path_factory) -> Path:
    """The packaged MiniLM written as a fitted encoder with no training: its vectors must not move."""
    from transformers import AutoModel

    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    base = packaged_embedding_model_dir()
    model = AutoModel.from_pretrained(base)
    return save_query_encoder(model, tmp_path_factory.mktemp("qenc") / "fitted", base, _record())


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DOCQA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_written_without_word_embeddings_and_rebuilt_to_the_same_vectors(unchanged_encoder_dir: Path,
                                                                         cache: Path) -> None:
    from safetensors import safe_open

    from docqa.pipelines.components.embedders.sentence_embedders import SentenceEncoder, get_encoder

    with safe_open(str(unchanged_encoder_dir / "model.safetensors"), framework="pt") as fh:
        assert WORD_EMBEDDINGS not in fh.keys()  # noqa: SIM118 - a safetensors handle
    assert (unchanged_encoder_dir / "model.safetensors").stat().st_size < 30 * 1024 * 1024  # fp16, shared
    settings = json.loads((unchanged_encoder_dir / SETTINGS_FILE).read_text(encoding="utf-8"))
    assert settings["passages"] == PACKAGED_EMBEDDING_MODEL and settings["word_embeddings"]["sha256"]

    built = materialized_dir(unchanged_encoder_dir)
    assert built.is_relative_to(cache) and materialized_dir(unchanged_encoder_dir) == built  # built once
    fitted = SentenceEncoder(built, backend="torch").encode([QUESTION])[0]
    plain = get_encoder(PACKAGED_EMBEDDING_MODEL, "torch").encode([QUESTION])[0]
    assert float(np.dot(fitted, plain)) > 0.9999  # float16 layers: the same vector up to rounding


def test_the_index_decides_which_encoder_embeds_questions(unchanged_encoder_dir: Path, cache: Path) -> None:
    assert query_model_for(PACKAGED_EMBEDDING_MODEL, "same") == PACKAGED_EMBEDDING_MODEL
    assert query_model_for("/models/my-embedder") == "/models/my-embedder"  # the default: same
    chosen = query_model_for(PACKAGED_EMBEDDING_MODEL, str(unchanged_encoder_dir))
    assert Path(chosen).is_relative_to(cache)
    with pytest.raises(ConfigError, match="fitted to passages embedded by .*DOCQA_QUERY_ENCODER=same"):
        query_model_for("/models/my-embedder", str(unchanged_encoder_dir))
    with pytest.raises(ConfigError, match="DOCQA_QUERY_ENCODER='sometimes'"):
        query_model_for(PACKAGED_EMBEDDING_MODEL, "sometimes")
    with pytest.raises(ConfigError, match="not a fitted query encoder"):
        query_model_for(PACKAGED_EMBEDDING_MODEL, str(cache.parent))


def test_other_word_embeddings_are_refused_in_one_line(unchanged_encoder_dir: Path, cache: Path,
                                                       tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "changed"
    shutil.copytree(unchanged_encoder_dir, copy)
    settings = json.loads((copy / SETTINGS_FILE).read_text(encoding="utf-8"))
    settings["word_embeddings"]["sha256"] = "0" * 16
    (copy / SETTINGS_FILE).write_text(json.dumps(settings), encoding="utf-8")
    with pytest.raises(ConfigError, match="retrain it with scripts/train_query_encoder.py") as err:
        materialized_dir(copy)
    assert "\n" not in str(err.value)


def test_env_choice_reaches_the_query_pipelines(unchanged_encoder_dir: Path, cache: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from docqa.pipelines.query import QueryPipelines

    monkeypatch.setenv("DOCQA_QUERY_ENCODER", "same")
    assert QueryPipelines(None, PACKAGED_EMBEDDING_MODEL).query_model == PACKAGED_EMBEDDING_MODEL  # type: ignore[arg-type]
    monkeypatch.setenv("DOCQA_QUERY_ENCODER", str(unchanged_encoder_dir))
    assert Path(QueryPipelines(None, PACKAGED_EMBEDDING_MODEL).query_model).is_relative_to(cache)  # type: ignore[arg-type]
