"""The HTTP service in process: every endpoint and error code, API keys, upload safety (a real uvicorn
process: ``test_server_process.py``)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from docqa.app.access import is_loopback
from docqa.app.server.app import create_app
from docqa.app.server.errors import ServeConfigError
from docqa.app.server.limits import MAX_QUESTION_CHARS
from docqa.app.server.running import check_bind, serve
from docqa.pipelines.document_stores.local.index import LocalIndex
from tests.app.service_client import service_client

HARBOUR = (
    b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist. "
    b"Its lighthouse keeper, Marta Olsen, lit the lamp every night for thirty years.\n"
)
FAQ_CSV = (
    b"question,answer\n"
    b"How do I reset my password?,Open Settings > Account > Reset password.\n"
    b"How can I contact customer support?,Email support@example.com.\n"
)


def docqa(index: Path, reader: Path | str):
    from docqa.pipelines.api import DocQA

    return DocQA(index, reader_model=str(reader))


def missing_reader(tmp_path: Path) -> Path:
    return tmp_path / "no-such-reader"


def index_state(index: Path) -> tuple[str | None, list[str]]:
    """What a client could observe of an index: the live snapshot and the uploaded files kept."""
    current = LocalIndex(index).current_name()
    uploads = sorted(str(p.relative_to(index)) for p in (index / "uploads").rglob("*"))
    return current, uploads


@pytest.fixture
def empty_client(tmp_path):
    """A service over a fresh, empty index; no reader model (uploads, FAQ, errors need none)."""
    app = create_app(docqa(tmp_path / "index", missing_reader(tmp_path)), api_key="", warm_up=False,
                     lock_timeout=0.3)
    return service_client(app), tmp_path / "index"


@pytest.fixture(scope="module")
def sample_client(sample_index, test_reader_dir):
    """The bundled samples with the test reader: read-only requests only (the index is shared)."""
    return service_client(create_app(docqa(sample_index, test_reader_dir), api_key="", warm_up=False))


def upload(client: TestClient, *files: tuple[str, bytes], **kwargs) -> httpx.Response:
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    return client.post("/documents", files=parts, **kwargs)


# ---------------------------------------------------------------- health, docs, readiness


def test_health_and_openapi_docs(empty_client):
    client, _ = empty_client
    assert client.get("/health").json() == {"status": "ok"}
    assert "swagger" in client.get("/docs").text.lower()
    paths = client.get("/openapi.json").json()["paths"]
    routes = {"/ready", "/ask", "/search", "/documents", "/documents/{doc_id}", "/faq", "/feedback",
              "/models", "/models/improve", "/models/use", "/jobs/{job_id}"}
    assert set(paths) == {"/health", "/collections", "/collections/{name}", "/keys", "/keys/{name}", *routes,
                          *(f"/collections/{{collection}}{route}" for route in routes)}
    assert set(paths["/documents"]) == {"get", "post"} and set(paths["/faq"]) == {"get", "post"}


def wait_ready(client: TestClient, timeout: float = 120.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/ready")
        body = response.json()
        if "loading" not in (body["embedder"], body["reader"]) and "not loaded" not in (
            body["embedder"], body["reader"]
        ) or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_ready_reports_a_missing_reader_with_the_how_to(tmp_path):
    app = create_app(docqa(tmp_path / "index", missing_reader(tmp_path)), api_key="")
    with service_client(app) as client:  # runs the start-up warm-up
        response = wait_ready(client)
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["embedder"] == "ready" and body["reader"] == "unavailable"
    assert "DOCQA_READER_MODEL" in body["errors"]["reader"]


def test_ready_once_models_are_loaded(tmp_path, test_reader_dir):
    app = create_app(docqa(tmp_path / "index", test_reader_dir), api_key="")
    with service_client(app) as client:
        response = wait_ready(client)
    assert response.status_code == 200, response.json()
    assert response.json()["ready"] is True


# ---------------------------------------------------------------- asking and searching


def test_ask_answers_from_the_documents_with_sources(sample_client):
    question = "Who agreed to swear fealty to King Charles III of West Francia?"
    response = sample_client.post("/ask", json={"question": question})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["no_answer"] is False and body["faq"] is None
    best = body["answers"][0]
    assert "Rollo" in best["text"]
    source = best["sources"][0]
    assert source["file"].endswith("normans.txt") and source["page"] == 1
    assert best["text"] in source["passage"][source["passage_start"] : source["passage_end"] + 1]
    assert {"retrieval", "reading", "total"} <= set(body["timings_ms"])
    assert 1 <= len(body["answers"]) <= 3


def test_search_returns_passages_in_every_mode(sample_client):
    for mode in ("hybrid", "dense", "bm25"):
        response = sample_client.post("/search", json={"query": "Newcomen atmospheric engine", "top_k": 2,
                                                       "mode": mode})
        assert response.status_code == 200, response.text
        passages = response.json()["passages"]
        assert len(passages) == 2
        assert passages[0]["file"].endswith("steam_engine.md")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/ask", {"question": ""}),
        ("/ask", {"question": "   \n\t"}),
        ("/ask", {"question": "x" * (MAX_QUESTION_CHARS + 1)}),
        ("/ask", {"question": "Why?", "top_k": 0}),
        ("/ask", {"question": "Why?", "top_k": -3}),
        ("/ask", {"question": "Why?", "max_answers": 0}),
        ("/ask", {"question": "Why?", "top_k": "five"}),
        ("/ask", {"question": "Why?", "topk": 5}),  # a typo is an error, not silently ignored
        ("/ask", {}),
        ("/ask", ["Why?"]),
        ("/search", {"query": ""}),
        ("/search", {"query": "steam", "mode": "magic"}),
        ("/search", {"query": "steam", "top_k": 0}),
    ],
)
def test_invalid_fields_get_422_naming_the_field(empty_client, path, body):
    client, _ = empty_client
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_malformed_json_gets_422(empty_client):
    client, _ = empty_client
    for raw in (b'{"question": ', b"\xff\xfe not utf-8 {"):
        response = client.post("/ask", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, response.text


def test_reader_unavailable_is_503_with_the_message_and_search_still_works(sample_index, tmp_path):
    app = create_app(docqa(sample_index, missing_reader(tmp_path)), api_key="", warm_up=False)
    client = service_client(app)
    response = client.post("/ask", json={"question": "Who founded the Duchy of Normandy?"})
    assert response.status_code == 503
    body = response.json()
    assert "is not available" in body["detail"] and "DOCQA_READER_MODEL" in body["detail"]
    assert body["passages"] and body["passages"][0]["file"].endswith("normans.txt")
    search = client.post("/search", json={"query": "Who founded the Duchy of Normandy?"})
    assert search.status_code == 200 and search.json()["passages"]


def test_oversized_json_body_is_413(empty_client):
    client, _ = empty_client
    response = client.post("/ask", content=b'{"question": "' + b"x" * (2 * 1024 * 1024) + b'"}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413


# ---------------------------------------------------------------- documents


def test_upload_then_ask_then_delete(tmp_path, test_reader_dir):
    index = tmp_path / "index"
    client = service_client(create_app(docqa(index, test_reader_dir), api_key="", warm_up=False))
    notes = b"# Notes\n\nThe ferry leaves at nine.\n"
    response = upload(client, ("harbour.txt", HARBOUR), ("notes.md", notes))
    assert response.status_code == 200, response.text
    files = response.json()["files"]
    assert [(f["stored_as"], f["status"]) for f in files] == [("harbour.txt", "added"), ("notes.md", "added")]
    assert files[0]["passages"] >= 1

    listed = client.get("/documents").json()["documents"]
    assert sorted(d["file_name"] for d in listed) == ["harbour.txt", "notes.md"]
    assert all(d["uploaded"] for d in listed)
    harbour = next(d for d in listed if d["file_name"] == "harbour.txt")
    assert harbour["id"] == files[0]["document_id"]

    answer = client.post("/ask", json={"question": "Who was the lighthouse keeper of Brightwater?"}).json()
    assert "Marta Olsen" in answer["answers"][0]["text"]
    assert answer["answers"][0]["sources"][0]["file"].endswith("harbour.txt")

    stored = index / "uploads" / "harbour.txt"
    assert stored.read_bytes() == HARBOUR
    deleted = client.delete(f"/documents/{harbour['id']}")
    assert deleted.status_code == 200
    assert [d["file_name"] for d in deleted.json()["deleted"]] == ["harbour.txt"]
    assert [d["file_name"] for d in client.get("/documents").json()["documents"]] == ["notes.md"]
    assert sorted(p.name for p in (index / "uploads").iterdir()) == ["notes.md"]  # the saved copy is gone
    passages = client.post("/search", json={"query": "lighthouse keeper Marta Olsen"}).json()["passages"]
    assert all(not p["file"].endswith("harbour.txt") for p in passages)
    assert client.delete(f"/documents/{harbour['id']}").status_code == 404


def test_reuploading_a_name_replaces_the_earlier_upload(empty_client):
    client, index = empty_client
    first = upload(client, ("harbour.txt", HARBOUR)).json()["files"][0]
    same = upload(client, ("harbour.txt", HARBOUR)).json()["files"][0]
    assert same["status"] == "unchanged" and same["document_id"] == first["document_id"]
    new_text = HARBOUR.replace(b"Marta Olsen", b"Nils Holm")
    changed = upload(client, ("harbour.txt", new_text)).json()["files"][0]
    assert changed["status"] == "updated"
    listed = client.get("/documents").json()["documents"]
    assert [d["id"] for d in listed] == [changed["document_id"]]
    found = client.post("/search", json={"query": "lighthouse keeper", "mode": "bm25"}).json()["passages"]
    assert "Nils Holm" in found[0]["content"]
    # One document, one file on disk: the new bytes.
    assert [p.name for p in (index / "uploads").iterdir()] == ["harbour.txt"]
    assert (index / "uploads" / "harbour.txt").read_bytes() == new_text


def test_uploaded_pdf_lists_its_tables(empty_client, tmp_path):
    """Issue 23: GET /documents says how many tables a document had (each row is indexed with its headers)."""
    from tests.ingest.layout_pdfs import table_pages

    client, _ = empty_client
    rows = [["Model", "Price"], ["X200", "EUR 1,299"], ["X300", "EUR 1,599"]]
    pdf = table_pages(tmp_path / "prices.pdf", [("Prices", rows)], intro="One price list.")
    assert upload(client, ("prices.pdf", pdf.read_bytes())).json()["files"][0]["status"] == "added"
    [listed] = client.get("/documents").json()["documents"]
    assert listed["tables"] == 1


def test_reuploading_identical_bytes_changes_nothing(empty_client):
    client, index = empty_client
    upload(client, ("harbour.txt", HARBOUR))
    before = index_state(index)
    mtime = (index / "uploads" / "harbour.txt").stat().st_mtime_ns
    assert upload(client, ("harbour.txt", HARBOUR)).json()["files"][0]["status"] == "unchanged"
    assert index_state(index) == before and (index / "uploads" / "harbour.txt").stat().st_mtime_ns == mtime


def test_an_upload_saved_by_the_page_is_the_same_upload_for_the_service(empty_client):
    """The page stores uploads through docqa.ingest.uploads too: the service lists, replaces and deletes
    them."""
    from docqa.ingest import uploads

    client, index = empty_client
    qa = client.app.state.docqa
    with uploads.upload_lock(index):
        staged = uploads.stage_uploads(index, [("harbour.txt", HARBOUR)])
        uploads.settle_uploads(staged, qa.ingest([s.path for s in staged]))
    [listed] = client.get("/documents").json()["documents"]
    assert listed["uploaded"] is True and listed["file"] == "harbour.txt"

    revised = HARBOUR.replace(b"Marta Olsen", b"Nils Holm")
    changed = upload(client, ("harbour.txt", revised)).json()["files"][0]
    assert changed["status"] == "updated" and changed["document_id"] == listed["id"]
    assert len(client.get("/documents").json()["documents"]) == 1
    assert [p.name for p in (index / "uploads").iterdir()] == ["harbour.txt"]

    assert client.delete(f"/documents/{listed['id']}").status_code == 200
    assert list((index / "uploads").iterdir()) == []


def test_an_upload_of_the_older_layout_is_replaced_and_its_folder_removed(empty_client):
    """Services before the one upload module kept uploads in uploads/<random id>/<name>."""
    client, index = empty_client
    older = index / "uploads" / ("5f" * 16) / "harbour.txt"
    older.parent.mkdir(parents=True)
    older.write_bytes(HARBOUR)
    assert client.app.state.docqa.ingest([older]).ok
    assert client.get("/documents").json()["documents"][0]["uploaded"] is True

    revised = HARBOUR.replace(b"Marta Olsen", b"Nils Holm")
    changed = upload(client, ("harbour.txt", revised)).json()["files"][0]
    assert changed["status"] == "updated"
    assert [d["id"] for d in client.get("/documents").json()["documents"]] == [changed["document_id"]]
    assert [p.name for p in (index / "uploads").iterdir()] == ["harbour.txt"]


def test_unknown_document_id_is_404(empty_client):
    client, _ = empty_client
    response = client.delete("/documents/0123456789abcdef")
    assert response.status_code == 404 and "GET /documents" in response.json()["detail"]


@pytest.mark.parametrize(
    ("files", "status", "reason"),
    [
        ([("good.txt", HARBOUR), ("broken.pdf", b"%PDF-1.7\nthis is not really a pdf\n%%EOF\n")], 400,
         "corrupt PDF"),
        ([("good.txt", HARBOUR), ("empty.txt", b"")], 400, "empty file"),
        ([("good.txt", HARBOUR), ("binary.txt", bytes(range(256)) * 4)], 400, "binary data"),
        ([("good.txt", HARBOUR), ("slides.pptx", b"PK\x03\x04")], 415, "unsupported file type '.pptx'"),
        ([("no-extension", HARBOUR)], 415, "unsupported file type"),
    ],
)
def test_a_failed_upload_never_changes_the_index(empty_client, files, status, reason):
    client, index = empty_client
    assert upload(client, ("existing.txt", b"An earlier document about tides.\n")).status_code == 200
    before = index_state(index)
    response = upload(client, *files)
    assert response.status_code == status, response.text
    assert reason in json.dumps(response.json())
    assert "Nothing was indexed" in response.json()["detail"]
    assert index_state(index) == before
    assert [d["file_name"] for d in client.get("/documents").json()["documents"]] == ["existing.txt"]


def test_upload_over_the_limit_is_413_whether_or_not_the_length_is_announced(tmp_path):
    index = tmp_path / "index"
    client = service_client(create_app(docqa(index, missing_reader(tmp_path)), api_key="",
                                       max_upload_bytes=1000, warm_up=False))
    big = b"The tide comes in twice a day.\n" * 200  # 6 kB: over the limit, well beyond multipart overhead
    assert upload(client, ("big.txt", big)).status_code == 413
    # The limit is per request, all files together.
    assert upload(client, ("a.txt", b"x" * 600), ("b.txt", b"y" * 600)).status_code == 413

    boundary = "docqa-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + big * 20 + f"\r\n--{boundary}--\r\n".encode()

    def chunks():  # no Content-Length: the server must count while reading
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = client.post("/documents", content=chunks(),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert index_state(index) == (None, [])


def raw_multipart(filename: bytes, data: bytes, boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    body = (
        b"--" + boundary.encode() + b"\r\n"
        b'Content-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n--" + boundary.encode() + b"--\r\n"
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    "filename",
    [
        b"../../outside.txt",
        b"/tmp/docqa-outside-NAME.txt",
        b"..\\..\\outside.txt",
        b"out\x00side/../../x.txt",
    ],
)
def test_traversal_names_stay_inside_the_index_uploads(tmp_path, filename):
    index = tmp_path / "deep" / "index"
    client = service_client(create_app(docqa(index, missing_reader(tmp_path)), api_key="", warm_up=False))
    filename = filename.replace(b"NAME", uuid.uuid4().hex.encode())
    body, headers = raw_multipart(filename, HARBOUR)
    response = client.post("/documents", content=body, headers=headers)
    assert response.status_code == 200, response.text
    stored_as = response.json()["files"][0]["stored_as"]
    assert "/" not in stored_as and "\\" not in stored_as and "\x00" not in stored_as
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == HARBOUR]
    assert len(written) == 1
    assert written[0].parent == index / "uploads"
    assert written[0].name == stored_as
    if filename.startswith(b"/tmp/"):
        assert not Path(filename.decode()).exists()
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "deep" / "outside.txt").exists()


def test_a_nameless_or_passwd_upload_is_refused_without_writing(empty_client):
    client, index = empty_client
    body, headers = raw_multipart(b"../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n")
    response = client.post("/documents", content=body, headers=headers)
    assert response.status_code == 415
    assert index_state(index) == (None, [])


def test_writes_wait_for_another_writer_and_queries_keep_working(empty_client):
    client, index = empty_client
    assert upload(client, ("harbour.txt", HARBOUR)).status_code == 200
    doc_id = client.get("/documents").json()["documents"][0]["id"]
    before = index_state(index)
    with LocalIndex(index).writer():  # e.g. `docqa ingest` running in another process
        for response in (
            upload(client, ("tides.txt", b"High tide is at noon.\n")),
            client.post("/faq", files={"file": ("faq.csv", FAQ_CSV, "text/csv")}),
            client.delete(f"/documents/{doc_id}"),
        ):
            assert response.status_code == 423, response.text
            assert "being written by another DocQA process" in response.json()["detail"]
        search = client.post("/search", json={"query": "lighthouse keeper"})
        assert search.status_code == 200 and search.json()["passages"]
        assert client.get("/documents").status_code == 200
    assert index_state(index) == before
    assert upload(client, ("tides.txt", b"High tide is at noon.\n")).status_code == 200


@pytest.mark.slow
def test_questions_are_read_at_most_n_at_a_time_while_searches_go_on(sample_index, tmp_path):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from docqa.pipelines.api import DocQA

    # The document step of a question: DocQA.ask_documents where DocQA.ask also matches the FAQ.
    step = "ask_documents" if hasattr(DocQA, "ask_documents") else "ask"

    class CountingDocQA(DocQA):
        """The real DocQA, with its document step made slow and its concurrency recorded."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.lock, self.running, self.most = threading.Lock(), 0, 0

    def counted(self, *args, **kwargs):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(1.0)
            return getattr(DocQA, step)(self, *args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1

    setattr(CountingDocQA, step, counted)

    qa = CountingDocQA(sample_index, reader_model=str(missing_reader(tmp_path)))
    app = create_app(qa, api_key="", warm_up=False, max_concurrent_asks=2)
    with service_client(app) as client, ThreadPoolExecutor(8) as pool:
        asks = [pool.submit(client.post, "/ask", json={"question": f"Who founded Normandy, take {n}?"})
                for n in range(6)]
        time.sleep(0.2)
        started = time.monotonic()
        search = client.post("/search", json={"query": "Rollo"})
        search_seconds = time.monotonic() - started
        statuses = [f.result().status_code for f in asks]
    assert statuses == [503] * 6  # no reader here: every question was still retrieved and answered
    assert qa.most == 2
    # Queued behind the questions it would take 3 rounds of 1 s; it does not wait for them.
    assert search.status_code == 200 and search_seconds < 2.0


# ---------------------------------------------------------------- FAQ


def test_faq_upload_then_ask_gets_the_curated_answer(empty_client):
    client, _ = empty_client
    response = client.post("/faq", files={"file": ("support.csv", FAQ_CSV, "text/csv")})
    assert response.status_code == 200, response.text
    assert response.json()["counts"] == {"added": 2, "changed": 0, "removed": 0, "unchanged": 0}
    assert [e["question"] for e in client.get("/faq").json()["entries"]] == [
        "How do I reset my password?", "How can I contact customer support?"
    ]
    body = client.post("/ask", json={"question": "I forgot my password, how can I get a new one?"}).json()
    assert body["faq"]["matched"] is True and body["faq"]["question"] == "How do I reset my password?"
    assert body["answers"][0]["text"] == "Open Settings > Account > Reset password."
    assert body["answers"][0]["faq"]["question"] == "How do I reset my password?"
    # Re-loading replaces, with a report of what changed.
    revised = FAQ_CSV.replace(b"Email support@example.com.", b"Call 555-0100.") + b"Is DocQA free?,Yes.\n"
    again = client.post("/faq", files={"file": ("support.csv", revised, "text/csv")}).json()
    assert again["counts"] == {"added": 1, "changed": 1, "removed": 0, "unchanged": 1}


def test_faq_errors(tmp_path):
    client = service_client(create_app(docqa(tmp_path / "index", missing_reader(tmp_path)), api_key="",
                                   max_upload_bytes=2000, warm_up=False))
    bad = client.post("/faq", files={"file": ("faq.csv", b"question,answer\nA question?,\n", "text/csv")})
    assert bad.status_code == 400
    assert bad.json()["errors"] == ["row 2: field 'answer' is empty"]
    assert "faq.csv" in bad.json()["detail"]
    wrong_type = client.post("/faq", files={"file": ("faq.txt", FAQ_CSV, "text/plain")})
    assert wrong_type.status_code == 415 and ".csv" in wrong_type.json()["detail"]
    too_big = client.post("/faq", files={"file": ("faq.csv", FAQ_CSV * 40, "text/csv")})
    assert too_big.status_code == 413
    assert client.get("/faq").json() == {"entries": []}
    assert not (tmp_path / "index" / "faq.json").exists()


# ---------------------------------------------------------------- API key and binding


def test_api_key_is_required_on_everything_but_health(tmp_path):
    client = service_client(create_app(docqa(tmp_path / "index", missing_reader(tmp_path)), api_key="s3cret",
                                   warm_up=False))
    requests = [
        ("GET", "/documents", {}),
        ("POST", "/search", {"json": {"query": "tides"}}),
        ("POST", "/ask", {"json": {"question": "When is high tide?"}}),
        ("GET", "/faq", {}),
        ("GET", "/ready", {}),
        ("DELETE", "/documents/0123456789abcdef", {}),
    ]
    for method, path, kwargs in requests:
        for headers in ({}, {"X-API-Key": "wrong"}):
            response = client.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 401, (method, path, response.text)
            assert "X-API-Key" in response.json()["detail"]
    assert upload(client, ("harbour.txt", HARBOUR)).status_code == 401
    assert not (tmp_path / "index" / "uploads").exists()
    ok = {"X-API-Key": "s3cret"}
    assert client.get("/documents", headers=ok).status_code == 200
    assert client.post("/search", json={"query": "tides"}, headers=ok).status_code == 200
    assert client.get("/health").status_code == 200
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_api_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCQA_API_KEY", "from-env")
    client = service_client(create_app(docqa(tmp_path / "index", missing_reader(tmp_path)), warm_up=False))
    assert client.get("/documents").status_code == 401
    assert client.get("/documents", headers={"X-API-Key": "from-env"}).status_code == 200


def test_binding_beyond_loopback_needs_a_key(monkeypatch):
    monkeypatch.delenv("DOCQA_API_KEY", raising=False)
    for host in ("127.0.0.1", "127.0.0.53", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.org"):
        assert not is_loopback(host)
        refusal = "Refusing to listen on .* without an API key.*DOCQA_API_KEY"
        with pytest.raises(ServeConfigError, match=refusal):
            check_bind(host, None)
        check_bind(host, "a-key")
    with pytest.raises(ServeConfigError, match="without an API key"):
        serve("0.0.0.0", 0)  # refuses before loading anything or opening a socket


def test_a_port_in_use_is_one_line_before_anything_loads(monkeypatch, tmp_path):
    import socket

    monkeypatch.delenv("DOCQA_API_KEY", raising=False)
    monkeypatch.setattr("docqa.pipelines.api.DocQA", lambda *a, **k: pytest.fail("nothing may load"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        in_use = rf"^127.0.0.1:{busy} is already in use; choose another port with --port \(0: any free one\)$"
        with pytest.raises(ServeConfigError, match=in_use):
            serve("127.0.0.1", busy, tmp_path / "index")
