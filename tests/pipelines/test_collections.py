"""Collections: each one a store of its own in the index — names, create/list/delete, and isolation a user
would notice (a search in one never returns, or counts, another's passages; the same file in two
collections is two documents; deleting one leaves the others untouched)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docqa.errors import InvalidInputError
from docqa.pipelines.api import (
    CollectionNotFoundError,
    DocQA,
    create_collection,
    delete_collection,
    list_collections,
    validate_collection_name,
)
from docqa.pipelines.collections import collection_dir, milvus_collection_spec
from tests.conftest import SAMPLES


@pytest.mark.parametrize("name", ["", "HR", "a b", "../x", "-x", "x" * 65, "é", "a/b", ".hidden"])
def test_bad_names_are_refused_naming_the_rule(name: str) -> None:
    with pytest.raises(InvalidInputError, match="collection name"):
        validate_collection_name(name)


def test_create_list_delete(tmp_path: Path) -> None:
    index = tmp_path / "index"
    assert list_collections(index) == ["default"]
    create_collection(index, "manuals")
    create_collection(index, "faq-2024")
    assert list_collections(index) == ["default", "faq-2024", "manuals"]
    with pytest.raises(InvalidInputError, match="exists already"):
        create_collection(index, "manuals")
    delete_collection(index, "manuals")
    assert list_collections(index) == ["default", "faq-2024"]
    assert not collection_dir(index, "manuals").exists()
    with pytest.raises(CollectionNotFoundError, match="docqa collections create manuals"):
        DocQA(index, collection="manuals")
    with pytest.raises(InvalidInputError, match="default collection cannot be deleted"):
        delete_collection(index, "default")


def test_a_folder_without_its_marker_is_not_a_collection(tmp_path: Path) -> None:
    """A create killed before its marker was renamed in leaves no half collection behind in the listing."""
    index = tmp_path / "index"
    (index / "collections" / "half").mkdir(parents=True)
    assert list_collections(index) == ["default"]
    create_collection(index, "half")  # and the name can still be created
    assert list_collections(index) == ["default", "half"]


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory) -> Path:
    """default holds the samples; `hr` holds normans.txt only (the same file as in default)."""
    index = tmp_path_factory.mktemp("collections") / "index"
    assert DocQA(index).ingest([SAMPLES]).ok
    create_collection(index, "hr")
    hr = DocQA(index, collection="hr")
    assert hr.ingest([SAMPLES / "normans.txt"]).ok
    create_collection(index, "empty")
    return index


def test_same_file_in_two_collections_is_two_documents(two_collections: Path) -> None:
    default, hr = DocQA(two_collections), DocQA(two_collections, collection="hr")
    assert sorted(Path(d.key).name for d in default.documents()) == [
        "normans.txt", "packet_switching.pdf", "steam_engine.md"]  # fmt: skip
    assert [Path(d.key).name for d in hr.documents()] == ["normans.txt"]


def test_deleting_a_document_in_one_collection_keeps_it_in_the_others(two_collections: Path) -> None:
    create_collection(two_collections, "scratch")
    scratch = DocQA(two_collections, collection="scratch")
    assert scratch.ingest([SAMPLES / "normans.txt"]).ok
    scratch.delete("normans.txt")
    assert scratch.documents() == []
    assert "normans.txt" in {Path(d.key).name for d in DocQA(two_collections).documents()}
    assert [Path(d.key).name for d in DocQA(two_collections, collection="hr").documents()] == ["normans.txt"]
    delete_collection(two_collections, "scratch")


def test_search_never_returns_or_counts_another_collections_passages(two_collections: Path) -> None:
    hr = DocQA(two_collections, collection="hr")
    passages = hr.search("What is a steam engine?", top_k=10)
    assert passages and {Path(p.file).name for p in passages} == {"normans.txt"}
    assert hr.stats()["documents"] == 1
    empty = DocQA(two_collections, collection="empty")
    assert empty.documents() == [] and empty.stats()["passages"] == 0
    assert DocQA(two_collections).stats()["documents"] == 3


def test_bm25_scores_do_not_depend_on_other_collections(two_collections: Path, tmp_path: Path) -> None:
    """A caller must not infer another collection's words from scores: hr's scores equal those of an
    index holding only hr's document. (Deleted passages do count in BM25 statistics until `docqa
    compact`, as in Lucene — within a collection only.)"""
    alone = tmp_path / "alone"
    assert DocQA(alone).ingest([SAMPLES / "normans.txt"]).ok
    question = "Who founded the Duchy of Normandy?"
    in_hr = DocQA(two_collections, collection="hr").search(question, top_k=3, mode="bm25")
    by_itself = DocQA(alone).search(question, top_k=3, mode="bm25")
    assert [round(p.score, 6) for p in in_hr] == [round(p.score, 6) for p in by_itself]


def test_delete_collection_removes_its_faq_feedback_and_uploads(tmp_path: Path) -> None:
    index = tmp_path / "index"
    create_collection(index, "team")
    folder = collection_dir(index, "team")
    (folder / "uploads").mkdir()
    (folder / "uploads" / "x.txt").write_text("x", encoding="utf-8")
    delete_collection(index, "team")
    assert not folder.exists() and not any((index / "collections").iterdir())


def test_milvus_collection_per_docqa_collection() -> None:
    assert milvus_collection_spec("milvus://h:19530", "default") == "milvus://h:19530"
    assert milvus_collection_spec("milvus://h:19530", "hr") == "milvus://h:19530?collection=docqa__hr"
    # '-' and '_' escaped apart: Milvus names allow only letters, digits and '_'
    a = milvus_collection_spec("milvus-lite:///x.db?collection=base", "a-b")
    b = milvus_collection_spec("milvus-lite:///x.db?collection=base", "a_b")
    assert a.endswith("collection=base__a_db") and b.endswith("collection=base__a__b") and a != b


def test_copied_index_keeps_its_collections(two_collections: Path, tmp_path: Path) -> None:
    """A collection is plain files under the index: copying or backing up the index carries it."""
    copy = tmp_path / "copy"
    shutil.copytree(two_collections, copy)
    assert list_collections(copy) == ["default", "empty", "hr"]
    assert [Path(d.key).name for d in DocQA(copy, collection="hr").documents()] == ["normans.txt"]
