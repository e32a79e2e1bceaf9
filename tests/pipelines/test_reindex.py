"""`docqa reindex`: a new embedding model without reading any file again. What a user would notice: the
index built by another model says how to move in one line; after the move every passage is still there
(ids, text, metadata) and dense search runs on the new model; a reindex killed before its commit leaves
the old index whole, and running it again finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from docqa import config
from docqa.app.cli import app as cli
from docqa.pipelines.api import DocQA, EmbeddingModelMismatchError
from docqa.pipelines.components.embedders.sentence_embedders import get_encoder
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.model_loading import packaged_embedding_model_dir
from tests.conftest import REPO

TEXTS = {
    "rivers.txt": "The Loire is the longest river in France.\n\nIt rises in the Massif Central.",
    "mountains.txt": "Mont Blanc is the highest mountain of the Alps.\n\nIt stands on the Italian border.",
}


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """An index of two small files, embedded with the packaged MiniLM."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    index = tmp_path / "index"
    DocQA(index, embedding_model=str(packaged_embedding_model_dir())).ingest([folder])
    return index


def _stored(index: Path) -> dict[str, tuple[str, str]]:
    snapshot = LocalIndex(index).load_any()
    return {d.id: (d.content, json.dumps(d.meta, sort_keys=True)) for d in snapshot.passages}


def test_reindex_moves_the_whole_index_to_the_new_model(built: Path, tiny_sentence_model_dir: Path) -> None:
    new_model = str(tiny_sentence_model_dir)
    before = _stored(built)
    with pytest.raises(EmbeddingModelMismatchError) as refused:
        DocQA(built, embedding_model=new_model).search("longest river", mode="dense")
    assert "docqa reindex" in str(refused.value) and "\n" not in str(refused.value)

    report = DocQA(built, embedding_model=new_model).reindex()
    assert report.changed and (report.files, report.passages, report.dim) == (2, len(before), 32)
    assert report.previous_model == str(packaged_embedding_model_dir())
    assert _stored(built) == before  # same passages: ids, text and metadata
    snapshot = LocalIndex(built).load(new_model, 32)
    expected = get_encoder(new_model).encode([d.content for d in snapshot.passages])
    np.testing.assert_allclose(snapshot.embeddings, expected, atol=1e-5)  # the new model's vectors
    assert len(list((built / "segments").iterdir())) == 1  # the old model's segments are gone
    hits = DocQA(built, embedding_model=new_model).search("longest river", mode="dense", top_k=5)
    assert len(hits) == len(before)
    with pytest.raises(EmbeddingModelMismatchError):  # the old model is now the foreign one
        DocQA(built, embedding_model=str(packaged_embedding_model_dir())).search("river", mode="dense")
    again = DocQA(built, embedding_model=new_model).reindex()
    assert not again.changed  # already on that model: nothing is embedded


CHILD = """
import os, signal, sys
from docqa.pipelines.document_stores.local import catalog
real = catalog.write_meta
def dying(con, values):
    if "embedding_model" in values:  # inside the commit's transaction, after the new segment was written
        os.kill(os.getpid(), signal.SIGKILL)
    return real(con, values)
catalog.write_meta = dying
from docqa.pipelines.api import DocQA
DocQA(sys.argv[1], embedding_model=sys.argv[2]).reindex()
"""


def test_a_reindex_killed_in_its_commit_leaves_the_old_index_and_a_rerun_finishes(
        built: Path, tiny_sentence_model_dir: Path) -> None:
    before = _stored(built)
    child = subprocess.run([sys.executable, "-c", CHILD, str(built), str(tiny_sentence_model_dir)],
                           capture_output=True, text=True, timeout=300, cwd=REPO, env=os.environ.copy())
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    old = DocQA(built, embedding_model=str(packaged_embedding_model_dir()))
    assert _stored(built) == before
    assert old.search("longest river", mode="dense", top_k=1)[0].content.startswith("The Loire")
    result = CliRunner().invoke(cli, ["reindex", "--index", str(built), "--embedding-model",
                                      str(tiny_sentence_model_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Re-embedded {len(before)} passages of 2 documents" in " ".join(result.output.split())
    assert LocalIndex(built).meta()["embedding_model"] == str(tiny_sentence_model_dir)
    assert _stored(built) == before
    assert len(list((built / "segments").iterdir())) == 1  # the killed run's orphan segment was swept


def test_reindex_on_milvus_says_what_to_do_instead(tmp_path: Path, monkeypatch) -> None:
    # through the environment, which monkeypatch restores (`--store` would leave DOCQA_STORE set for the
    # rest of this process: the CLI passes it to the page and the service that way)
    monkeypatch.setenv(config.STORE, f"milvus-lite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(cli, ["reindex", "--index", str(tmp_path / "index")])
    assert result.exit_code != 0
    assert "docqa migrate --to local" in " ".join(result.output.split())
    assert not (tmp_path / "x.db").exists()  # refused before Milvus Lite was opened
