"""The records ingest produces: one manifest entry per indexed file.

Why they live in ``ingest/`` and not beside the store: data flows files → ingest → store. Ingest decides
what a file is (hash, mtime, pages, passage ids) and the store persists that verbatim in ``files.json``, so
the store imports this type from here; ``ingest/`` itself never imports ``pipelines/`` or ``app/``.
The field names are the on-disk format of ``files.json``: renaming one breaks existing indexes.

A file bigger than one checkpoint is committed in parts (``docqa.ingest.ingestor``): until its last part
is committed its record is *partial* — ``passage_ids`` lists the passages committed so far and
``pending_passages`` says how many are still to come. A partial record is never "unchanged": the next
ingest of that file resumes it (same content) or replaces it (changed content).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def iso_utc(moment: datetime) -> str:
    """The one text form of an instant in metadata and filters (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


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
    pending_passages: int = 0  # > 0: committed in parts and not finished (see the module docstring)
    tables: int = 0  # tables read as rows with their headers (PDF, Word); 0 in manifests from before
    folder: str = ""  # the file's folder relative to the path given to ingest ("" at its top)
    tags: dict[str, Any] = field(default_factory=dict)  # the user's tags (ingest --tag, tags.yaml)

    @property
    def pages(self) -> int:
        return len(self.page_lengths)

    @property
    def partial(self) -> bool:
        """True while only part of the file's passages is indexed (an ingest was stopped mid-file)."""
        return self.pending_passages > 0

    @property
    def total_passages(self) -> int:
        """Passages of the whole file: indexed ones plus those still to come."""
        return len(self.passage_ids) + self.pending_passages

    @property
    def file_type(self) -> str:
        """The extension, lower case, without the dot ("" when the name has none)."""
        return self.file_name.rsplit(".", 1)[-1].lower() if "." in self.file_name else ""

    def metadata(self) -> dict[str, Any]:
        """What filters can select on (``docqa.pipelines.document_stores.filters``), copied into every
        passage's meta: the built-in fields, then the tags. Dates are UTC ISO text, which sorts as the
        instants do (so a Milvus expression can compare them as strings)."""
        modified = datetime.fromtimestamp(self.mtime_ns / 1e9, timezone.utc)
        return {
            "file_name": self.file_name,
            "folder": self.folder,
            "file_type": self.file_type,
            "title": self.title or "",
            "size": int(self.size),
            "page_count": self.pages,
            "modified": iso_utc(modified),
            "ingested": iso_utc(datetime.fromisoformat(self.ingested_at)) if self.ingested_at else "",
            **self.tags,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceFile:
        """Read a manifest entry, ignoring keys a newer DocQA may have added."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def check_extension(current: SourceFile | None, source: SourceFile, new_ids: Sequence[str]) -> None:
    """Refuse a part that does not continue a file's record exactly (every store's ``extend_files``): the
    new record must list the indexed passages followed by the new ones, so none is lost or doubled.

    :raises ValueError: naming the file.
    """
    if current is None:
        raise ValueError(f"{source.key}: passages added to a file the index does not hold")
    if source.passage_ids != [*current.passage_ids, *new_ids]:
        raise ValueError(
            f"{source.key}: the new record does not list the {len(current.passage_ids)} indexed passages "
            f"followed by the {len(new_ids)} new ones"
        )
    if len(set(source.passage_ids)) != len(source.passage_ids):
        raise ValueError(f"{source.key}: a passage id is listed twice")


def file_sha256(path: Path) -> str:
    """The content hash, read in 1 MiB blocks: what says a file is unchanged (``SourceFile.sha256``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
