"""The records ingest produces: one manifest entry per indexed file.

Why they live in ``ingest/`` and not beside the store: data flows files → ingest → store. Ingest decides
what a file is (hash, mtime, pages, passage ids) and the store persists that verbatim in ``files.json``, so
the store imports this type from here; ``ingest/`` itself never imports ``pipelines/`` or ``app/``.
The field names are the on-disk format of ``files.json``: renaming one breaks existing indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def utc_now() -> str:
    """A second-resolution ISO-8601 UTC timestamp, as stored in manifests and snapshot metadata."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class SourceFile:
    """What the index knows about one ingested file (or, in evaluation, one article)."""

    key: str  # absolute resolved path: the identity of the file
    file_name: str
    title: str
    kind: str
    sha256: str
    size: int
    mtime_ns: int
    page_lengths: list[int]
    passage_ids: list[str]
    ingested_at: str
    notes: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return len(self.page_lengths)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceFile:
        """Read a manifest entry, ignoring keys a newer DocQA may have added."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
