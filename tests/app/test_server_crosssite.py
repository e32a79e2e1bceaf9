"""The keyless service refuses what a web page could send on the user's behalf (issue 27, finding 3):
cross-site form posts, writes without a non-simple marker, and requests for another host (DNS rebinding).
Programs on the machine keep working: JSON, or uploads with X-Requested-With; with a key, the key decides.

Through FastAPI's TestClient, and once through a real uvicorn server on port 0 (what a browser reaches).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from docqa.app.server.app import create_app
from docqa.pipelines.document_stores.local.index import LocalIndex

HARBOUR = b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist.\n"
FAQ_CSV = b"question,answer\nHow do I reset my password?,Open Settings > Account > Reset password.\n"
EVIL_FAQ = b"question,answer\nWho owns this index?,evil.example does.\n"
EVIL = "http://evil.example"


def open_docqa(index: Path):
    from docqa.pipelines.api import DocQA

    return DocQA(index, reader_model=str(index.parent / "no-reader"))


def state(qa) -> tuple:
    """What a user could notice of an index: the live snapshot, the documents, the uploads kept, the FAQ."""
    index = qa.index.directory
    uploads = sorted(p.name for p in (index / "uploads").glob("*")) if (index / "uploads").exists() else []
    return (
        LocalIndex(index).current_name(),
        sorted(d.file_name for d in qa.documents()),
        uploads,
        sorted((e.question, e.answer) for e in qa.faq_entries()),
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A keyless service over an index holding one document and one FAQ entry; clients bring no header."""
    root = tmp_path_factory.mktemp("crosssite")
    source = root / "harbour.txt"
    source.write_bytes(HARBOUR)
    qa = open_docqa(root / "index")
    assert qa.ingest([source]).ok
    qa.load_faq(FAQ_CSV, name="faq.csv")
    app = create_app(qa, api_key="", warm_up=False, lock_timeout=0.3)
    return TestClient(app, base_url="http://127.0.0.1:8000"), qa


def form_post(client: TestClient, path: str, kind: str, headers: dict[str, str]) -> httpx.Response:
    """What a page on another site can send with a no-cors fetch or a hidden <form>: no custom header."""
    field = "files" if path == "/documents" else "file"
    name, data = ("notes.txt", HARBOUR) if path == "/documents" else ("faq.csv", EVIL_FAQ)
    if kind == "multipart":
        return client.post(path, files={field: (name, data, "text/plain")}, headers=headers)
    if kind == "urlencoded":
        return client.post(path, data={field: data.decode()}, headers=headers)
    if kind == "text/plain":
        return client.post(path, content=data, headers={**headers, "Content-Type": "text/plain"})
    return client.post(path, content=data, headers=headers)  # a Blob body: no Content-Type at all


KINDS = ["multipart", "urlencoded", "text/plain", "no content type"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/documents", "/faq"])
@pytest.mark.parametrize(
    "origin",
    [
        {"Origin": EVIL},
        {"Origin": "null"},  # a sandboxed frame or a file: page
        {"Referer": f"{EVIL}/cats.html"},  # a browser that sends no Origin still sends the page it is on
        {"Origin": "http://127.0.0.1:9999"},  # another service on this machine is another origin
    ],
    ids=["origin", "null-origin", "referer", "other-local-port"],
)
def test_a_cross_site_form_post_is_403_and_changes_nothing(served, path, kind, origin):
    client, qa = served
    before = state(qa)
    response = form_post(client, path, kind, origin)
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert "Cross-site request refused" in detail and path in detail
    assert "DOCQA_ALLOWED_ORIGINS" in detail
    assert state(qa) == before


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/documents", "/faq"])
def test_a_simple_write_that_names_no_origin_needs_the_header(served, path, kind):
    client, qa = served
    before = state(qa)
    response = form_post(client, path, kind, {})
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert "X-Requested-With" in detail and "X-API-Key" in detail and "application/json" in detail
    assert state(qa) == before


def test_json_writes_from_another_site_are_refused_and_so_is_a_delete(served):
    client, qa = served
    before = state(qa)
    feedback = {"question": "q", "passage_id": "p", "verdict": "not_in_documents"}
    assert client.post("/feedback", json=feedback, headers={"Origin": EVIL}).status_code == 403
    question = {"question": "Who built it?"}
    assert client.post("/ask", json=question, headers={"Origin": EVIL}).status_code == 403
    doc_id = client.get("/documents").json()["documents"][0]["id"]
    assert client.delete(f"/documents/{doc_id}", headers={"Origin": EVIL}).status_code == 403
    assert state(qa) == before
    assert client.get("/feedback").json()["total"] == 0


def test_reading_from_another_site_is_not_refused(served):
    """Reads change nothing and a page cannot read the answer without CORS: no Origin check for GET."""
    client, _ = served
    assert client.get("/documents", headers={"Origin": EVIL}).status_code == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8000", "127.0.0.1.evil.example:8000", "localhost.evil.example", "", "a b"],
)
def test_a_request_for_another_host_is_refused_whatever_the_method(served, host):
    client, qa = served
    before = state(qa)
    headers = {"Host": host, "X-Requested-With": "fetch"}  # the rebinding page is "same-origin": any header
    for response in (
        client.get("/documents", headers=headers),
        client.get("/faq", headers=headers),
        client.post("/search", json={"query": "harbour"}, headers=headers),
        client.post("/faq", files={"file": ("faq.csv", EVIL_FAQ, "text/csv")}, headers=headers),
    ):
        assert response.status_code == 400, response.text
        assert "DOCQA_ALLOWED_HOSTS" in response.json()["detail"]
    assert state(qa) == before
    assert client.get("/health", headers={"Host": host}).json() == {"status": "ok"}  # probes use any name


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "127.0.0.2"])
def test_loopback_names_are_answered(served, host):
    client, _ = served
    assert client.get("/documents", headers={"Host": host}).status_code == 200


def test_programs_keep_working_with_json_or_the_header(tmp_path):
    qa = open_docqa(tmp_path / "index")
    client = TestClient(create_app(qa, api_key="", warm_up=False), base_url="http://127.0.0.1:8000")
    marker = {"X-Requested-With": "curl"}
    files = {"files": ("harbour.txt", HARBOUR, "text/plain")}
    upload = client.post("/documents", files=files, headers=marker)
    assert upload.status_code == 200, upload.text
    assert client.post("/faq", files={"file": ("faq.csv", FAQ_CSV, "text/csv")}, headers=marker).is_success
    # JSON needs no header: a page cannot send application/json to another site without a preflight.
    assert client.post("/search", json={"query": "harbour"}).status_code == 200
    # A page of this service (the OpenAPI page at /docs) sends its own origin: that is not cross-site.
    same = {"Origin": "http://127.0.0.1:8000"}
    assert client.post("/faq", files={"file": ("faq.csv", FAQ_CSV, "text/csv")}, headers=same).is_success
    doc_id = upload.json()["files"][0]["document_id"]
    assert client.delete(f"/documents/{doc_id}").status_code == 200  # never simple: no header needed
    assert qa.documents() == []


def test_allowed_origins_may_write_and_get_cors_headers(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCQA_ALLOWED_ORIGINS", "https://app.example, http://localhost:3000")
    qa = open_docqa(tmp_path / "index")
    app = create_app(qa, api_key="", warm_up=False, allowed_origins=["http://tools.example:8080"])
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    preflight = client.options(
        "/faq",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-requested-with"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    for origin in ("https://app.example", "http://localhost:3000", "http://tools.example:8080"):
        faq = {"file": ("faq.csv", FAQ_CSV, "text/csv")}
        response = client.post("/faq", files=faq, headers={"Origin": origin})
        assert response.status_code == 200, (origin, response.text)
        assert response.headers["access-control-allow-origin"] == origin
    refused = client.post("/faq", files={"file": ("faq.csv", EVIL_FAQ, "text/csv")}, headers={"Origin": EVIL})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    assert [e.question for e in qa.faq_entries()] == ["How do I reset my password?"]


def test_allowed_hosts_come_from_the_flag_the_environment_and_the_bound_address(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCQA_ALLOWED_HOSTS", "docs.example,*.intranet.example")
    app = create_app(open_docqa(tmp_path / "index"), api_key="", warm_up=False, allowed_hosts=["qa.local"],
                     bound_host="10.1.2.3")
    client = TestClient(app)
    for host in ("docs.example", "qa.local:8000", "wiki.intranet.example", "10.1.2.3:8000", "127.0.0.1"):
        assert client.get("/documents", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "intranet.example.evil.example", "10.1.2.4"):
        assert client.get("/documents", headers={"Host": host}).status_code == 400, host
    monkeypatch.setenv("DOCQA_ALLOWED_HOSTS", "*")  # the user's explicit choice: no DNS-rebinding guard
    anyhost = TestClient(create_app(open_docqa(tmp_path / "index"), api_key="", warm_up=False))
    assert anyhost.get("/documents", headers={"Host": "evil.example"}).status_code == 200


def test_with_a_key_the_key_decides(tmp_path):
    qa = open_docqa(tmp_path / "index")
    client = TestClient(create_app(qa, api_key="s3cret", warm_up=False))  # Host: testserver
    faq = {"file": ("faq.csv", FAQ_CSV, "text/csv")}
    # A page cannot know the key: without it, 401 — from any origin, under any name.
    assert client.post("/faq", files=faq, headers={"Origin": EVIL}).status_code == 401
    assert client.get("/documents", headers={"Host": "evil.example"}).status_code == 401
    # With it, the request is the key-holder's own: reached under the machine's own name, from its own app.
    keyed = {"X-API-Key": "s3cret", "Origin": "https://dashboard.example", "Host": "qa-box.lan:8000"}
    assert client.post("/faq", files=faq, headers=keyed).status_code == 200
    assert [e.question for e in qa.faq_entries()] == ["How do I reset my password?"]
    # Hosts configured explicitly are enforced with a key too.
    strict = TestClient(create_app(qa, api_key="s3cret", warm_up=False, allowed_hosts=["qa-box.lan"]))
    key = {"X-API-Key": "s3cret"}
    assert strict.get("/documents", headers={**key, "Host": "evil.example"}).status_code == 400
    assert strict.get("/documents", headers={**key, "Host": "qa-box.lan"}).status_code == 200


# ------------------------------------------------------------------ a real server, as a browser reaches it


@pytest.fixture
def live(tmp_path) -> Iterator[tuple[str, int, object]]:
    """The keyless service in a real uvicorn on 127.0.0.1, port 0 (the OS picks a free one)."""
    import uvicorn

    qa = open_docqa(tmp_path / "index")
    qa.load_faq(FAQ_CSV, name="faq.csv")
    server = uvicorn.Server(uvicorn.Config(create_app(qa, api_key="", warm_up=False), host="127.0.0.1",
                                           port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", port, qa
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_real_server_refuses_the_probes_and_serves_programs(live):
    base, port, qa = live
    before = state(qa)
    # The probe of issue 27: a no-cors multipart post from another origin.
    evil_upload = httpx.post(f"{base}/documents", files={"files": ("x.txt", HARBOUR, "text/plain")},
                             headers={"Origin": EVIL}, timeout=30)
    assert evil_upload.status_code == 403
    evil_faq = httpx.post(f"{base}/faq", files={"file": ("faq.csv", EVIL_FAQ, "text/csv")},
                          headers={"Origin": EVIL}, timeout=30)
    assert evil_faq.status_code == 403
    # DNS rebinding: evil.example resolves to 127.0.0.1, so the browser sends its name.
    rebound = httpx.get(f"{base}/faq", headers={"Host": f"evil.example:{port}"}, timeout=30)
    assert rebound.status_code == 400
    assert state(qa) == before
    # The user's own program still reads and writes.
    assert httpx.get(f"{base}/faq", timeout=30).json()["entries"][0]["answer"].startswith("Open Settings")
    replaced = httpx.post(f"{base}/faq", files={"file": ("faq.csv", EVIL_FAQ, "text/csv")},
                          headers={"X-Requested-With": "httpx"}, timeout=120)
    assert replaced.status_code == 200, replaced.text
    assert [e.question for e in qa.faq_entries()] == ["Who owns this index?"]
