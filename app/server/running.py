"""Running the service: `docqa serve` and ``python -m docqa.app.server`` both end in :func:`serve`.

Why checks before anything loads: binding beyond loopback without an API key would expose every
document to the network, so it is refused before a model or the index is touched. The port is bound next,
still before loading (a port in use is one line, not a model load followed by uvicorn's exit), and
``--port 0`` takes any free port: the service prints the address it really listens on once it is ready
(``DocQA service ready: http://127.0.0.1:PORT``), which is how tests and scripts find it without a fixed
port.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from docqa.app.access import bind_refusal
from docqa.app.server import discovery
from docqa.app.server.deps import API_KEY_HEADER, resolve_api_key
from docqa.app.server.errors import ServeConfigError
from docqa.app.server.limits import DEFAULT_CONCURRENT_ASKS, DEFAULT_MAX_UPLOAD_BYTES


def check_bind(host: str, api_key: str | None) -> None:
    """:raises ServeConfigError: when binding beyond loopback without an API key."""
    refusal = bind_refusal(host, api_key, f"clients send it in the {API_KEY_HEADER} header")
    if refusal:
        raise ServeConfigError(refusal)


def check_workers(workers: int, watch: Sequence[str | Path] = ()) -> None:
    """:raises ServeConfigError: for fewer than one worker, or ``--watch`` with several (each worker would
    ingest every change: N writers queueing on one index lock for the same file)."""
    if workers < 1:
        raise ServeConfigError(f"--workers must be 1 or more (processes serving the index), got {workers}")
    if workers > 1 and watch:
        raise ServeConfigError(
            "--watch needs --workers 1: run `docqa ingest PATHS --watch` beside a multi-worker service "
            "instead (every worker answers from each commit)"
        )


def _scoped_keys(index: str | Path | None) -> str | None:
    """A stand-in for "a key is required" when the index has scoped keys (`docqa keys create`)."""
    from docqa.config import Settings
    from docqa.pipelines.api import KeyStore

    root = Settings.from_env().override(index_dir=index).index_dir
    return "scoped keys" if KeyStore(root).configured() else None


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (``port`` 0: any free one), as uvicorn binds it (IPv6 for an address
    with a colon, ``SO_REUSEADDR``); uvicorn starts listening on it.

    :raises ServeConfigError: when the address cannot be bound (port in use, unknown host), in one line.
    """
    address = host.strip().strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as err:
        sock.close()
        in_use = err.errno == errno.EADDRINUSE
        reason = "already in use" if in_use else f"cannot be used: {err.strerror or err}"
        raise ServeConfigError(
            f"{host}:{port} is {reason}; choose another port with --port (0: any free one)"
        ) from None
    return sock


def service_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a service bound to ``host:port``."""
    address = host.strip().strip("[]")
    shown = "127.0.0.1" if address in ("", "0.0.0.0") else "[::1]" if address == "::" else (
        f"[{address}]" if ":" in address else address
    )
    return f"http://{shown}:{port}"


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    index: str | Path | None = None,
    *,
    api_key: str | None = None,
    embedding_model: str | None = None,
    reader_model: str | None = None,
    reader_backend: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_concurrent_asks: int | None = DEFAULT_CONCURRENT_ASKS,
    log_level: str = "info",
    watch: Sequence[str | Path] = (),
    watch_ocr: bool = True,
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    reading_batch_window_s: float | None = None,
    reading_batch_workers: int = 1,
    workers: int = 1,
) -> None:
    """Run the service until interrupted (what `docqa serve` calls).

    ``workers``: processes serving the same index on the same port (`docqa serve --workers N`, see
    :mod:`docqa.app.server.workers`); 1 serves in this process.

    ``watch``: folders and files kept indexed while serving (`docqa serve --watch`), one log line per change.
    ``allowed_hosts`` / ``allowed_origins``: host names and browser-app origins allowed besides loopback,
    ``host`` and ``DOCQA_ALLOWED_HOSTS`` / ``DOCQA_ALLOWED_ORIGINS`` (see :mod:`docqa.app.server.crosssite`).

    :raises ServeConfigError: for a non-loopback ``host`` without ``api_key`` / ``DOCQA_API_KEY``, a
        ``workers`` count below 1, ``watch`` with several workers, or a worker that cannot start.
    """
    key = resolve_api_key(api_key or None)
    check_workers(workers, watch)
    check_bind(host, key or _scoped_keys(index))  # before any model or index is touched
    if not 0 <= port <= 65535:
        raise ServeConfigError(f"port must be between 0 and 65535, got {port}")
    sock = listen_socket(host, port)  # still before any model or index is touched
    url = service_url(host, sock.getsockname()[1])
    if workers > 1:
        from docqa.app.server.workers import WorkerSettings, serve_workers

        settings = WorkerSettings(
            url, host, None if index is None else str(index), api_key=key, embedding_model=embedding_model,
            reader_model=reader_model, reader_backend=reader_backend, max_upload_bytes=max_upload_bytes,
            max_concurrent_asks=max_concurrent_asks, allowed_hosts=tuple(allowed_hosts),
            allowed_origins=tuple(allowed_origins), log_level=log_level,
            reading_batch_window_s=reading_batch_window_s, reading_batch_workers=reading_batch_workers,
        )
        with sock:
            serve_workers(settings, sock, workers)
        return

    from docqa.app.server.app import create_app
    from docqa.pipelines.api import DocQA

    docqa = DocQA(
        index, embedding_model=embedding_model, reader_model=reader_model, reader_backend=reader_backend
    )
    app = create_app(
        docqa,
        api_key=key or "",
        max_upload_bytes=max_upload_bytes,
        max_concurrent_asks=max_concurrent_asks,
        watch=watch,
        watch_ocr=watch_ocr,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        bound_host=host,
        reading_batch_window_s=reading_batch_window_s,
        reading_batch_workers=reading_batch_workers,
    )
    if watch:
        show_watch_log()
    server = AnnouncingServer(uvicorn.Config(app, host=host, port=port, log_level=log_level), url)
    # Once started, the index directory says where the service is, so `docqa ask` on the same index asks
    # it instead of loading everything again (docqa.app.server.discovery); withdrawn when it stops.
    server.on_started = lambda: discovery.announce(
        docqa.settings, url, needs_key=bool(key), rerank=docqa.rerank_status())
    try:
        with sock, contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        discovery.withdraw(server.announced)
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE: the app's start-up failed (uvicorn logged why)


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, printing the service's URL once the app has started: with ``--port 0`` the URL is
    the only way a user or a script learns the port (uvicorn's own line is logged at ``info`` only)."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url
        self.on_started: Callable[[], Path | None] | None = None  # e.g. write the discovery file
        self.announced: Path | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            if self.on_started is not None:
                self.announced = self.on_started()
            print(f"DocQA service ready: {self.url} (API docs at {self.url}/docs; Ctrl+C stops it)",
                  flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Stop advertising first, here: after a SIGTERM uvicorn re-raises the signal once it has shut
        # down, which ends the process before serve()'s own clean-up runs.
        discovery.withdraw(self.announced)
        self.announced = None
        await super().shutdown(sockets=sockets)


def show_watch_log() -> None:
    """Print the watcher's one line per change beside uvicorn's log (uvicorn configures only its own)."""
    import logging

    logger = logging.getLogger("docqa.watch")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    """``python -m docqa.app.server``: the same as `docqa serve`, for tests and benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m docqa.app.server", description=serve.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--index", default=None)
    parser.add_argument("--reader", default=None)
    parser.add_argument("--embedding-model", default=None)
    parser.add_argument("--backend", default=None)
    parser.add_argument("--max-upload-bytes", type=int, default=DEFAULT_MAX_UPLOAD_BYTES)
    parser.add_argument(
        "--max-concurrent-asks", type=int, default=DEFAULT_CONCURRENT_ASKS, help="0: no limit"
    )
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--watch", action="append", default=[], help="folder to keep indexed (repeatable)")
    parser.add_argument("--no-ocr", action="store_true", help="no OCR for watched files")
    parser.add_argument("--allowed-host", action="append", default=[], help="another host name to answer to")
    parser.add_argument("--allowed-origin", action="append", default=[], help="a browser app's origin")
    parser.add_argument("--reading-batch-window-ms", type=float, default=-1.0,
                        help="0 or more: concurrent questions share reading passes and an idle reader "
                        "waits this long for company (default -1: each question reads alone; for "
                        "benchmarks/throughput.py)")
    parser.add_argument("--reading-batch-workers", type=int, default=1, help="shared passes run at once")
    parser.add_argument("--workers", type=int, default=1, help="processes serving the index (default 1)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        serve(
            args.host,
            args.port,
            args.index,
            embedding_model=args.embedding_model,
            reader_model=args.reader,
            reader_backend=args.backend,
            max_upload_bytes=args.max_upload_bytes,
            max_concurrent_asks=args.max_concurrent_asks or None,
            log_level=args.log_level,
            watch=args.watch,
            watch_ocr=not args.no_ocr,
            allowed_hosts=args.allowed_host,
            allowed_origins=args.allowed_origin,
            reading_batch_window_s=(args.reading_batch_window_ms / 1000.0
                                    if args.reading_batch_window_ms >= 0 else None),
            reading_batch_workers=args.reading_batch_workers,
            workers=args.workers,
        )
    except ServeConfigError as err:
        print(f"error: {err}", flush=True)
        return 2
    return 0
