"""A busy index answers 423 with Retry-After at once, and a client that hangs up stops its upload.

Before: a second upload waited on a lock with no timeout for as long as the first one ingested (an hour
for a 50 MB text), and an upload whose client had gone kept embedding to the end, holding the writer.
"""

from __future__ import annotations

import http.client
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from docqa.app.server.app import create_app
from docqa.ingest import uploads
from docqa.pipelines.document_stores.local.index import LocalIndex
from tests.app.service_client import REQUESTED_WITH, service_client

HARBOUR = b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist.\n"


def docqa(index: Path, tmp_path: Path):
    from docqa.pipelines.api import DocQA

    return DocQA(index, reader_model=str(tmp_path / "no-reader"))


@pytest.fixture
def busy_client(tmp_path: Path) -> tuple[TestClient, Path]:
    index = tmp_path / "index"
    app = create_app(docqa(index, tmp_path), api_key="", warm_up=False, lock_timeout=0.5)
    return service_client(app), index


def uploaded_files(index: Path) -> list[str]:
    folder = index / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_an_upload_while_another_upload_is_being_added_gets_423_with_retry_after(busy_client) -> None:
    client, index = busy_client
    with uploads.upload_lock(index):  # another batch, in this process or another, is being added
        started = time.monotonic()
        response = client.post("/documents", files=[("files", ("harbour.txt", HARBOUR, "text/plain"))])
        waited = time.monotonic() - started
    assert response.status_code == 423, response.text
    assert waited < 10, "the service's lock_timeout (0.5 s) bounds the wait: never a hang"
    assert response.headers["Retry-After"] == "10"
    body = response.json()
    assert body["retry_after"] == 10 and "Another upload is being added" in body["detail"]
    assert "try again" in body["detail"] and uploaded_files(index) == []
    assert client.post("/documents", files=[("files", ("harbour.txt", HARBOUR, "text/plain"))]).is_success


def test_an_upload_while_another_process_writes_gets_423_before_its_file_is_saved(busy_client) -> None:
    client, index = busy_client
    with LocalIndex(index).writer():  # e.g. `docqa ingest` in another process
        response = client.post("/documents", files=[("files", ("harbour.txt", HARBOUR, "text/plain"))])
        assert response.status_code == 423 and response.headers["Retry-After"] == "10"
        assert "being written by another DocQA process" in response.json()["detail"]
        assert uploaded_files(index) == [], "refused before anything was staged or parsed"
        assert not (index / uploads.JOURNALS_DIRNAME).exists() or not any(
            (index / uploads.JOURNALS_DIRNAME).iterdir()
        )


# ---------------------------------------------------------------- a client that hangs up


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real uvicorn on a free loopback port (port 0), serving a fresh index with the packaged embedder."""
    index = tmp_path / "index"
    app = create_app(docqa(index, tmp_path), api_key="", warm_up=False, lock_timeout=0.5)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port, index
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def partial_record(index: Path):
    live = LocalIndex(index)
    return next((s for s in live.files().values() if s.partial), None) if live.exists() else None


@pytest.mark.slow
def test_a_client_that_hangs_up_stops_its_upload_and_frees_the_writer(live_server) -> None:
    """A big upload (~700 passages: parts of 32, 64, ...) whose client closes the connection once the
    first part is searchable: the ingest stops within a batch, the writer is free again, the parts
    committed stay as a partial document whose file is kept, and uploading it again finishes it."""
    port, index = live_server
    text = " ".join(f"Sentence marker{i:05d} tells of tides, moons and lighthouses." for i in range(12000))
    body, content_type = multipart("big.txt", text.encode())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": content_type, **REQUESTED_WITH}
    connection.request("POST", "/documents", body=body, headers=headers)
    deadline = time.monotonic() + 300
    while partial_record(index) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial_record(index) is not None, "the first part is committed long before the file is done"
    connection.sock.shutdown(2)  # the client goes away without reading the answer
    connection.close()

    hung_up = time.monotonic()
    while LocalIndex(index).is_locked() and time.monotonic() - hung_up < 120:
        time.sleep(0.1)
    assert not LocalIndex(index).is_locked(), "the writer is freed"
    record = partial_record(index)
    assert record is not None and record.pending_passages > 0, "the ingest stopped before the end"
    time.sleep(1.0)  # the request settles its files after the ingest returns
    assert uploaded_files(index) == ["big.txt"], "the file stays: the index holds part of it"
    assert not any((index / uploads.JOURNALS_DIRNAME).glob("*.json")), "the batch was settled"

    # The same file again: resumed after the committed parts, not embedded twice.
    again = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    again.request("POST", "/documents", body=body, headers={"Content-Type": content_type, **REQUESTED_WITH})
    response = again.getresponse()
    assert response.status == 200, response.read()[:500]
    final = LocalIndex(index).files()[str((index / "uploads" / "big.txt").resolve())]
    assert not final.partial and len(final.passage_ids) == record.total_passages
