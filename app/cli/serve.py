"""`docqa ui` (the search page) and `docqa serve` (the HTTP API): long-running front ends."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from docqa import config
from docqa.app.cli.errors import handle_user_errors
from docqa.app.cli.options import (
    AllowedHostOpt,
    BackendOpt,
    CollectionOpt,
    EmbeddingOpt,
    IndexOpt,
    OcrOpt,
    ReaderOpt,
    WatchOpt,
)


@handle_user_errors
def ui(
    index: IndexOpt = None,
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port for the page (0: any free one).")
    ] = 8501,
    host: Annotated[
        str,
        typer.Option(
            help=f"Address: 127.0.0.1 keeps the page on this machine; any other needs {config.API_KEY}, "
            "which the page then asks for."
        ),
    ] = "127.0.0.1",
    samples: Annotated[
        bool, typer.Option("--samples", help="Index the bundled sample documents if the index is empty.")
    ] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in your web browser.")] = False,
    reader: ReaderOpt = None,
    backend: BackendOpt = None,
    embedding_model: EmbeddingOpt = None,
    watch: WatchOpt = None,
    ocr: OcrOpt = True,
    allowed_host: AllowedHostOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Serve the search page: ask questions in your browser, add and remove documents. Prints its URL."""
    from docqa.app.ui.launcher import run_ui

    for variable, value in (
        (config.READER_MODEL, reader),
        (config.READER_BACKEND, backend),
        (config.EMBEDDING_MODEL, embedding_model),
        (config.COLLECTION, collection),  # the collection the page opens on
    ):
        if value:
            # The page runs in its own (Streamlit) process and reads its configuration from the environment.
            os.environ[variable] = value
    raise typer.Exit(
        run_ui(
            index,
            port,
            host=host,
            samples=samples,
            headless=not open_browser,
            watch=watch or (),
            ocr=ocr,
            allowed_hosts=allowed_host or (),
        )
    )


@handle_user_errors
def serve(
    host: Annotated[
        str, typer.Option(help=f"Address to listen on; non-loopback needs {config.API_KEY}.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port (0: any free one; the URL printed says which).")
    ] = 8000,
    index: IndexOpt = None,
    reader: ReaderOpt = None,
    backend: BackendOpt = None,
    embedding_model: EmbeddingOpt = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest accepted upload, in MiB.")] = 50,
    max_concurrent_asks: Annotated[
        int | None, typer.Option(min=1, help="Questions read at once (default 2 x cores); others wait.")
    ] = None,
    watch: WatchOpt = None,
    ocr: OcrOpt = True,
    allowed_host: AllowedHostOpt = None,
    allowed_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-origin",
            help=f"Origin of a browser app that may call the API, e.g. https://app.example (repeatable) "
            f"[env: {config.ALLOWED_ORIGINS}]",
        ),
    ] = None,
    collection: CollectionOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes serving the index on the same port, each with its own models (memory: N x one "
            "service); questions are read in parallel across them."
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API for other applications (OpenAPI docs at /docs). Every collection is served:
    ``/collections/NAME/...``; the routes without that prefix serve --collection (default: default)."""
    if collection:
        from docqa.pipelines.api import validate_collection_name

        os.environ[config.COLLECTION] = validate_collection_name(collection)
    from docqa.app.server.limits import DEFAULT_CONCURRENT_ASKS
    from docqa.app.server.running import serve as run_server

    run_server(
        host,
        port,
        index,
        embedding_model=embedding_model,
        reader_model=reader,
        reader_backend=backend,
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        max_concurrent_asks=max_concurrent_asks or DEFAULT_CONCURRENT_ASKS,
        watch=watch or (),
        watch_ocr=ocr,
        allowed_hosts=allowed_host or (),
        allowed_origins=allowed_origin or (),
        workers=workers,
    )
