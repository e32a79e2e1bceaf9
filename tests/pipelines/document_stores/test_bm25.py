"""Our BM25 index: stemming and stop words change what matches, the index follows adds and removals."""

from __future__ import annotations

from haystack import Document

from docqa.pipelines.document_stores.analysis import Tokenizer
from tests.bm25_reference import BM25Index


def docs() -> list[Document]:
    return [
        Document(id="duchy", content="Rollo led the founding of the Duchy of Normandy in 911.",
                 meta={"title": "Normans"}),
        Document(id="steam", content="Watt improved the steam engine with a separate condenser.",
                 meta={"title": "Steam_engine"}),
        Document(id="parl", content="The Scottish Parliament sits at Holyrood in Edinburgh.",
                 meta={"title": "Scottish_Parliament"}),
    ]


def ids(documents: list[Document]) -> list[str]:
    return [d.id for d in documents]


def test_tokenizer_stems_and_drops_stop_words() -> None:
    tok = Tokenizer()
    assert tok("founded") == tok("founding") == tok("Founds")
    assert tok("Who was the founder of the duchy?") == tok("founder duchy")
    assert Tokenizer(language=None, stopwords=None)("The Steam_engine") == ["the", "steam", "engine"]


def test_inflected_question_word_finds_the_passage() -> None:
    bm25 = BM25Index(docs())
    # "founded" never occurs in the corpus; "founding" does.
    assert ids(bm25.retrieve("Who founded it?", top_k=3))[0] == "duchy"


def test_title_is_searchable_as_a_field() -> None:
    bm25 = BM25Index(docs())
    assert ids(bm25.retrieve("engine", top_k=1)) == ["steam"]  # content says "engine" too
    assert ids(bm25.retrieve("Normans", top_k=1)) == ["duchy"]  # only the title says it
    assert ids(BM25Index(docs(), title_field=None).retrieve("Normans")) == []


def test_removed_document_is_no_longer_returned_and_added_one_is() -> None:
    bm25 = BM25Index(docs())
    assert "parl" in ids(bm25.retrieve("Holyrood parliament"))
    assert bm25.remove_documents(["parl", "unknown"]) == 1
    assert "parl" not in ids(bm25.retrieve("Holyrood parliament"))
    assert bm25.count_documents() == 2
    bm25.add_documents([Document(id="parl2", content="Holyrood is home to the parliament.")])
    assert ids(bm25.retrieve("Holyrood parliament", top_k=1)) == ["parl2"]


def test_re_adding_an_id_replaces_its_text() -> None:
    bm25 = BM25Index(docs())
    bm25.add_documents([Document(id="steam", content="Turbines replaced reciprocating engines.")])
    assert bm25.count_documents() == 3
    assert ids(bm25.retrieve("condenser")) == []
    assert ids(bm25.retrieve("turbines")) == ["steam"]


def test_scores_are_ranked_positive_and_inputs_untouched() -> None:
    corpus = docs() + [Document(id="x", content="Normandy Normandy Normandy duchy of Normandy")]
    bm25 = BM25Index(corpus)
    out = bm25.retrieve("duchy Normandy", top_k=2)
    assert len(out) == 2
    assert out[0].score >= out[1].score > 0
    assert all(d.score is None for d in corpus)
    assert bm25.retrieve("the of and") == []  # only stop words: nothing to match
    assert BM25Index().retrieve("anything") == []


def test_search_reports_scores_of_requested_extra_ids() -> None:
    bm25 = BM25Index(docs())
    top, extra = bm25.search("steam engine", top_k=1, also=["parl", "steam", "nope"])
    assert top[0][0] == "steam"
    assert extra["steam"] == top[0][1]
    assert extra["parl"] == 0.0
    assert "nope" not in extra


def test_bigrams_prefer_the_passage_with_the_phrase() -> None:
    corpus = [
        Document(id="phrase", content="The steam engine drove the mill; the water was cold."),
        Document(id="scattered", content="The engine drove the mill; the steam was cold."),
    ]
    assert Tokenizer(bigrams=True)("steam engines") == ["steam", "engin", "steam engin"]
    assert ids(BM25Index(corpus).retrieve("steam engine", top_k=2)) == ["phrase", "scattered"]
