"""A small committed index for feedback tests, written through the real snapshot transaction.

Why not ingest: feedback reads passages from the index and never embeds, so random unit vectors under
the packaged model's name make a valid index without loading a model (the eval test embeds for real).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from haystack import Document

from docqa.config import PACKAGED_EMBEDDING_MODEL
from docqa.ingest.records import SourceFile, utc_now
from docqa.pipelines.document_stores.local.index import LocalIndex

NORMANS = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a "
    "region in France. They were descended from Norse raiders and pirates from Denmark, Iceland and "
    "Norway who, under their leader Rollo, agreed to swear fealty to King Charles III of West Francia."
)
ENGINE = (
    "Thomas Newcomen built the first commercially successful steam engine in 1712. James Watt later "
    "added a separate condenser, which made the engine far more efficient."
)
PASSAGES = {"/docs/normans.txt": [NORMANS], "/docs/steam.md": [ENGINE]}
DIM = 384


def write_index(directory: Path, files: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Commit ``files`` (path -> passage texts, one page each) to a new index; returns text -> passage id."""
    files = files or PASSAGES
    rng = np.random.default_rng(0)
    ids: dict[str, str] = {}
    additions = []
    for path, texts in files.items():
        name = Path(path).name
        docs = []
        for number, text in enumerate(texts):
            pid = f"{name}-{number}"
            meta = {"file": path, "file_name": name, "title": Path(path).stem, "page": number + 1,
                    "pages": [number + 1], "page_offsets": [[number + 1, 0, len(text)]]}
            docs.append(Document(id=pid, content=text, meta=meta))
            ids[text] = pid
        vectors = rng.normal(size=(len(docs), DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        source = SourceFile(key=path, file_name=name, title=Path(path).stem, kind="text", sha256="0" * 64,
                            size=1, mtime_ns=0, page_lengths=[len(t) for t in texts],
                            passage_ids=[d.id for d in docs], ingested_at=utc_now())
        additions.append((source, docs, vectors))
    with LocalIndex(directory).transaction(PACKAGED_EMBEDDING_MODEL, DIM) as transaction:
        transaction.put_files(additions)
        transaction.commit()
    return ids


def open_docqa(directory: Path):
    from docqa.pipelines.api import DocQA

    return DocQA(directory, embedding_model=PACKAGED_EMBEDDING_MODEL, reader_model="compact")
