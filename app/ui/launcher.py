"""Start the search page (app/ui/page.py) as a Streamlit server: what ``docqa ui`` runs.

Why a subprocess: Streamlit serves a *script* with its own event loop and file layout; ``streamlit run``
in a child process is the supported way to start it, and keeps ``docqa``'s own process free of it. The page
is configured through the same environment variables as every other DocQA front end (``DOCQA_INDEX``,
``DOCQA_READER_MODEL``...), plus ``DOCQA_UI_SAMPLES=1`` for ``--samples``.

``--watch PATH``: a second child, ``python -m docqa.app.cli ingest PATH --watch --index <the same index>``,
keeps
the folder indexed beside the page (the page follows index commits by other processes), is started
before Streamlit and stopped with it; ``DOCQA_UI_WATCH`` tells the page what is watched (sidebar).

Who may use the page (issue 27): beyond loopback only with ``DOCQA_API_KEY`` set (refused otherwise, like
`docqa serve`), and the page then asks for the key (app/ui/gate.py). Streamlit's own protections are passed
on the command line, where no ``.streamlit/config.toml`` or ``STREAMLIT_*`` variable can turn them off: the
XSRF token every upload must carry (a raw ``PUT /_stcore/upload_file/...`` without it is 403), CORS and
same-origin WebSocket checks, the agent API off, and without a key ``server.allowedHosts`` — the page's
connection answers only to loopback names, the address listened on and ``DOCQA_ALLOWED_HOSTS`` /
``--allowed-host``, which stops DNS rebinding.

Also runnable directly: ``python -m docqa.app.ui.launcher --index DIR --port 8501 --samples --watch DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import docqa
from docqa import config
from docqa.app import access

# The folder that holds the `docqa` package (site-packages, or the checkout for an editable install): the
# children import docqa.app... from the same place as this process, whatever their working directory holds.
PACKAGE_PARENT = Path(docqa.__file__).resolve().parents[1]
UI_SCRIPT = Path(__file__).resolve().parent / "page.py"
READY_TIMEOUT = 120.0


def streamlit_command(
    port: int, host: str, headless: bool, allowed_hosts: Sequence[str] | None = None
) -> list[str]:
    """``streamlit run docqa/app/ui/page.py`` with DocQA's server settings: no telemetry, no file watching,
    Streamlit's cross-site protections pinned on, and the WebSocket limited to ``allowed_hosts`` (None: any
    host, for a keyed page reached under names the defaults cannot know)."""
    hosts = [arg for name in allowed_hosts or () for arg in ("--server.allowedHosts", name)]
    return [
        sys.executable, "-m", "streamlit", "run", str(UI_SCRIPT),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "true" if headless else "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
        "--server.enableXsrfProtection", "true",
        "--server.xsrfCookieSameSite", "lax",
        "--server.enableCORS", "true",
        "--server.enableAgentApi", "false",
        *hosts,
    ]  # fmt: skip


def watch_command(paths: Sequence[Path], index: str, ocr: bool = True) -> list[str]:
    """``docqa ingest PATHS --watch`` for the page's index: the watcher child of ``docqa ui --watch``."""
    command = [sys.executable, "-m", "docqa.app.cli", "ingest", *map(str, paths), "--watch", "--index", index]
    return command if ocr else [*command, "--no-ocr"]


def ui_environment(
    index: Path | None,
    samples: bool,
    base: Mapping[str, str] | None = None,
    watch: Sequence[Path] = (),
) -> dict[str, str]:
    """The children's environment: the index as an absolute path (the child's working directory must not
    change its meaning), the samples switch, the watched folders, quiet model libraries, and DocQA
    importable without install."""
    env = dict(os.environ if base is None else base)
    if index is None:
        index = config.Settings.from_env().index_dir
    env[config.INDEX] = str(Path(index).expanduser().resolve())
    if samples:
        env[config.UI_SAMPLES] = "1"
    if watch:
        env[config.UI_WATCH] = os.pathsep.join(str(Path(p).expanduser().resolve()) for p in watch)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("TRANSFORMERS_VERBOSITY", "error")
    env.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    python_path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(PACKAGE_PARENT) + (os.pathsep + python_path if python_path else "")
    return env


def page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def free_port(host: str) -> int:
    """A port the OS reports free on ``host`` right now (``--port 0``): Streamlit cannot report the port it
    bound, so the launcher asks the OS for one and hands it over."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def wait_until_ready(process: subprocess.Popen, url: str, timeout: float = READY_TIMEOUT) -> bool:
    """Poll Streamlit's health endpoint until it answers, the server dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stop_watcher(process: subprocess.Popen | None) -> None:
    """Ctrl-C for the watcher (it stops between commits, as `docqa ingest --watch` does), then force."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        _stop(process)


def run_ui(
    index: Path | None,
    port: int,
    host: str = "127.0.0.1",
    samples: bool = False,
    headless: bool = True,
    watch: Sequence[Path] = (),
    ocr: bool = True,
    allowed_hosts: Sequence[str] = (),
) -> int:
    """Serve the search page on ``host:port`` until interrupted; return the server's exit status.

    :param index: index directory (``None``: ``DOCQA_INDEX`` or ``./docqa-index``).
    :param samples: index the bundled samples when the index is empty (``docqa ui --samples``).
    :param headless: ``False`` lets Streamlit open a browser tab.
    :param watch: folders and files kept indexed while the page runs (``docqa ui --watch``).
    :param ocr: OCR scanned pages and images of watched files.
    :param port: 0 picks a free port (the URL printed says which).
    :param allowed_hosts: host names the page answers to besides loopback, ``host`` and
        ``DOCQA_ALLOWED_HOSTS`` (``--allowed-host``).
    :returns: 0 after a clean stop, 2 when the port is taken, a watched path is missing or ``host`` is
        beyond loopback without ``DOCQA_API_KEY``, else the server's exit status.
    """
    # Arguments first, the port last: a bad argument is reported whatever the port's state.
    from docqa.pipelines.api import KeyStore

    root = config.Settings.from_env().override(index_dir=index).index_dir
    key = access.configured_key() or ("scoped keys" if KeyStore(root).configured() else None)
    refusal = access.bind_refusal(host, key, "the page then asks for it")
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if not 0 <= port < 65536:
        print(f"error: port must be between 0 and 65535, got {port}", file=sys.stderr)
        return 2
    missing = [str(p) for p in watch if not Path(p).expanduser().exists()]
    if missing:
        print(f"error: cannot watch {', '.join(missing)}: no such file or folder", file=sys.stderr)
        return 2
    if port == 0:
        port = free_port(host)
    elif not port_is_free(host, port):
        print(f"error: {host}:{port} is already in use; choose another port with --port", file=sys.stderr)
        return 2
    env = ui_environment(index, samples, watch=watch)
    url = page_url(host, port)
    watcher = None
    if watch:
        # Started first: its first ingest and the page's start-up overlap; the page shows each commit.
        watcher = subprocess.Popen(watch_command(watch, env[config.INDEX], ocr), env=env)
    print(f"DocQA: starting the search page for the index {env[config.INDEX]} …", flush=True)
    # Without a key, only the page's own names; with one, the key gate decides (unless hosts are configured).
    check_hosts = key is None or bool(access.configured_hosts(allowed_hosts))
    hosts = access.allowed_hosts(host, allowed_hosts) if check_hosts else None
    process = subprocess.Popen(streamlit_command(port, host, headless, hosts), env=env)

    def on_sigterm(signum, frame):  # a stopped `docqa ui` must not leave its server running
        raise SystemExit(128 + signum)

    previous = None
    with contextlib.suppress(ValueError):  # not the main thread: the caller owns signal handling
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if wait_until_ready(process, url):
            print(f"DocQA is ready: open {url} in your browser (Ctrl+C stops it).", flush=True)
        returncode = process.wait()
        return returncode
    except KeyboardInterrupt:
        # Ctrl+C reached the server too (same process group); give it a moment to stop cleanly.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        return 0
    finally:
        _stop(process)
        _stop_watcher(watcher)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m docqa.app.ui.launcher", description="Serve DocQA's search page."
    )
    parser.add_argument("--index", type=Path, default=None, help="index directory [env: DOCQA_INDEX]")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--samples", action="store_true", help="index the samples if the index is empty")
    parser.add_argument("--open", action="store_true", help="open a browser tab")
    parser.add_argument("--watch", type=Path, action="append", default=[], help="keep a folder indexed")
    parser.add_argument("--no-ocr", action="store_true", help="no OCR for watched files")
    parser.add_argument("--allowed-host", action="append", default=[], help="another host name to answer to")
    args = parser.parse_args(argv)
    return run_ui(
        args.index,
        args.port,
        host=args.host,
        samples=args.samples,
        headless=not args.open,
        watch=args.watch,
        ocr=not args.no_ocr,
        allowed_hosts=args.allowed_host,
    )


if __name__ == "__main__":
    sys.exit(main())
