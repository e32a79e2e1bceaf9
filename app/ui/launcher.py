"""Start the search page (app/ui/page.py) as a Streamlit server: what ``docqa ui`` runs.

Why a subprocess: Streamlit serves a *script* with its own event loop and file layout; ``streamlit run``
in a child process is the supported way to start it, and keeps ``docqa``'s own process free of it. The page
is configured through the same environment variables as every other DocQA front end (``DOCQA_INDEX``,
``DOCQA_READER_MODEL``...), plus ``DOCQA_UI_SAMPLES=1`` for ``--samples``.

Also runnable directly: ``python -m app.ui.launcher --index DIR --port 8501 --samples``.
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
from collections.abc import Mapping
from pathlib import Path

from docqa import config

REPO = Path(__file__).resolve().parents[2]
UI_SCRIPT = Path(__file__).resolve().parent / "page.py"
READY_TIMEOUT = 120.0


def streamlit_command(port: int, host: str, headless: bool) -> list[str]:
    """``streamlit run app/ui/page.py`` with DocQA's server settings: no telemetry, no file watching."""
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
    ]  # fmt: skip


def ui_environment(
    index: Path | None, samples: bool, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The child's environment: the index as an absolute path (the child's working directory must not
    change its meaning), the samples switch, quiet model libraries, and DocQA importable without install."""
    env = dict(os.environ if base is None else base)
    if index is None:
        index = config.Settings.from_env().index_dir
    env[config.INDEX] = str(Path(index).expanduser().resolve())
    if samples:
        env[config.UI_SAMPLES] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("TRANSFORMERS_VERBOSITY", "error")
    env.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    python_path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + python_path if python_path else "")
    return env


def page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


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


def run_ui(
    index: Path | None, port: int, host: str = "127.0.0.1", samples: bool = False, headless: bool = True
) -> int:
    """Serve the search page on ``host:port`` until interrupted; return the server's exit status.

    :param index: index directory (``None``: ``DOCQA_INDEX`` or ``./docqa-index``).
    :param samples: index the bundled samples when the index is empty (``docqa ui --samples``).
    :param headless: ``False`` lets Streamlit open a browser tab.
    :returns: 0 after a clean stop, 2 when the port is taken, else the server's exit status.
    """
    if not 0 < port < 65536:
        print(f"error: port must be between 1 and 65535, got {port}", file=sys.stderr)
        return 2
    if not port_is_free(host, port):
        print(f"error: {host}:{port} is already in use; choose another port with --port", file=sys.stderr)
        return 2
    env = ui_environment(index, samples)
    url = page_url(host, port)
    print(f"DocQA: starting the search page for the index {env[config.INDEX]} …", flush=True)
    process = subprocess.Popen(streamlit_command(port, host, headless), env=env)

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
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.ui.launcher", description="Serve DocQA's search page."
    )
    parser.add_argument("--index", type=Path, default=None, help="index directory [env: DOCQA_INDEX]")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--samples", action="store_true", help="index the samples if the index is empty")
    parser.add_argument("--open", action="store_true", help="open a browser tab")
    args = parser.parse_args(argv)
    return run_ui(args.index, args.port, host=args.host, samples=args.samples, headless=not args.open)


if __name__ == "__main__":
    sys.exit(main())
