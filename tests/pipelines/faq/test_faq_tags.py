"""FAQ entries carry tags (a CSV `tags` column or a YAML/JSON mapping), kept in faq.json; a filtered
question matches only entries whose tags pass the filter, with Haystack's rules for untagged ones."""

from __future__ import annotations

import pytest

from docqa.pipelines.components.faq.matcher import FaqMatcher
from docqa.pipelines.document_stores.filters import check_filters
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.faq.files import FaqFileError, read_faq
from docqa.pipelines.faq.store import FaqStore
from tests.pipelines.components.faq.helpers import FakeEmbedder, fake_embed_factory

CSV = (
    b"question,answer,tags\n"
    b"How many holidays do I get?,25 days.,team=hr; year=2024\n"
    b"How many holidays did I get?,20 days.,team=hr; year=2020\n"
    b"Where is the office?,Main street 1.,\n"
)


def test_tags_are_read_stored_and_filter_the_match(tmp_path) -> None:
    entries, _ = read_faq(CSV, name="faq.csv")
    assert [e.tags for e in entries] == [{"team": "hr", "year": 2024}, {"team": "hr", "year": 2020}, {}]
    store = FaqStore(LocalIndex(tmp_path / "index"))
    store.replace(entries, fake_embed_factory([]), "model-x")
    assert [e.tags for e in store.entries()] == [e.tags for e in entries]  # through faq.json
    matcher = FaqMatcher(store, FakeEmbedder("model-x"))
    question = "How many holidays did I get?"
    assert matcher.run(question=question, threshold=0.9)["match"].entry.answer == "20 days."
    recent = check_filters({"field": "meta.year", "operator": ">=", "value": 2023})
    match = matcher.run(question=question, threshold=0.9, filters=recent)["match"]
    assert match.entry.answer == "25 days." and not match.matched  # the nearest entry that passes
    nobody = check_filters({"field": "meta.team", "operator": "==", "value": "sales"})
    assert matcher.run(question=question, filters=nobody)["match"] is None
    not_hr = check_filters({"field": "meta.team", "operator": "!=", "value": "hr"})  # untagged passes
    assert matcher.run(question=question, filters=not_hr)["match"].entry.answer == "Main street 1."


def test_a_bad_tag_in_an_faq_file_is_named() -> None:
    with pytest.raises(FaqFileError) as caught:
        read_faq(b"question,answer,tags\nA?,B.,page=3\n", name="faq.csv")
    assert any("row 2" in p and "page" in p for p in caught.value.problems)
