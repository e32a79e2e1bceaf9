"""The search page refuses what another site's page could do to it (issue 27, finding 3), against a real
page server started by the launcher the way `docqa ui` starts it — no browser needed: the requests a
browser would send are written out (an upload without the XSRF token, a WebSocket for another host name).

The page server runs in a folder whose ``.streamlit/config.toml`` and ``STREAMLIT_*`` variables try to turn
every protection off: the launcher's command-line settings must win.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from docqa.app.ui.launcher import run_ui, streamlit_command
from tests.conftest import REPO

START_S = 120
HOSTILE_CONFIG = """
[server]
enableXsrfProtection = false
enableCORS = false
allowedHosts = ["*"]
enableAgentApi = true
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """``python -m docqa.app.ui.launcher --port 0`` (what `docqa ui` runs), keyless, on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("ui-crosssite")
    (folder / ".streamlit").mkdir()
    (folder / ".streamlit" / "config.toml").write_text(HOSTILE_CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("DOCQA_API_KEY", "DOCQA_ALLOWED_HOSTS")}
    env.update(STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION="false", STREAMLIT_SERVER_ENABLE_CORS="false",
               PYTHONPATH=str(REPO))
    log = folder / "page.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "docqa.app.ui.launcher", "--index", str(folder / "index"), "--port", "0"],
        cwd=folder, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_S
        while not (ready := re.search(r"DocQA is ready: open http://127\.0\.0\.1:(\d+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        port = int(ready.group(1))
        yield f"http://127.0.0.1:{port}", port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def websocket_status(port: int, host: str, origin: str | None) -> int:
    """The status of a WebSocket handshake for the page's connection (101: accepted)."""
    lines = [
        "GET /_stcore/stream HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: streamlit",
    ]  # fmt: skip
    if origin:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = sock.recv(256).split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1])


def test_an_upload_without_the_xsrf_token_is_refused(page):
    base, _ = page
    files = {"file": ("evil.txt", b"Planted by another site.\n", "text/plain")}
    # What a page on another site can send: no cookie of ours (SameSite), no token.
    assert httpx.put(f"{base}/_stcore/upload_file/any-session/any-file", files=files,
                     headers={"Origin": "http://evil.example"}, timeout=30).status_code == 403
    # A token it made up does not match the cookie it does not have.
    forged = {"X-Xsrftoken": "2|00000000|00000000000000000000000000000000|1700000000"}
    assert httpx.put(f"{base}/_stcore/upload_file/any-session/any-file", files=files, headers=forged,
                     timeout=30).status_code == 403


def test_the_page_connection_answers_only_to_its_own_names_and_origin(page):
    base, port = page
    assert websocket_status(port, f"127.0.0.1:{port}", base) == 101
    assert websocket_status(port, f"localhost:{port}", f"http://localhost:{port}") == 101
    # DNS rebinding: evil.example now resolves to 127.0.0.1; for the browser the page is evil.example's.
    assert websocket_status(port, f"evil.example:{port}", f"http://evil.example:{port}") == 403
    # A page on another site opening the page's connection (CORS protection).
    assert websocket_status(port, f"127.0.0.1:{port}", "http://evil.example") == 403


def test_the_agent_api_stays_off(page):
    base, _ = page
    response = httpx.post(f"{base}/_stcore/agent/interact", json={}, timeout=30)
    assert response.status_code in (403, 404, 405), response.text


def test_listening_beyond_loopback_needs_a_key(monkeypatch, capsys):
    monkeypatch.delenv("DOCQA_API_KEY", raising=False)
    assert run_ui(None, 0, host="0.0.0.0") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Refusing to listen on 0.0.0.0 without an API key") and err.count("\n") == 1
    assert "DOCQA_API_KEY" in err


def test_the_launcher_pins_streamlits_protections():
    command = streamlit_command(8501, "127.0.0.1", True, ["localhost", "127.0.0.1", "::1"])
    settings = dict(zip(command[5::2], command[6::2], strict=False))
    assert settings["--server.enableXsrfProtection"] == "true"
    assert settings["--server.enableCORS"] == "true"
    assert settings["--server.enableAgentApi"] == "false"
    hosts = [command[i + 1] for i, arg in enumerate(command) if arg == "--server.allowedHosts"]
    assert hosts == ["localhost", "127.0.0.1", "::1"]
    assert "--server.allowedHosts" not in streamlit_command(8501, "0.0.0.0", True, None)  # keyed: the gate
