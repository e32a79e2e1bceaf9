"""Filters through the Python API: every mode searches only the documents that pass, a filtered question
skips the FAQ, a bad filter names its field, and tags given to ``DocQA.ingest`` are filterable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from docqa.errors import InvalidInputError
from docqa.pipelines.api import DocQA, FilterError, parse_filter_expressions
from tests.conftest import SAMPLES

PDF = {"field": "meta.file_type", "operator": "==", "value": "pdf"}


def test_every_mode_searches_only_the_filtered_documents(sample_index: Path) -> None:
    qa = DocQA(sample_index)
    question = "Watt steam engine separate condenser"
    for mode in ("hybrid", "dense", "bm25"):
        assert qa.search(question, top_k=3, mode=mode)[0].file.endswith("steam_engine.md"), mode
        hits = qa.search(question, top_k=3, mode=mode, filters=PDF)
        assert all(h.file.endswith("packet_switching.pdf") for h in hits), mode
        assert len(hits) == (2 if mode == "bm25" else 3), mode  # BM25: the only 2 sharing a word
    short = parse_filter_expressions(["file_type in [md, txt]", "page_count < 2"])
    assert {Path(h.file).name for h in qa.search(question, top_k=10, filters=short)} <= {
        "steam_engine.md",
        "normans.txt",
    }
    assert qa.filters.scope(PDF) == (1, 3)
    assert qa.filter_fields()["modified"] == "date"


def test_a_bad_filter_names_the_field(sample_index: Path) -> None:
    qa = DocQA(sample_index)
    with pytest.raises(FilterError, match="unknown field 'team'") as caught:
        qa.search("x", filters={"field": "meta.team", "operator": "==", "value": "legal"})
    assert isinstance(caught.value, InvalidInputError) and caught.value.field == "filters"
    with pytest.raises(FilterError, match="size"):
        qa.ask("Who?", filters={"field": "meta.size", "operator": ">", "value": "big"})


def test_tags_given_at_ingest_are_filterable_and_changed_without_re_embedding(
    sample_index: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    qa = DocQA(index)
    report = qa.ingest([SAMPLES / "normans.txt"], tags={"team": "history", "year": 2024})
    assert report.passages_embedded == 0
    by_year = {"field": "meta.year", "operator": ">=", "value": 2020}
    hits = qa.search("Normans Normandy", top_k=5, filters=by_year, mode="bm25")
    assert hits and all(h.file.endswith("normans.txt") for h in hits)
    (normans,) = [d for d in qa.documents() if d.file_name == "normans.txt"]
    assert normans.tags == {"team": "history", "year": 2024}
    with pytest.raises(InvalidInputError, match="year"):  # one tag, one kind of value
        qa.ingest([SAMPLES / "normans.txt"], tags={"year": "unknown"})
