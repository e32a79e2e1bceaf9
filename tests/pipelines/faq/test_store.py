"""The FAQ store: faq.json replaced atomically under the writer lock, only new questions embedded."""

from __future__ import annotations

import numpy as np
import pytest

from docqa.errors import StorageError
from docqa.pipelines.document_stores.errors import IndexLockedError
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.faq.files import FaqFileError
from docqa.pipelines.faq.store import FAQ_FILE, FaqStore
from tests.pipelines.components.faq.helpers import entries, fake_embed_factory


def test_reloading_reports_added_changed_removed_and_embeds_only_new_questions(tmp_path):
    store = FaqStore(LocalIndex(tmp_path / "index"))
    calls: list[str] = []
    embed = fake_embed_factory(calls)
    first = store.replace(entries(("Q one?", "A1"), ("Q two?", "A2"), ("Q three?", "A3")), embed, "model-x")
    assert first.to_dict()["counts"] == {"added": 3, "changed": 0, "removed": 0, "unchanged": 0}
    calls.clear()
    second = store.replace(
        entries(("Q one?", "A1"), ("Q two?", "A2 revised"), ("Q four?", "A4")),
        embed,
        "model-x",
        source="v2.csv",
    )
    assert second.added == ["Q four?"]
    assert second.changed == ["Q two?"]
    assert second.removed == ["Q three?"]
    assert second.unchanged == 1
    assert calls == ["Q four?"]  # unchanged and changed-answer questions keep their stored vectors
    stored = store.load()
    assert [e.answer for e in stored.entries] == ["A1", "A2 revised", "A4"]
    assert stored.embeddings.shape == (3, 16)
    assert np.allclose(np.linalg.norm(stored.embeddings, axis=1), 1.0, atol=1e-5)
    assert stored.source == "v2.csv"
    # No temporary files are left next to the store.
    names = {p.name for p in (tmp_path / "index").iterdir()} - {"index.sqlite-wal", "index.sqlite-shm"}
    assert names == {FAQ_FILE, "index.sqlite", "writer.lock"}  # the (empty) passage catalog beside the FAQ


def test_faq_load_waits_for_the_writer_lock_and_changes_nothing_when_locked(tmp_path):
    index = LocalIndex(tmp_path / "index")
    store = FaqStore(index)
    embed = fake_embed_factory([])
    store.replace(entries(("Old?", "Old answer")), embed, "model-x")
    before = store.path.read_bytes()
    with index.writer(), pytest.raises(IndexLockedError, match="being written by another DocQA process"):
        store.replace(entries(("New?", "New answer")), embed, "model-x", lock_timeout=0.2)
    assert store.path.read_bytes() == before


def test_a_damaged_store_is_reported_clearly(tmp_path):
    index = LocalIndex(tmp_path / "index")
    index.directory.mkdir(parents=True)
    (index.directory / FAQ_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(FaqFileError, match="(?s)faq.json: .*cannot be read.*load your FAQ file again"):
        FaqStore(index).load()


def test_vectors_of_another_model_need_an_embedder_to_be_compared(tmp_path):
    store = FaqStore(LocalIndex(tmp_path / "index"))
    store.replace(entries(("Alpha?", "first")), fake_embed_factory([]), "model-x")
    with pytest.raises(StorageError, match="embedded with model-x, not model-y"):
        store.vectors("model-y")
    calls: list[str] = []
    found_entries, matrix = store.vectors("model-y", fake_embed_factory(calls))
    assert calls == ["Alpha?"] and matrix.shape == (1, 16)
    assert store.nearest(matrix[0], "model-y")[0].answer == "first"  # cached: no embedder needed now


def test_store_round_trips_through_to_dict(tmp_path):
    store = FaqStore(LocalIndex(tmp_path / "index"))
    again = FaqStore.from_dict(store.to_dict())
    assert again.path == store.path and again.to_dict() == store.to_dict()
