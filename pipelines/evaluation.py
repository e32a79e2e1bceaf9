"""`docqa eval`: build a temporary index from SQuAD paragraphs and measure retrieval (and, later, reading).

The temporary index is an in-memory :class:`~pipelines.store.Snapshot` searched by the same
:class:`~pipelines.search.SnapshotSearcher` that serves real queries, so the numbers describe the product,
not a re-implementation of it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipelines.config import Settings
from pipelines.embedding import PassageEmbedder, QueryEmbedder
from pipelines.retrieval_eval import evaluate_retrieval, load_squad_corpus
from pipelines.search import SnapshotSearcher
from pipelines.store import Snapshot, SourceFile, utc_now

EVAL_TOP_K = 20


def build_eval_snapshot(
    passages: list, embedder: PassageEmbedder, embedding_model: str, progress: Any = None
) -> Snapshot:
    """Embed every passage and put them into one in-memory snapshot (one 'file' per article title)."""
    embedded = embedder.run(documents=passages, progress_callback=progress)["documents"]
    vectors = np.asarray([doc.embedding for doc in embedded], dtype=np.float32)
    by_title: dict[str, list[int]] = {}
    for i, doc in enumerate(passages):
        by_title.setdefault(str(doc.meta.get("title", "")), []).append(i)
    additions = []
    for title, rows in by_title.items():
        docs = [passages[i] for i in rows]
        source = SourceFile(
            key=f"squad:{title}",
            file_name=title,
            title=title,
            kind="squad",
            sha256="",
            size=0,
            mtime_ns=0,
            page_lengths=[len(d.content or "") for d in docs],
            passage_ids=[d.id for d in docs],
            ingested_at=utc_now(),
        )
        additions.append((source, docs, vectors[rows]))
    return Snapshot.empty(
        embedding_model, vectors.shape[1] if len(vectors) else embedder.dimension
    ).replace_files(set(), additions)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def run_retrieval_eval(
    squad_json: Path,
    distractors: Sequence[Path] = (),
    *,
    embedding_model: str | None = None,
    mode: str = "hybrid",
    show_progress: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """The ``docqa eval`` retrieval contract: questions, retrieval metrics, indexing passages/seconds."""
    model = embedding_model or Settings.from_env().embedding_model
    passages, questions = load_squad_corpus(squad_json, distractors)
    if not questions:
        raise ValueError(f"{squad_json}: has no answerable questions to evaluate")
    passage_embedder, query_embedder = PassageEmbedder(model=model), QueryEmbedder(model=model)
    passage_embedder.warm_up()
    query_embedder.warm_up()
    console = console or Console(stderr=True)
    with _progress(console) as bars:
        bars.disable = not show_progress
        embed_task = bars.add_task("embedding", total=len(passages))
        started = time.perf_counter()
        snapshot = build_eval_snapshot(
            passages,
            passage_embedder,
            model,
            progress=lambda done, total: bars.update(embed_task, completed=done, total=total),
        )
        searcher = SnapshotSearcher(snapshot, query_embedder)
        indexing_seconds = time.perf_counter() - started
        ask_task = bars.add_task("questions", total=len(questions))
        retrieval = evaluate_retrieval(
            lambda q: searcher.search(q, top_k=EVAL_TOP_K, mode=mode),
            questions,
            progress=lambda done, total: bars.update(ask_task, completed=done),
        )
    return {
        "questions": len(questions),
        "retrieval": retrieval,
        "indexing": {"passages": len(passages), "seconds": round(indexing_seconds, 3)},
    }
