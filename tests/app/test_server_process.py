"""The HTTP service as people start it: ``python -m docqa.app.server`` in a fresh interpreter, its exit
code for a refused bind, and a real uvicorn process on a free port (``--port 0``) answering uploads and
questions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.app.service_process import stop, wait_until_ready

REPO = Path(__file__).resolve().parents[2]
HARBOUR = (
    b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist. "
    b"Its lighthouse keeper, Marta Olsen, lit the lamp every night for thirty years.\n"
)


@pytest.mark.slow  # a fresh interpreter (~3 s); test_server.py's in-process refusal stays in the fast loop
def test_command_line_refuses_public_bind_without_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DOCQA_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "docqa.app.server", "--host", "0.0.0.0", "--index", str(tmp_path / "index")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without an API key" in done.stdout + done.stderr


# ---------------------------------------------------------------- a real uvicorn process


@pytest.fixture
def live_server(tmp_path, test_reader_dir):
    """``python -m docqa.app.server --port 0``: the service takes a free port and prints its URL once ready
    (a port picked here and handed over could be taken by another process in between)."""
    env = {k: v for k, v in os.environ.items() if k != "DOCQA_API_KEY"}
    env["DOCQA_API_KEY"] = "live-key"
    log_path = tmp_path / "server.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below, after the process ends
    process = subprocess.Popen(
        [sys.executable, "-m", "docqa.app.server", "--host", "127.0.0.1", "--port", "0",
         "--index", str(tmp_path / "index"), "--reader", str(test_reader_dir), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        base = wait_until_ready(process, log_path, 120)
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0"), base
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        yield base, tmp_path / "index"
    finally:
        stop(process)
        log.close()


@pytest.mark.slow  # a real uvicorn process loads the models
def test_real_server_upload_then_ask(live_server):
    base, index = live_server
    headers = {"X-API-Key": "live-key"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        assert httpx.get(f"{base}/documents", timeout=10).status_code == 401
        response = client.post("/documents", files=[("files", ("harbour.txt", HARBOUR, "text/plain"))])
        assert response.status_code == 200, response.text
        assert response.json()["files"][0]["status"] == "added"
        answer = client.post("/ask", json={"question": "Who built the harbour of Brightwater?"})
        assert answer.status_code == 200, answer.text
        assert "Lindqvist" in answer.json()["answers"][0]["text"]
        # Concurrent searches are all served while sharing the loaded models.
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(
                lambda q: client.post("/search", json={"query": q}).status_code,
                ["lighthouse", "harbour", "engineer", "lamp", "keeper", "1852"],
            ))
        assert results == [200] * 6
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
    assert (index / "uploads" / "harbour.txt").read_bytes() == HARBOUR

