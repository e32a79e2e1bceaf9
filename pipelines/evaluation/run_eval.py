"""`docqa eval`: build a temporary index from SQuAD paragraphs and measure retrieval (and, later, reading).

The temporary index is an in-memory :class:`~docqa.pipelines.document_stores.local.index.InMemoryIndex`
searched by the same :class:`~docqa.pipelines.query.QueryPipelines` that serve real queries, so the numbers
describe the product, not a re-implementation of it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docqa.config import Settings
from docqa.errors import InvalidInputError
from docqa.ingest.records import SourceFile, utc_now
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
from docqa.pipelines.components.rankers.reranker import DocQAReranker, reranker_available
from docqa.pipelines.document_stores.factory import eval_store
from docqa.pipelines.document_stores.local.index import InMemoryIndex
from docqa.pipelines.evaluation.retrieval_eval import evaluate_retrieval, load_squad_corpus
from docqa.pipelines.query import QueryPipelines
from docqa.pipelines.squad import SquadFile, read_squad

EVAL_TOP_K = 20


def build_eval_snapshot(
    passages: list, embedder: PassageEmbedder, embedding_model: str, progress: Any = None
) -> InMemoryIndex:
    """Embed every passage and put them into one in-memory snapshot (one 'file' per article title)."""
    embedded = embedder.run(documents=passages, progress=progress)["documents"]
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
    return InMemoryIndex.empty(
        embedding_model, vectors.shape[1] if len(vectors) else embedder.encoder.dim
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
    squad_json: Path | SquadFile,
    distractors: Sequence[Path] = (),
    *,
    embedding_model: str | None = None,
    mode: str = "hybrid",
    show_progress: bool = True,
    console: Console | None = None,
    store: str | None = None,
    rerank: bool | None = None,
) -> tuple[dict[str, Any], QueryPipelines]:
    """The ``docqa eval`` retrieval contract (questions, retrieval metrics, indexing passages/seconds),
    and the searcher over the temporary index, which the reader evaluation reuses end to end.

    With a reranker (the bundled one, unless ``rerank`` is False or ``DOCQA_RERANK=0``), the same
    questions are asked again through it: ``"retrieval_reranked"`` beside ``"retrieval"`` (its latency is
    search + rerank), and ``"reranker"`` says which model, runtime and N; without one, ``"reranker"``
    says why not.

    :raises SquadFileError: when a file is not SQuAD-shaped; ``InvalidInputError`` when ``squad_json`` has
        no answerable question.
    """
    settings = Settings.from_env()
    model = embedding_model or settings.embedding_model
    wanted = settings.rerank if rerank is None else rerank
    use_reranker = wanted and reranker_available()
    reranker = DocQAReranker(top_k=EVAL_TOP_K) if use_reranker else None
    passages, questions = load_squad_corpus(squad_json, distractors)
    if not questions:
        path = squad_json.path if isinstance(squad_json, SquadFile) else squad_json
        raise InvalidInputError(f"{path}: has no answerable questions to evaluate")
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
        # Local: FAISS + BM25 built now, in memory. Milvus (store): written into a temporary collection.
        searcher = QueryPipelines(eval_store(store, snapshot, model), model, reranker)
        indexing_seconds = time.perf_counter() - started
        ask_task = bars.add_task("questions", total=len(questions))
        retrieval = evaluate_retrieval(
            lambda q: searcher.search(q, top_k=EVAL_TOP_K, mode=mode),
            questions,
            progress=lambda done, total: bars.update(ask_task, completed=done),
        )
        reranked = None
        if reranker is not None:
            reranker.warm_up()  # loading and measuring the runtime are not a question's latency
            rerank_task = bars.add_task("reranked", total=len(questions))
            reranked = evaluate_retrieval(
                lambda q: searcher.search(q, top_k=EVAL_TOP_K, mode=mode, rerank=True),
                questions,
                progress=lambda done, total: bars.update(rerank_task, completed=done),
            )
    result: dict[str, Any] = {
        "questions": len(questions),
        "query_encoder": searcher.query_model,  # the fitted question encoder, or the embedding model
        "retrieval": retrieval,
        "indexing": {"passages": len(passages), "seconds": round(indexing_seconds, 3)},
    }
    if reranked is not None and reranker is not None:
        choice = reranker.backend_choice
        result["retrieval_reranked"] = reranked
        result["reranker"] = {"model": str(reranker.model_dir), "candidates": reranker.candidates,
                              "backend": choice.backend if choice else None}
    else:
        why = ("no reranker in data/reranker (reinstall DocQA)" if wanted
               else "off (DOCQA_RERANK=0 or --no-rerank)")
        result["reranker"] = {"model": None, "why_not": why}
    return result, searcher


def off_corpus_report(runs: Sequence[Any], tau: float, files: list[str]) -> dict[str, Any]:
    """How often questions whose articles are not indexed still got a confident answer."""
    n = len(runs)
    answered = sum(1 for r in runs if r.forced_answer and not r.no_answer)
    by_tau = sum(1 for r in runs if r.forced_answer and not r.null_score_diff > tau)
    return {"files": files, "questions": n, "answered_rate": answered / n if n else 0.0,
            "answered_rate_reader_tau_only": by_tau / n if n else 0.0, "no_answer_threshold": tau}


def run_eval(
    squad_json: Path,
    distractors: Sequence[Path] = (),
    *,
    embedding_model: str | None = None,
    reader_model: str | None = None,
    reader_backend: str | None = None,
    retriever_only: bool = False,
    calibrate_threshold: bool = False,
    mode: str = "hybrid",
    top_k: int = 5,
    limit: int | None = None,
    off_corpus: Sequence[Path] = (),
    show_progress: bool = True,
    console: Console | None = None,
    store: str | None = None,
    rerank: bool | None = None,
) -> dict[str, Any]:
    """Everything ``docqa eval`` reports: retrieval, then (unless ``retriever_only``) the reader on gold
    passages (``"reader"``) and on retrieved passages (``"end_to_end"``), with official SQuAD 2.0 metrics
    (``forced_HasAns_f1``: span accuracy on answerable questions, no-answer ignored).

    ``off_corpus``: SQuAD files whose articles are *not* indexed; their questions are asked end to end
    and ``"off_corpus"`` reports ``answered_rate``, the share that got a confident answer (ideally 0),
    with the product's decision (reader τ + the shipped answerability model) and with the τ rule alone.

    With ``calibrate_threshold`` the τ maximising F1 on the gold-passage run is stored in the DocQA config
    first (``"calibration"`` in the result) and used for both reader evaluations.

    :raises ModelUnavailableError: when the reader model cannot be loaded (retrieval needs no reader).
    """
    from docqa.pipelines.components.readers.selection import select_reader
    from docqa.pipelines.evaluation.reader_eval import (
        ReaderExample,
        calibrate,
        read_examples,
        score_runs,
        squad_reader_examples,
    )

    console = console or Console(stderr=True)
    settings = Settings.from_env().override(reader_model=reader_model, reader_backend=reader_backend)
    reader = None
    if not retriever_only:
        # Evaluation never swaps models silently: no compact fallback ("compact" works when asked for).
        # Loading first makes a missing model fail before the long retrieval run.
        reader, _ = select_reader(settings.reader_model, settings.reader_backend, allow_fallback=False)
    squad = read_squad(squad_json)  # read once: its passages are indexed, its questions asked and read
    result, searcher = run_retrieval_eval(
        squad,
        distractors,
        embedding_model=embedding_model,
        mode=mode,
        show_progress=show_progress,
        console=console,
        store=store,
        rerank=rerank,
    )
    result["store"] = store or "local"
    if reader is None:
        return result

    from docqa.pipelines.components.readers.answerability import AnswerabilityJudge

    off_examples = [e for path in off_corpus for e in squad_reader_examples(read_squad(path))]
    examples = squad_reader_examples(squad)
    if limit:
        examples, off_examples = examples[:limit], off_examples[:limit]
    reader.warm_up()
    judge = AnswerabilityJudge(model_dir=reader.model_dir)
    with _progress(console) as bars:
        bars.disable = not show_progress

        def tracked(label: str):
            def wrap(items):
                items = list(items)
                task = bars.add_task(label, total=len(items))
                for item in items:
                    yield item
                    bars.advance(task)

            return wrap

        if calibrate_threshold:
            calibration = calibrate(
                reader,
                examples,
                progress=tracked("calibrating"),
                save_as=(settings.reader_model, settings.reader_backend, str(squad_json)),
            )
            reader.no_answer_threshold = calibration["no_answer_threshold"]
            result["calibration"] = {k: calibration[k] for k in ("no_answer_threshold", "f1", "config")}
        gold_runs = read_examples(reader, examples, progress=tracked("reader"))
        result["reader"] = {**score_runs(examples, gold_runs), "no_answer_threshold": reader.threshold()}

        def end_to_end(items: list[ReaderExample], label: str) -> tuple[list[ReaderExample], list]:
            retrieved, retrieval_seconds = [], []
            for example in items:
                started = time.perf_counter()
                docs = searcher.search(example.question, top_k=top_k, mode=mode, rerank=True)
                retrieval_seconds.append(time.perf_counter() - started)
                retrieved.append(
                    ReaderExample(example.qid, example.question, docs, example.answers, example.is_impossible)
                )
            runs = read_examples(reader, retrieved, progress=tracked(label), judge=judge)
            for run, seconds in zip(runs, retrieval_seconds, strict=True):
                run.seconds += seconds
            return retrieved, runs

        retrieved_examples, e2e_runs = end_to_end(examples, "end to end")
        result["end_to_end"] = {**score_runs(retrieved_examples, e2e_runs), "top_k": top_k,
                                "answerability_model": judge.model is not None}
        if off_examples:
            _, off_runs = end_to_end(off_examples, "off corpus")
            files = [str(p) for p in off_corpus]
            result["off_corpus"] = off_corpus_report(off_runs, reader.threshold(), files)
    result["reader_model"] = settings.reader_model
    result["reader_backend"] = settings.reader_backend
    return result
