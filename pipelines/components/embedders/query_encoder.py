"""A fitted question encoder: which model embeds a *question*, when passages were embedded by another.

DocQA's index holds passage vectors from the embedding model (the packaged MiniLM by default).
``scripts/train_query_encoder.py`` fine-tunes a copy of that MiniLM on 115k questions against those frozen
passage vectors (its training module says why only the question side: every index stays valid). Such an
encoder pairs with an index built by the packaged MiniLM and with nothing else, which its
``query_encoder.json`` records (``passages``). ``DOCQA_QUERY_ENCODER`` chooses:

- ``same`` (default): the embedding model embeds questions too;
- a directory written by the script: that encoder embeds questions, refused in one line when it was fitted
  to passages of another embedding model.

None ships: the one trained on two CPU cores (``scripts/train_query_encoder.py``, 750 steps of 128
questions) measured hybrid R@1 0.898 vs 0.889 on the dev articles but 0.880 vs 0.889 on the held-out test
articles (``benchmarks/reranker.py --query-encoder DIR``), so the default stays ``same``.

A fitted directory stores its layers in float16 without word embeddings (they are the packaged MiniLM's,
frozen in training; 22 MB instead of 90). :func:`materialized_dir` rebuilds a complete float32
sentence-transformers directory once, in DocQA's cache, checked by digest, so every runtime the embedder
supports (torch, ONNX, ``auto``) loads it as it loads any model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from docqa import config
from docqa.config import PACKAGED_EMBEDDING_MODEL
from docqa.errors import ConfigError
from docqa.pipelines.components.rankers.cross_encoder import tensor_digest

SETTINGS_FILE = "query_encoder.json"
WEIGHTS_FILE = "model.safetensors"
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
SAME = "same"
# Files of a sentence-transformers directory copied from the base (everything but the weights).
_BASE_FILES = ("config.json", "modules.json", "sentence_bert_config.json",
               "config_sentence_transformers.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "vocab.txt", "1_Pooling/config.json")
_LOCK = threading.Lock()


def read_settings(model_dir: Path) -> dict[str, Any]:
    """``query_encoder.json`` of ``model_dir``.

    :raises ConfigError: absent or unreadable, naming the file.
    """
    path = Path(model_dir) / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{model_dir}: not a fitted query encoder (no {SETTINGS_FILE}); train one with "
                          "scripts/train_query_encoder.py") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: unreadable ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def save_query_encoder(model: Any, out_dir: Path, base_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``model`` (a ``BertModel`` fine-tuned from ``base_dir`` with frozen word embeddings) as a
    fitted query encoder: float16 layers, the base's other files, ``query_encoder.json`` (the base's word
    embedding digest, the dev scores of ``record``) and ``training_metrics.json`` (all of ``record``)."""
    import torch
    from safetensors.torch import load_file, save_file

    out_dir, base_dir = Path(out_dir), Path(base_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_words = load_file(str(base_dir / WEIGHTS_FILE))[WORD_EMBEDDINGS]
    state = model.state_dict()
    if not torch.equal(state[WORD_EMBEDDINGS].cpu().float(), base_words.float()):
        raise ValueError("the model's word embeddings differ from the base's: train with them frozen")
    weights = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in state.items()
               if k != WORD_EMBEDDINGS and not k.endswith("position_ids")}
    save_file(weights, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    for name in _BASE_FILES:
        if (base_dir / name).exists():
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base_dir / name, out_dir / name)
    best = record["evaluations"][record["best_evaluation"] - 1]
    settings = {
        "format": 1,
        "passages": PACKAGED_EMBEDDING_MODEL,
        "pooling": "mean, L2-normalised (as the packaged MiniLM)",
        "word_embeddings": {"from": PACKAGED_EMBEDDING_MODEL, "tensor": WORD_EMBEDDINGS,
                            "sha256": tensor_digest(base_words)},
        "dev": {"before": record["baseline"], "after": best["dev"], "evaluation": best["evaluation"],
                "step": best["step"]},
    }
    (out_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    (out_dir / "training_metrics.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return out_dir


def _fingerprint(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in (WEIGHTS_FILE, SETTINGS_FILE):
        digest.update((Path(model_dir) / name).read_bytes())
    return digest.hexdigest()[:16]


def materialized_dir(model_dir: Path) -> Path:
    """A complete float32 sentence-transformers directory of the fitted encoder in ``model_dir``, built
    once under DocQA's cache (``$DOCQA_CACHE_DIR``) and reused while the weights are unchanged.

    :raises ConfigError: missing weights, or word embeddings that are not the ones it was trained with.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from docqa.pipelines.model_loading import cache_root, packaged_embedding_model_dir

    model_dir = Path(model_dir)
    settings = read_settings(model_dir)
    if not (model_dir / WEIGHTS_FILE).exists():
        raise ConfigError(f"{model_dir}: no {WEIGHTS_FILE}; retrain it with scripts/train_query_encoder.py")
    target = cache_root() / "query-encoders" / _fingerprint(model_dir)
    if (target / WEIGHTS_FILE).exists():
        return target
    with _LOCK:
        if (target / WEIGHTS_FILE).exists():
            return target
        shared = settings.get("word_embeddings") or {}
        if shared.get("from") != PACKAGED_EMBEDDING_MODEL:
            raise ConfigError(f"{model_dir / SETTINGS_FILE}: word_embeddings must come from "
                              f"{PACKAGED_EMBEDDING_MODEL}")
        base = packaged_embedding_model_dir()
        state = load_file(str(model_dir / WEIGHTS_FILE))
        words = load_file(str(base / WEIGHTS_FILE))[WORD_EMBEDDINGS]
        if shared.get("sha256") and tensor_digest(words) != shared["sha256"]:
            raise ConfigError(f"{model_dir / SETTINGS_FILE}: the packaged MiniLM's word embeddings (sha256 "
                              f"{tensor_digest(words)}) are not the ones this encoder was trained with "
                              f"({shared['sha256']}); retrain it with scripts/train_query_encoder.py")
        state = {k: v.to(torch.float32).contiguous() for k, v in state.items()}
        state[WORD_EMBEDDINGS] = words.to(torch.float32).contiguous()
        target.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
        try:
            for name in (*_BASE_FILES, SETTINGS_FILE):
                if (model_dir / name).exists():
                    (building / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(model_dir / name, building / name)
            save_file(state, str(building / WEIGHTS_FILE), metadata={"format": "pt"})
            try:
                os.replace(building, target)  # atomic: a reader sees no directory or a whole one
            except OSError:
                if not (target / WEIGHTS_FILE).exists():  # another process won the race: keep theirs
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return target


def query_model_for(embedding_model: str, choice: str | None = None) -> str:
    """The model that embeds questions for an index whose passages ``embedding_model`` embedded.

    :param choice: ``same`` or a fitted encoder's directory; ``None`` reads ``DOCQA_QUERY_ENCODER``
        (default ``same``).
    :raises ConfigError: a directory that is no fitted encoder, or one fitted to other passages.
    """
    choice = (choice if choice is not None else config.env(config.QUERY_ENCODER, SAME)) or SAME
    if choice.lower() == SAME:
        return embedding_model
    directory = Path(choice).expanduser()
    if not directory.is_dir():
        raise ConfigError(f"{config.QUERY_ENCODER}={choice!r}: use 'same' or a directory written by "
                          "scripts/train_query_encoder.py")
    paired = str(read_settings(directory).get("passages", ""))
    if paired != embedding_model:
        raise ConfigError(f"{directory}: this query encoder was fitted to passages embedded by {paired!r}, "
                          f"but the index's passages are {embedding_model!r}; use "
                          f"{config.QUERY_ENCODER}=same")
    return str(materialized_dir(directory))


__all__ = ["SAME", "SETTINGS_FILE", "materialized_dir", "query_model_for",
           "read_settings", "save_query_encoder"]
