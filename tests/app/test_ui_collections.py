"""The page with several collections: a switcher in the sidebar, and each collection's own documents and
answers — what one team sees never includes another's documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from docqa.pipelines.api import DocQA, create_collection
from tests.app.test_ui import PAGE, TIMEOUT, texts
from tests.conftest import SAMPLES

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


@pytest.fixture
def two_collections(tmp_path: Path, monkeypatch) -> Path:
    index = tmp_path / "index"
    assert DocQA(index).ingest([SAMPLES / "steam_engine.md"]).ok
    create_collection(index, "history")
    assert DocQA(index, collection="history").ingest([SAMPLES / "normans.txt"]).ok
    for name in ("DOCQA_UI_SAMPLES", "DOCQA_API_KEY", "DOCQA_COLLECTION", "DOCQA_EMBEDDING_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("DOCQA_INDEX", str(index))
    monkeypatch.setenv("DOCQA_READER_MODEL", "compact")
    return index


def documents_listed(at: AppTest) -> list[str]:
    return [e.label for e in at.sidebar.expander if e.label != "Search within"]


def test_switching_collection_shows_only_its_documents(two_collections: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    switcher = at.sidebar.selectbox(key="docqa-collection")
    assert switcher.options == ["default", "history"] and switcher.value == "default"
    assert documents_listed(at) == ["steam_engine.md"]
    assert "1 document" in texts(at.sidebar.markdown)
    switcher.set_value("history").run()
    assert not at.exception, [e.value for e in at.exception]
    assert documents_listed(at) == ["normans.txt"]


def test_one_collection_shows_no_switcher(tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "index"
    assert DocQA(index).ingest([SAMPLES / "normans.txt"]).ok
    monkeypatch.delenv("DOCQA_API_KEY", raising=False)
    monkeypatch.setenv("DOCQA_INDEX", str(index))
    monkeypatch.setenv("DOCQA_READER_MODEL", "compact")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and not at.sidebar.selectbox


def test_collection_setting_picks_the_one_the_page_opens_on(two_collections: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCQA_COLLECTION", "history")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert at.sidebar.selectbox(key="docqa-collection").value == "history"


def test_a_scoped_key_sees_only_its_collection_and_a_read_key_cannot_upload(two_collections: Path) -> None:
    from docqa.pipelines.api import KeyStore

    store = KeyStore(two_collections)
    _, key = store.create("historians", ["history"], "read")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert [t.key for t in at.text_input] == ["docqa-key"] and not at.sidebar.markdown  # nothing before a key
    at.text_input(key="docqa-key").set_value(key)
    at.button(key="FormSubmitter:key-form-Unlock").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert documents_listed(at) == ["normans.txt"] and not at.sidebar.selectbox  # one collection: no switch
    assert "steam_engine" not in texts(at.sidebar.markdown) + texts(at.markdown)
    assert not at.get("file_uploader") and "may read this collection" in texts(at.sidebar.caption)
    store.revoke("historians")
    at.run()
    assert [t.key for t in at.text_input] == ["docqa-key"], "a revoked key locks the tab at its next run"
