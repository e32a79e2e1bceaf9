"""`docqa reindex`: a new embedding model without reading any file again. What a user would notice: the
index built by another model says how to move in one line; after the move every passage is still there
(ids, text, metadata) and dense search runs on the new model; a reindex killed before its commit leaves
the old index whole, and running it again finishes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from docqa.app.cli import app as cli
from docqa.pipelines.api import DocQA, EmbeddingModelMismatchError
from docqa.pipelines.collections import DEFAULT_COLLECTION, open_collection_store
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


KILLED_WHILE_EMBEDDING = """
import os, signal, sys
from docqa.pipelines import reindexing
from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder
reindexing.BATCH = 1  # a batch per passage: the kill lands between two of them
real_warm_up = PassageEmbedder.warm_up
def warm_up(self):
    real_warm_up(self)
    if getattr(self._encoder, "dying", False):
        return
    encode, calls = self._encoder.encode, []
    def dying(texts):
        calls.append(len(texts))
        if len(calls) == 2:  # the first batch is embedded (on Milvus: written to the new collection)
            os.kill(os.getpid(), signal.SIGKILL)
        return encode(texts)
    self._encoder.encode, self._encoder.dying = dying, True
PassageEmbedder.warm_up = warm_up
from docqa.app.cli import app
app(["reindex", *sys.argv[1:]])
"""


def _killed(script: str, *args: str) -> None:
    child = _child(script, *args)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]


@pytest.mark.slow  # a child process (~3 s of imports) and two model loads
def test_a_docqa_reindex_killed_while_embedding_leaves_the_old_index(
        built: Path, tiny_sentence_model_dir: Path) -> None:
    before = _stored(built)
    _killed(KILLED_WHILE_EMBEDDING, "--index", str(built), "--embedding-model", str(tiny_sentence_model_dir))
    assert LocalIndex(built).meta()["embedding_model"] == str(packaged_embedding_model_dir())
    assert _stored(built) == before
    hits = DocQA(built, embedding_model=str(packaged_embedding_model_dir())).search("highest mountain",
                                                                                   mode="dense", top_k=1)
    assert hits[0].content.startswith("Mont Blanc")
    report = DocQA(built, embedding_model=str(tiny_sentence_model_dir)).reindex()
    assert report.changed and report.passages == len(before)


# ----- Milvus Lite: a new collection is filled, then the collection's name is switched to it -----
needs_milvus_lite = pytest.mark.skipif(
    importlib.util.find_spec("milvus_lite") is None or importlib.util.find_spec("pymilvus") is None,
    reason="Milvus Lite is not installed: pip install -e '.[milvus]'",
)


@pytest.fixture
def milvus_built(tmp_path: Path) -> tuple[Path, str]:
    """The same two files ingested into a Milvus Lite collection with the packaged MiniLM."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    index, spec = tmp_path / "index", f"milvus-lite://{tmp_path / 'milvus' / 'docqa.db'}"
    DocQA(index, embedding_model=str(packaged_embedding_model_dir()), store=spec).ingest([folder])
    return index, spec


def _milvus_stored(index: Path, spec: str) -> dict[str, list[str]]:
    catalog = open_collection_store(spec, index, DEFAULT_COLLECTION, "any").catalog
    return {d.id: [d.content, json.dumps(d.meta, sort_keys=True)]
            for _, docs, _ in catalog.export_files() for d in docs}


def _milvus_collections(index: Path, spec: str) -> list[str]:
    return open_collection_store(spec, index, DEFAULT_COLLECTION, "any").search.client.list_collections()


@needs_milvus_lite
def test_reindex_on_milvus_lite_switches_the_collection_and_back(
        milvus_built: tuple[Path, str], tiny_sentence_model_dir: Path) -> None:
    index, spec = milvus_built
    minilm, tiny = str(packaged_embedding_model_dir()), str(tiny_sentence_model_dir)
    before = _milvus_stored(index, spec)
    with pytest.raises(EmbeddingModelMismatchError) as refused:
        DocQA(index, embedding_model=tiny, store=spec).search("longest river", mode="dense")
    assert "docqa reindex" in str(refused.value) and "\n" not in str(refused.value)

    report = DocQA(index, embedding_model=tiny, store=spec).reindex()
    assert report.changed and (report.files, report.passages, report.dim) == (2, len(before), 32)
    assert _milvus_stored(index, spec) == before  # ids, text and metadata as they were
    hits = DocQA(index, embedding_model=tiny, store=spec).search("river", mode="dense", top_k=5)
    assert len(hits) == len(before)
    with pytest.raises(EmbeddingModelMismatchError):
        DocQA(index, embedding_model=minilm, store=spec).search("river", mode="dense")
    assert len(_milvus_collections(index, spec)) == 1  # the original collection was dropped

    back = DocQA(index, embedding_model=minilm, store=spec).reindex()  # the name is an alias now: alter it
    assert back.changed and back.dim == 384 and back.previous_model == tiny
    qa = DocQA(index, embedding_model=minilm, store=spec)
    assert qa.search("longest river", mode="dense", top_k=1)[0].content.startswith("The Loire")
    assert qa.search("Loire", mode="bm25", top_k=1)[0].content.startswith("The Loire")  # BM25 field rebuilt
    assert _milvus_stored(index, spec) == before
    assert len(_milvus_collections(index, spec)) == 1
    (index.parent / "docs" / "alps.txt").write_text("The Matterhorn has four faces.", encoding="utf-8")
    assert qa.ingest([index.parent / "docs"]).ok  # ingests go on into the collection behind the alias
    assert qa.search("Matterhorn faces", mode="bm25", top_k=1)[0].content.startswith("The Matterhorn")
    open_collection_store(spec, index, DEFAULT_COLLECTION, minilm).search.drop()
    assert _milvus_collections(index, spec) == []  # dropping the name drops the collection behind it


KILLED_SWITCHING = """
import os, signal, sys
import pymilvus
def dying(self, *args, **kwargs):  # the original collection is dropped, its name not yet an alias
    os.kill(os.getpid(), signal.SIGKILL)
pymilvus.MilvusClient.create_alias = dying
from docqa.app.cli import app
app(["reindex", *sys.argv[1:]])
"""


CHECK = """
import json, sys
from pathlib import Path
from docqa.pipelines.api import DocQA
from tests.pipelines.test_reindex import _milvus_stored
index, spec, model = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
hits = DocQA(index, embedding_model=model, store=spec).search("highest mountain", mode="dense", top_k=5)
print(json.dumps({"stored": _milvus_stored(index, spec), "hits": [h.content for h in hits]}))
"""


def _child(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


@needs_milvus_lite
@pytest.mark.slow  # five child processes (~3 s of imports each; Milvus Lite lets one process hold the file)
def test_a_milvus_reindex_killed_midway_rolls_back_or_forward(
        tmp_path: Path, tiny_sentence_model_dir: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    index, spec = tmp_path / "index", f"milvus-lite://{tmp_path / 'milvus' / 'docqa.db'}"
    minilm, tiny = str(packaged_embedding_model_dir()), str(tiny_sentence_model_dir)
    ingest = _child("import sys; from docqa.app.cli import app; app(sys.argv[1:])", "--store", spec, "ingest",
                    str(folder), "--index", str(index), "--embedding-model", minilm)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    before = json.loads(_child(CHECK, str(index), spec, minilm).stdout)
    assert before["hits"][0].startswith("Mont Blanc") and len(before["stored"]) == 2

    args = ["--index", str(index), "--store", spec, "--embedding-model", tiny]
    _killed(KILLED_WHILE_EMBEDDING, *args)  # before the switch: the old collection serves, untouched
    assert json.loads(_child(CHECK, str(index), spec, minilm).stdout) == before

    _killed(KILLED_SWITCHING, *args)  # inside the switch: the next opener finishes it
    qa = DocQA(index, embedding_model=tiny, store=spec)
    assert len(qa.search("river", mode="dense", top_k=5)) == 2
    assert _milvus_stored(index, spec) == before["stored"]
    assert len(_milvus_collections(index, spec)) == 1  # the killed runs left no collection behind
    assert DocQA(index, embedding_model=tiny, store=spec).reindex().changed is False
    with pytest.raises(EmbeddingModelMismatchError):
        DocQA(index, embedding_model=minilm, store=spec).search("river", mode="dense")
