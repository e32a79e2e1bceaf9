"""Filters over HTTP: /search and /ask take Haystack's filter syntax in ``filters``, say how many
documents they searched, and refuse an unknown field or a wrongly typed value with a 422 naming it;
/documents shows each document's metadata and tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.app.server.app import create_app
from docqa.pipelines.api import DocQA
from tests.app.service_client import service_client

PDF = {"field": "meta.file_type", "operator": "==", "value": "pdf"}


@pytest.fixture(scope="module")
def client(sample_index: Path, tmp_path_factory):
    """The samples; no reader model (a filtered /ask still returns its passages with the 503)."""
    missing = tmp_path_factory.mktemp("no-reader") / "none"
    app = create_app(DocQA(sample_index, reader_model=str(missing)), api_key="", warm_up=False)
    return service_client(app)


def test_search_with_filters_returns_only_matching_documents_and_the_scope(client) -> None:
    for mode in ("hybrid", "dense", "bm25"):
        body = {"query": "Newcomen atmospheric engine", "top_k": 3, "mode": mode, "filters": PDF}
        response = client.post("/search", json=body)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["passages"] and all(p["file"].endswith("packet_switching.pdf") for p in data["passages"])
        assert data["scope"] == {"documents": 1, "of": 3}
    unfiltered = client.post("/search", json={"query": "Newcomen atmospheric engine"}).json()
    assert unfiltered["passages"][0]["file"].endswith("steam_engine.md") and unfiltered["scope"] is None


def test_ask_with_filters_reads_only_matching_documents(client) -> None:
    # NOT (at the top folder AND a PDF): everything but the PDF; the question is about packet switching
    nested = {"operator": "NOT", "conditions": [{"field": "meta.folder", "operator": "==", "value": ""}, PDF]}
    question = "Who developed the concept of packet switching?"
    assert client.post("/search", json={"query": question}).json()["passages"][0]["file"].endswith(".pdf")
    response = client.post("/ask", json={"question": question, "filters": nested})
    assert response.status_code == 503  # no reader here: the passages still come back
    files = {Path(p["file"]).name for p in response.json()["passages"]}
    assert files and "packet_switching.pdf" not in files
    assert response.json()["scope"] == {"documents": 2, "of": 3}


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"field": "meta.department", "operator": "==", "value": "x"}, "department"),
        ({"field": "meta.page_count", "operator": ">", "value": "many"}, "page_count"),
        ({"field": "meta.file_type", "operator": "like", "value": "pdf"}, "like"),
    ],
)
@pytest.mark.parametrize("path", ["/search", "/ask"])
def test_a_bad_filter_is_a_422_naming_the_field(client, path: str, filters: dict, named: str) -> None:
    key = "query" if path == "/search" else "question"
    response = client.post(path, json={key: "steam engine", "filters": filters})
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert detail["loc"] == ["body", "filters"] and named in detail["msg"]


def test_documents_list_metadata(client) -> None:
    docs = {d["file_name"]: d for d in client.get("/documents").json()["documents"]}
    pdf = docs["packet_switching.pdf"]
    assert (pdf["file_type"], pdf["folder"], pdf["tags"]) == ("pdf", "", {})
    assert pdf["size"] > 0 and pdf["modified"].endswith("+00:00")


def test_uploads_carry_tags_and_a_new_upload_retags_without_re_embedding(tmp_path: Path) -> None:
    missing = tmp_path / "no-reader"
    client = service_client(create_app(DocQA(tmp_path / "index", reader_model=str(missing)), api_key="",
                                       warm_up=False))  # fmt: skip
    text = b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist.\n"

    def upload(*tags: str):
        return client.post("/documents", files=[("files", ("harbour.txt", text, "text/plain"))],
                           data={"tags": list(tags)})  # fmt: skip

    assert upload("team=ops", "year=2023").status_code == 200
    (doc,) = client.get("/documents").json()["documents"]
    assert doc["tags"] == {"team": "ops", "year": 2023}
    again = upload("team=legal")
    assert again.status_code == 200 and again.json()["files"][0]["status"] == "unchanged"
    (doc,) = client.get("/documents").json()["documents"]
    assert doc["tags"] == {"team": "legal"}
    legal = {"field": "meta.team", "operator": "==", "value": "legal"}
    found = client.post("/search", json={"query": "harbour", "mode": "bm25", "filters": legal}).json()
    assert [Path(p["file"]).name for p in found["passages"]] == ["harbour.txt"]
    bad = upload("title=x")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "tags"]
