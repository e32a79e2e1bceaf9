"""`docqa reindex` and `docqa ingest` as a user meets them after changing the embedding model: the ingest
refuses in one line that names both models and the command, and stores nothing of the new model; the
command moves one collection or every one (`--all-collections`), after which search runs on the new model
and a second run says there is nothing to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docqa.app.cli import app
from docqa.pipelines.collections import collection_dir
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.model_loading import packaged_embedding_model_dir

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def index(tmp_path: Path, monkeypatch) -> Path:
    """Collections ``default`` and ``hr``, one small file each, embedded with the packaged MiniLM."""
    monkeypatch.setenv("DOCQA_STORE", "local")
    monkeypatch.setenv("DOCQA_EMBEDDING_MODEL", str(packaged_embedding_model_dir()))
    index = tmp_path / "index"
    for name, text in {"rivers.txt": "The Loire is the longest river in France.",
                       "leave.txt": "Employees take twenty-five days of paid leave a year."}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert run("ingest", str(tmp_path / "rivers.txt"), "--index", str(index)).exit_code == 0
    assert run("collections", "create", "hr", "--index", str(index)).exit_code == 0
    assert run("ingest", str(tmp_path / "leave.txt"), "--index", str(index), "-c", "hr").exit_code == 0
    return index


def test_an_ingest_with_another_model_says_reindex_and_stores_nothing(
        index: Path, tmp_path: Path, tiny_sentence_model_dir: Path) -> None:
    (tmp_path / "more.txt").write_text("Mont Blanc is the highest mountain of the Alps.", encoding="utf-8")
    refused = run("ingest", str(tmp_path / "more.txt"), "--index", str(index),
                  "--embedding-model", str(tiny_sentence_model_dir))
    assert refused.exit_code != 0
    message = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "docqa reindex" in message[0]
    assert str(packaged_embedding_model_dir()) in message[0] and str(tiny_sentence_model_dir) in message[0]
    built = LocalIndex(collection_dir(index, "default")).meta()["embedding_model"]
    assert built == str(packaged_embedding_model_dir())
    listed = json.loads(run("documents", "--index", str(index), "--json").stdout)
    assert [Path(d["file"]).name for d in listed] == ["rivers.txt"]  # nothing of the new model went in


def test_reindex_every_collection_then_search_on_the_new_model(
        index: Path, tiny_sentence_model_dir: Path) -> None:
    tiny = str(tiny_sentence_model_dir)
    both = run("reindex", "--index", str(index), "-c", "hr", "--all-collections")
    assert both.exit_code == 2 and "--all-collections" in both.output

    moved = run("reindex", "--index", str(index), "--all-collections", "--embedding-model", tiny, "--json")
    assert moved.exit_code == 0, moved.output
    reports = json.loads(moved.stdout)
    assert sorted(reports) == ["default", "hr"]
    assert all(r["changed"] and r["embedding_model"] == tiny and r["dim"] == 32 for r in reports.values())
    for collection, expected in (("default", "rivers.txt"), ("hr", "leave.txt")):
        found = run("search", "days of leave", "--index", str(index), "-c", collection, "--mode", "dense",
                    "--embedding-model", tiny, "--json")
        assert found.exit_code == 0, found.output
        assert [Path(p["file"]).name for p in json.loads(found.stdout)["passages"]] == [expected]

    again = run("reindex", "--index", str(index), "--collection", "hr", "--embedding-model", tiny)
    assert again.exit_code == 0 and "nothing to do" in again.output
    old = run("search", "leave", "--index", str(index), "-c", "hr", "--mode", "dense")  # MiniLM: now foreign
    assert old.exit_code != 0 and "docqa reindex" in old.output
