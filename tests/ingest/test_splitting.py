"""Passages are sentence-aligned, bounded, overlapping, and point exactly back into their pages."""

from __future__ import annotations

import re

import pytest

from docqa.ingest.splitting import (
    PageAwareSplitter,
    join_pages,
    locate_in_pages,
    passage_spans,
    sentence_spans,
)


def words(text: str) -> int:
    return len(text.split())


PAGES = [
    " ".join(f"Page one sentence number {i} talks about Dr. Smith and the U.S. economy." for i in range(40)),
    " ".join(f"Second page line {i} is here!" for i in range(30)),
    "Short final page. It ends.",
]


def test_every_passage_maps_back_to_its_page_text_exactly() -> None:
    docs = PageAwareSplitter(max_words=60, overlap_words=15).run(
        pages=PAGES, meta={"source_key": "k", "sha256": "s"}
    )
    docs = docs["documents"]
    assert len(docs) > 5
    for doc in docs:
        pieces = [PAGES[page - 1][start:end] for page, start, end in doc.meta["page_offsets"]]
        assert doc.content == "\n\n".join(pieces)
        assert doc.meta["page"] == doc.meta["page_offsets"][0][0]
    assert any(len(doc.meta["pages"]) == 2 for doc in docs), "some passage should span a page break"
    assert docs[-1].meta["pages"][-1] == 3


def test_passages_are_bounded_overlap_and_hold_whole_sentences() -> None:
    text, _ = join_pages(PAGES)
    spans = passage_spans(text, max_words=60, overlap_words=15)
    sentences = {(s.start, s.end) for s in sentence_spans(text)}
    starts = {s for s, _ in sentences}
    ends = {e for _, e in sentences}
    for span in spans:
        assert words(text[span.start : span.end]) <= 60
        assert span.start in starts and span.end in ends
    for first, second in zip(spans, spans[1:], strict=False):
        assert second.start < first.end, "consecutive passages overlap"
    covered = set()
    for span in spans:
        covered.update(range(span.start, span.end))
    assert all(i in covered for s, e in sentences for i in range(s, e)), "no sentence is lost"


def test_sentence_splitter_respects_abbreviations_and_initials() -> None:
    text = 'Dr. Smith met J. R. Jones in the U.S. on Monday. They talked. "Why?" he asked. Done'
    found = [text[s.start : s.end] for s in sentence_spans(text)]
    assert found == [
        "Dr. Smith met J. R. Jones in the U.S. on Monday.",
        "They talked.",
        '"Why?" he asked.',
        "Done",
    ]


def test_overlong_sentence_is_cut_at_word_borders() -> None:
    text = " ".join(f"w{i}" for i in range(250))
    spans = passage_spans(text, max_words=100, overlap_words=0)
    assert [words(text[s.start : s.end]) for s in spans] == [100, 100, 50]


def test_default_passages_fit_the_reader_window() -> None:
    from transformers import AutoTokenizer

    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_embedding_model_dir()))
    prose = " ".join(re.sub(r"\s+", " ", PAGES[0]).split(". "))
    docs = PageAwareSplitter().run(pages=[prose * 3], meta={})["documents"]
    question = "When was the Duchy of Normandy founded and by whom was it ruled?"
    for doc in docs:
        n = len(tokenizer(question, doc.content)["input_ids"])
        assert n <= 384, n


def test_locate_in_pages() -> None:
    _, starts = join_pages(["abc", "defg", "h"])
    assert locate_in_pages(0, starts) == (1, 0)
    assert locate_in_pages(5, starts) == (2, 0)
    assert locate_in_pages(12, starts) == (3, 1)


@pytest.mark.parametrize(("max_words", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_invalid_sizes_are_rejected(max_words: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        PageAwareSplitter(max_words=max_words, overlap_words=overlap)
