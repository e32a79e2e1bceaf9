"""Both front ends keep uploads in one layout (ingest/uploads.py), so each recognises the other's files.

The bug this guards: the page saved uploads as ``uploads/<name>`` and the HTTP service as
``uploads/<uuid>/<name>``; each front end only recognised its own layout, so deleting a document the other
had uploaded dropped it from the index but left its saved copy on disk for good.

Real page script (Streamlit AppTest), real service (FastAPI TestClient), real DocQA over one index and
the packaged embedder. No reader model is needed: nothing here asks a question.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from docqa.app.server.app import create_app
from tests.app.service_client import service_client
from tests.conftest import REPO

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

PAGE = str(REPO / "app" / "ui" / "page.py")
TIMEOUT = 240  # seconds for one script run: an ingest loads the embedder
HARBOUR = (
    b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist. "
    b"Its lighthouse keeper, Marta Olsen, lit the lamp every night for thirty years.\n"
)


@pytest.fixture
def index(monkeypatch, tmp_path) -> Path:
    """One index both front ends serve, configured for the page the way ``docqa ui`` does."""
    directory = tmp_path / "index"
    monkeypatch.setenv("DOCQA_INDEX", str(directory))
    monkeypatch.setenv("DOCQA_READER_MODEL", str(tmp_path / "no-such-reader"))
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "docqa-config.json"))
    for name in ("DOCQA_UI_SAMPLES", "DOCQA_EMBEDDING_MODEL", "DOCQA_READER_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return directory


def service(index: Path) -> TestClient:
    from docqa.pipelines.api import DocQA

    return service_client(create_app(DocQA(index), api_key="", warm_up=False))


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def saved_copies(index: Path) -> list[str]:
    """Every file under the index's uploads folder, hidden ones included, relative to it."""
    folder = index / "uploads"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_upload_on_the_page_then_delete_through_the_api_removes_the_saved_copy(index):
    at = run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.sidebar.get("file_uploader")[0].upload("harbour.txt", HARBOUR, "text/plain")
    at.button(key="FormSubmitter:upload-form-Add to index").click()
    run(at)
    assert "**added** `harbour.txt`" in "\n".join(m.value for m in at.sidebar.markdown)
    assert saved_copies(index) == ["harbour.txt"]

    client = service(index)
    listed = client.get("/documents").json()["documents"]
    assert [(d["file_name"], d["uploaded"]) for d in listed] == [("harbour.txt", True)], (
        "the service recognises the page's upload as an upload"
    )
    response = client.delete(f"/documents/{listed[0]['id']}")
    assert response.status_code == 200, response.text
    assert client.get("/documents").json()["documents"] == []
    assert saved_copies(index) == [], "the page's saved copy goes with the document"


def test_upload_through_the_api_then_delete_on_the_page_removes_the_saved_copy(index):
    client = service(index)
    response = client.post("/documents", files=[("files", ("harbour.txt", HARBOUR, "text/plain"))])
    assert response.status_code == 200, response.text
    assert [f["status"] for f in response.json()["files"]] == ["added"]
    assert len(saved_copies(index)) == 1

    at = run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    next(e for e in at.sidebar.expander if e.label == "harbour.txt").button[0].click()
    run(at)
    next(b for b in at.sidebar.button if b.label == "Remove").click()
    run(at)
    assert "Removed harbour.txt" in "\n".join(s.value for s in at.sidebar.success)
    assert client.get("/documents").json()["documents"] == []
    assert saved_copies(index) == [], "the service's saved copy goes with the document"


def test_the_same_file_uploaded_on_both_front_ends_is_one_document(index):
    client = service(index)
    assert client.post("/documents", files=[("files", ("harbour.txt", HARBOUR, "text/plain"))]).is_success

    at = run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    at.sidebar.get("file_uploader")[0].upload("harbour.txt", HARBOUR, "text/plain")
    at.button(key="FormSubmitter:upload-form-Add to index").click()
    run(at)
    assert "**unchanged** `harbour.txt`" in "\n".join(m.value for m in at.sidebar.markdown)
    assert [e.label for e in at.sidebar.expander if e.label != "Search within"] == ["harbour.txt"]
    assert [d["file_name"] for d in client.get("/documents").json()["documents"]] == ["harbour.txt"]
    assert saved_copies(index) == ["harbour.txt"]
