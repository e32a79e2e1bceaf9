"""Load and save the reranker's cross-encoder: a BERT sequence classifier with one logit.

Why not a plain ``save_pretrained`` directory: the shipped reranker shares its word embeddings with the
compact reader (``data/compact-reader``), whose encoder it was fine-tuned from with the word-embedding
matrix frozen. That matrix is 30,522 × 384 — 23.4 MB of the 45 MB a 6-layer MiniLM takes in float16 —
so the reranker ships only the rest, and ``reranker.json`` names where the matrix comes from and its
digest (checked on every load: a retrained compact reader must not silently feed the reranker other
embeddings). Every DocQA repository checkout travels to lent GPU machines within a size limit, and two
copies of the same matrix would push it over. A directory without that entry is an ordinary
``AutoModelForSequenceClassification`` directory (the test fixtures write those).

No Haystack import here: the training script on the GPU machine uses this module too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

WEIGHTS_FILE = "model.safetensors"
SETTINGS_FILE = "reranker.json"
WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"


class CrossEncoderError(ValueError):
    """A reranker directory that cannot be loaded; ``str(err)`` names the file and the problem."""


def tensor_digest(tensor: Any) -> str:
    """sha256 (first 16 hex digits) of a tensor's float16 bytes."""
    import torch

    data = tensor.detach().to(device="cpu", dtype=torch.float16).contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def read_settings(model_dir: Path) -> dict[str, Any]:
    """``reranker.json`` of ``model_dir`` ({} when absent: a plain classifier directory)."""
    path = Path(model_dir) / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CrossEncoderError(f"{path}: unreadable ({err})") from err
    if not isinstance(data, dict):
        raise CrossEncoderError(f"{path}: expected a JSON object")
    return data


def shared_source(reference: str) -> Path:
    """The model directory a shared tensor comes from: an absolute path, or a folder of DocQA's data."""
    path = Path(reference)
    if path.is_absolute():
        return path
    from docqa.resources import data_path

    return data_path(reference)


def load_shared_tensor(spec: dict[str, Any], model_dir: Path) -> Any:
    """The tensor ``spec`` names (``from``, ``tensor``), checked against its ``sha256``.

    :raises CrossEncoderError: the source is missing or its tensor differs from the one trained with.
    """
    from safetensors import safe_open

    source = shared_source(str(spec.get("from", ""))) / WEIGHTS_FILE
    name = str(spec.get("tensor", WORD_EMBEDDINGS))
    where = Path(model_dir) / SETTINGS_FILE
    if not source.exists():
        raise CrossEncoderError(f"{where}: its word embeddings come from {source}, which does not exist")
    with safe_open(str(source), framework="pt") as fh:
        if name not in fh.keys():  # noqa: SIM118 - a safetensors handle, not a dict
            raise CrossEncoderError(f"{where}: {source} has no tensor {name}")
        tensor = fh.get_tensor(name)
    digest = tensor_digest(tensor)
    if spec.get("sha256") and digest != spec["sha256"]:
        raise CrossEncoderError(
            f"{where}: the word embeddings in {source} (sha256 {digest}) are not the ones this reranker "
            f"was trained with ({spec['sha256']}); retrain the reranker (scripts/train_reranker.py) after "
            "changing the compact reader")
    return tensor


def load_cross_encoder(model_dir: Path, dtype: Any = None, attn_implementation: str | None = None) -> Any:
    """The cross-encoder of ``model_dir`` in eval mode (float32 unless ``dtype``; ``"eager"`` attention
    for an ONNX export, whose fusion recognises that pattern).

    :raises CrossEncoderError: missing weights, a tensor that does not fit, or shared embeddings that
        changed.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    settings = read_settings(model_dir)
    shared = settings.get("word_embeddings")
    if not shared:
        return AutoModelForSequenceClassification.from_pretrained(
            model_dir, dtype=dtype or torch.float32, attn_implementation=attn_implementation).eval()
    weights = model_dir / WEIGHTS_FILE
    if not weights.exists():
        raise CrossEncoderError(f"{model_dir}: no {WEIGHTS_FILE}")
    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attn_implementation)
    state = load_file(str(weights))
    state[str(shared.get("tensor", WORD_EMBEDDINGS))] = load_shared_tensor(shared, model_dir)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise CrossEncoderError(f"{weights}: weights do not fit the config (missing {missing[:3]}, "
                                f"unexpected {unexpected[:3]})")
    return model.to(dtype or torch.float32).eval()


def save_cross_encoder(model: Any, out_dir: Path, settings: dict[str, Any], *,
                       share_word_embeddings_from: str | None = None, base_tensor: Any = None) -> Path:
    """Write ``model`` (float16) with ``config.json`` and ``reranker.json`` (``settings`` plus, when
    sharing, where the word embeddings come from and their digest, taken from ``base_tensor``)."""
    import torch
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()
             if not k.endswith("position_ids")}
    settings = dict(settings)
    if share_word_embeddings_from:
        tensor = base_tensor if base_tensor is not None else state[WORD_EMBEDDINGS]
        settings["word_embeddings"] = {"from": share_word_embeddings_from, "tensor": WORD_EMBEDDINGS,
                                       "sha256": tensor_digest(tensor)}
        state.pop(WORD_EMBEDDINGS)
    save_file(state, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    config = model.config
    config.architectures = [type(model).__name__]
    config.dtype = "float16"
    config.to_json_file(str(out_dir / "config.json"))
    (out_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return out_dir
