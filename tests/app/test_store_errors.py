"""A Milvus store that cannot be reached is one clear line everywhere: the CLI's error line, the page's
banner, the service's 503 — never a traceback. (Port 9 on loopback: nothing listens, no network needed.)"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa.app.cli import app
from docqa.app.server.app import create_app
from docqa.ingest.records import SourceFile, utc_now
from tests.app.service_client import service_client
from tests.app.test_ui import PAGE, TIMEOUT, AppTest

pytest.importorskip("milvus_lite")

DOWN = "milvus://127.0.0.1:9"
runner = CliRunner()


def test_cli_prints_one_error_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCQA_STORE", "local")  # restored after the test: --store writes the environment
    result = runner.invoke(app, ["--store", DOWN, "search", "steam", "--index", str(tmp_path / "i")])
    assert result.exit_code == 2
    output = result.output.strip()
    assert output.startswith(f"error: Cannot reach Milvus at {DOWN}")
    assert "Traceback" not in output and len(output.splitlines()) <= 2


def test_cli_refuses_a_bad_store_address(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCQA_STORE", "local")
    result = runner.invoke(
        app, ["--store", "milvus-lite:///tmp/no-suffix", "documents", "--index", str(tmp_path)]
    )
    assert result.exit_code == 2 and "names a .db file" in result.output


def test_service_answers_503_with_the_reason(tmp_path: Path) -> None:
    from docqa.pipelines.api import DocQA

    client = service_client(create_app(DocQA(tmp_path / "index", store=DOWN), api_key="", warm_up=False))
    response = client.post("/search", json={"query": "steam engine"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"Cannot reach Milvus at {DOWN}")


def test_page_shows_a_banner(monkeypatch, tmp_path: Path) -> None:
    from docqa.pipelines.api import DocQA

    index = tmp_path / "index"
    qa = DocQA(index, store=DOWN)
    # A manifest that lists one document, as the host that ingested it would have: the page then needs
    # the (unreachable) server.
    entry = SourceFile("/docs/a.txt", "a.txt", "a", "text", "0", 1, 1, [1], ["p1"], utc_now())
    manifest = {
        "format": 1,
        "embedding_model": qa.settings.embedding_model,
        "dim": 384,
        "generation": 1,
        "files": {entry.key: asdict(entry)},
        "pending": [],
    }
    index.mkdir(parents=True)
    qa.index.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setenv("DOCQA_INDEX", str(index))
    monkeypatch.setenv("DOCQA_STORE", DOWN)
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "config.json"))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("DocQA cannot open this index" in e and "Cannot reach Milvus" in e for e in errors), errors


def test_migrate_then_list_documents_on_milvus(monkeypatch, tmp_path: Path) -> None:
    """`docqa migrate --to milvus-lite://...` copies a local index; `docqa --store ... documents` lists it."""
    from docqa.pipelines.document_stores.factory import open_store
    from tests.pipelines.document_stores.test_store_contract import MODEL, ingest, write_docs

    monkeypatch.setenv("DOCQA_STORE", "local")
    write_docs(tmp_path / "docs")
    ingest(open_store("local", tmp_path / "index", MODEL), tmp_path / "docs")
    target = f"milvus-lite://{tmp_path / 'm.db'}"
    result = runner.invoke(app, ["migrate", "--to", target, "--index", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    assert "Copied 3 documents" in result.output and "test-model" in result.output
    listed = runner.invoke(
        app, ["--store", target, "documents", "--index", str(tmp_path / "index"), "--json"]
    )
    assert listed.exit_code == 0, listed.output
    assert sorted(Path(d["file"]).name for d in json.loads(listed.output)) == [
        "harbour.txt",
        "lighthouse.txt",
        "orchard.txt",
    ]
