"""`docqa search` and `docqa ask`: passages and answers for a question, with their sources.

Retrieval and reading happen in :class:`docqa.pipelines.api.DocQA`; these commands only print the results.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from docqa import config
from docqa.app.cli.documents import open_docqa
from docqa.app.cli.errors import fail, handle_user_errors
from docqa.app.cli.options import (
    BackendOpt,
    CollectionOpt,
    EmbeddingOpt,
    FilterOpt,
    IndexOpt,
    JsonOpt,
    ModeOpt,
    NoFallbackOpt,
    NoRerankOpt,
    ReaderOpt,
    checked_mode,
)
from docqa.app.cli.output import console, err_console, highlight, print_json, source_label
from docqa.app.server import discovery


def _require_documents(qa) -> None:
    """Searching an empty index is a mistake worth a hint, not an empty result."""
    if not qa.index.exists():
        raise fail(f"The index at {qa.index.directory} is empty. Run `docqa ingest FOLDER` first.")


@handle_user_errors
def search(
    query: Annotated[str, typer.Argument(help="What to look for, e.g. a question.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many passages.")] = 5,
    mode: ModeOpt = "hybrid",
    index: IndexOpt = None,
    embedding_model: EmbeddingOpt = None,
    no_rerank: NoRerankOpt = False,
    filter_: FilterOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the passages that best match QUERY, with file, page and score."""
    from docqa.pipelines.api import parse_filter_expressions

    filters = parse_filter_expressions(filter_ or [])
    qa = open_docqa(index, embedding_model, collection)
    _require_documents(qa)
    rerank = False if no_rerank else None
    passages = qa.search(query, top_k=top_k, mode=checked_mode(mode), rerank=rerank, filters=filters)
    if as_json:
        print_json({"query": query, "passages": [p.to_dict() for p in passages]})
        return
    if not passages:
        console.print("No passages found.")
        return
    for rank, p in enumerate(passages, start=1):
        where = source_label(p.file, p.page, p.meta.get("section"))
        console.rule(f"[bold]{rank}.[/] {escape(where)}  [dim]score {p.score:.3f}[/]", align="left")
        console.print(escape(p.content))


@handle_user_errors
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in plain words.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Passages to read.")] = 5,
    max_answers: Annotated[int, typer.Option("--answers", "-n", min=1, help="Answers to show.")] = 3,
    threshold: Annotated[
        float | None,
        typer.Option("--no-answer-threshold", help="τ: higher answers more often [default: calibrated]"),
    ] = None,
    index: IndexOpt = None,
    reader: ReaderOpt = None,
    backend: BackendOpt = None,
    no_fallback: NoFallbackOpt = False,
    embedding_model: EmbeddingOpt = None,
    no_rerank: NoRerankOpt = False,
    no_service: Annotated[
        bool,
        typer.Option(
            "--no-service", help="Answer in this process even when `docqa serve` runs on the index."
        ),
    ] = False,
    filter_: FilterOpt = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from your documents: ranked answers with source, page and the passage highlighted.

    When `docqa serve` runs on the same index with the same settings, the question goes to it: answered
    in tens of milliseconds instead of seconds of imports and model loading in a fresh process.
    """
    flags = {"embedding_model": embedding_model, "reader_model": reader, "reader_backend": backend,
             "reader_fallback": False if no_fallback else None, "rerank": False if no_rerank else None,
             "collection": collection}
    settings = config.Settings.from_env().override(index_dir=index, **flags)
    filters = None
    if filter_:  # parsed here, so a bad expression is the same one error: line with or without a service
        from docqa.pipelines.api import parse_filter_expressions

        filters = parse_filter_expressions(filter_)
    served = None
    if not no_service and threshold is None:  # the service takes no threshold: only its calibrated one
        served = discovery.ask_service(
            settings, question, top_k=top_k, max_answers=max_answers, filters=filters
        )
    if served is not None and (served[0]["passages"] or served[0]["answers"]):
        data, record = served
        if as_json:
            ready = discovery.request_json(record["url"].rstrip("/") + "/ready", timeout=10.0) or {}
            data["reader_backend"] = ready.get("reader_backend")
            data["reranker"] = record.get("rerank") or None
            data["service"] = record["url"]
            print_json(data)
            return
        _print_answers(data, (record.get("rerank") or {}).get("notice"), no_rerank)
        return
    # In-process (no service, or it could not answer: an empty index, a missing reader say so here).
    from docqa.pipelines.api import DocQA

    qa = DocQA(index, **flags)
    _require_documents(qa)
    result = qa.ask(
        question, top_k=top_k, max_answers=max_answers, no_answer_threshold=threshold, filters=filters
    )
    if as_json:
        data = result.to_dict()
        if result.reader and not result.reader_error:
            # the runtime the reader runs on and how it was chosen (DOCQA_READER_BACKEND=auto measures)
            data["reader_backend"] = qa.reader().backend_choice.to_dict()
        data["reranker"] = qa.rerank_status()
        data["service"] = None
        print_json(data)
        raise typer.Exit(2 if result.reader_error else 0)
    if result.reader_error:
        # Still useful without a reader: the passages that match, then exit 2 (the reader is missing).
        err_console.print(f"[bold red]Reader unavailable:[/] {escape(result.reader_error)}")
        console.print("[bold]Passages that match your question:[/]")
        for p in result.passages:
            console.rule(escape(source_label(p.file, p.page, p.meta.get("section"))), align="left")
            console.print(escape(p.content))
        raise typer.Exit(2)
    _print_answers(result.to_dict(), qa.rerank_status()["notice"], no_rerank)


def _print_answers(data: dict[str, Any], rerank_notice: str | None, no_rerank: bool) -> None:
    """Print an answer (``AskResult.to_dict()``, from this process or a running service) for a person."""
    faq = data.get("faq")
    if faq and faq.get("matched"):
        console.print(f"[bold]{escape(data['answers'][0]['text'])}[/]")
        similarity = f"similarity {faq['similarity']:.2f}"
        console.print(f'[dim]From the FAQ: "{escape(faq["question"])}" ({similarity})[/]')
        return
    if data.get("reader_notice"):
        err_console.print(f"[yellow]Note:[/] {escape(data['reader_notice'])}")
    if data["no_answer"]:
        judged = data.get("answerability") or {}
        why = (f" (the passages read do not seem to be about it: {judged['probability']:.0%} chance it is "
               "in them)" if judged.get("not_in_documents") else "")
        console.print(f"[bold]No answer found in your documents.[/]{why} Closest candidates (unsure):")
    for rank, answer in enumerate(data["answers"], start=1):
        src = answer["sources"][0]
        sources = answer["sources"]
        also = f" (+{len(sources) - 1} more sources)" if len(sources) > 1 else ""
        label = "[yellow]unsure[/] " if answer["unsure"] else ""
        where = source_label(src["file"], src["page"], src.get("section"))
        console.rule(
            f"[bold]{rank}. {escape(answer['text'])}[/]  {label}"
            f"[dim]{answer['score']:.0%} — {escape(where)}{also}[/]",
            align="left",
        )
        console.print(highlight(src["passage"], src["passage_start"], src["passage_end"]))
    t = data["timings_ms"]
    passages = len(data["passages"])
    read = f" ({t['passages_read']:.0f} of {passages} passages)" if "passages_read" in t else ""
    rerank = f", rerank {t['rerank']:.0f} ms" if "rerank" in t else ""
    reading = f"reading {t.get('reading', 0):.0f} ms{read}"
    console.print(f"[dim]retrieval {t.get('retrieval', 0):.0f} ms{rerank}, {reading}[/]")
    if rerank_notice and not no_rerank:
        err_console.print(f"[dim]Note: {escape(rerank_notice)}[/]")
