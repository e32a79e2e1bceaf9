"""Answers stay small whatever the passages hold (issue 27): ``DocQA.ask`` and ``POST /ask`` over hostile
text return at most 1 MB.

An attack probe's 128 KiB text with no spaces (one "word") made ``/ask`` return 93 MB: the passage was
the whole file, every occurrence of the answer was a source, and every source copied the passage. The
corpus here holds that file byte for byte (as ``../shared/security/make_hostile_files.py`` writes it) and
the rest of its class: Chinese without spaces, a base64 blob under a Markdown heading as long as a file
(titles are repeated in every passage), an answer repeated 400 times in one file, and 20 identical files.
A tiny random reader answers (fast, and its arbitrary spans give many different answers: the most
sources a response can hold), every passage is read (adaptive reading off) and the service's largest
request is asked (50 passages, 10 answers).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from haystack import Document, ExtractedAnswer

from docqa.app.server.app import create_app
from docqa.app.server.limits import MAX_ANSWERS, MAX_TOP_K
from docqa.config import READER_ADAPTIVE
from docqa.ingest.splitting import DEFAULT_MAX_CHARS
from docqa.pipelines.answers import MAX_LABEL_CHARS, Answer, AskResult, Passage
from docqa.pipelines.api import DocQA
from docqa.pipelines.components.readers.qa_windows import build_windows
from docqa.pipelines.components.readers.span_decoding import DEFAULT_MAX_SOURCES
from tests.app.service_client import service_client

RESPONSE_LIMIT = 1024 * 1024  # the target: /ask returns at most 1 MB, for any corpus
UNIT = b"Duchy,Normandy,founded,when,was,year,Rollo,Normans,"
SENTENCE = "The Duchy of Normandy was founded in 911 by Rollo, the leader of the Normans. "
COPIES = 20
QUESTIONS = [
    "When was the Duchy of Normandy founded?",  # the probe's question
    "诺曼底公国成立于哪一年？",
    "Normandy 911",
]


def write_hostile_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "poison128k.txt").write_bytes((UNIT * 2600)[:131072])  # one 128 KiB "word"
    (folder / "repeated.txt").write_text(SENTENCE * 400, encoding="utf-8")
    (folder / "cjk.txt").write_text("诺曼底公国成立于九一一年罗洛是诺曼人的首领" * 400, encoding="utf-8")
    blob = base64.b64encode(bytes(range(256)) * 20).decode()
    (folder / "blob.md").write_text(f"# {'Normandy 911 ' * 600}\n\n{SENTENCE}\n\n{blob}\n", encoding="utf-8")
    for number in range(COPIES):
        (folder / f"copy-{number:02d}.txt").write_text(SENTENCE * 2, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def hostile_qa(tmp_path_factory, tiny_qa_model_dir) -> DocQA:
    root = tmp_path_factory.mktemp("hostile")
    qa = DocQA(root / "index", reader_model=str(tiny_qa_model_dir), reader_backend="torch")
    report = qa.ingest([write_hostile_corpus(root / "files")])
    assert report.ok, report.to_dict()
    return qa


@pytest.fixture
def read_everything(monkeypatch) -> None:
    monkeypatch.setenv(READER_ADAPTIVE, "0")


def sizes(body: dict) -> tuple[int, int]:
    """Bytes of ``body`` as the service sends it (UTF-8) and as ``json.dumps`` writes it (ASCII escapes)."""
    return len(json.dumps(body, ensure_ascii=False).encode()), len(json.dumps(body))


@pytest.mark.slow
@pytest.mark.parametrize("question", QUESTIONS)
def test_ask_over_hostile_text_stays_under_a_megabyte(hostile_qa, read_everything, question) -> None:
    result = hostile_qa.ask(question, top_k=MAX_TOP_K, max_answers=MAX_ANSWERS)
    body = result.to_dict()
    assert body["passages"] and body["answers"], "the hostile passages were retrieved and read"
    assert max(sizes(body)) <= RESPONSE_LIMIT, sizes(body)
    for passage in body["passages"]:
        assert len(passage["content"]) <= DEFAULT_MAX_CHARS
        assert len(passage["title"]) <= MAX_LABEL_CHARS
    for answer in body["answers"]:
        ids = [s["document_id"] for s in answer["sources"]]
        assert len(ids) == len(set(ids)), "one source per passage"
        assert 1 <= len(ids) <= DEFAULT_MAX_SOURCES and answer["source_count"] >= len(ids)
        top = answer["sources"][0]
        assert top["passage"][top["passage_start"] : top["passage_end"]] == answer["text"]


@pytest.mark.slow
def test_an_answer_in_many_identical_files_lists_a_few_and_counts_them_all(hostile_qa, read_everything):
    """Read the identical files alone: each is a source of the same answer. (Hybrid search shows a repeated
    text once per file, so repeated.txt's hundreds of copies of the sentence no longer pad the count.)"""
    names = [f"copy-{n:02d}.txt" for n in range(COPIES)]
    copies = {"field": "meta.file_name", "operator": "in", "value": names}
    result = hostile_qa.ask(QUESTIONS[0], top_k=MAX_TOP_K, max_answers=MAX_ANSWERS, filters=copies)
    assert {Path(p.file).name for p in result.passages} == set(names)
    counted = max(result.answers, key=lambda a: a.source_count)
    assert counted.source_count >= COPIES
    assert len(counted.sources) == DEFAULT_MAX_SOURCES


@pytest.mark.slow
def test_reading_a_hostile_passage_costs_a_bounded_number_of_windows(hostile_qa) -> None:
    """The reader's work per passage is bounded: at most 4 windows measured on these passages (base64; the
    128 KiB word as one passage took 189, and its cost per window also grew with the passage)."""
    reader = hostile_qa.reader()
    passages = [p.content for p in hostile_qa.search(QUESTIONS[1], top_k=MAX_TOP_K)]
    passages += [p.content for p in hostile_qa.search("Duchy,Normandy,founded,Rollo", top_k=MAX_TOP_K)]
    windows = build_windows(reader.tokenizer, QUESTIONS[1], passages)
    per_passage = max(sum(1 for w in windows if w.passage_index == i) for i in range(len(passages)))
    assert per_passage <= 5, per_passage


@pytest.mark.slow
def test_the_service_answers_hostile_text_in_under_a_megabyte(hostile_qa, read_everything) -> None:
    client = service_client(create_app(hostile_qa, api_key="", warm_up=False))
    for question in QUESTIONS:
        request = {"question": question, "top_k": MAX_TOP_K, "max_answers": MAX_ANSWERS}
        response = client.post("/ask", json=request)
        assert response.status_code == 200, response.text
        assert len(response.content) <= RESPONSE_LIMIT
        answers = response.json()["answers"]
        assert answers and all(len(a["sources"]) <= DEFAULT_MAX_SOURCES for a in answers)
        assert all(a["source_count"] >= len(a["sources"]) for a in answers)


def test_the_largest_possible_result_fits_in_a_megabyte() -> None:
    """The bound itself, at the service's limits: every passage a full 1,500 characters of 4-byte UTF-8
    characters, every answer with its 5 sources, titles and headings at their cut length."""
    wide = "\U0001f600" * DEFAULT_MAX_CHARS
    label = "\U0001f600" * (MAX_LABEL_CHARS * 2)
    passages = [
        Passage.from_document(
            Document(id=f"{i:032d}", content=wide, score=1.0,
                     meta={"file": f"/data/{'f' * 200}/{i}.txt", "title": label, "section": label,
                           "page": 1, "pages": [1], "page_offsets": [[1, 0, len(wide)]]})
        )
        for i in range(MAX_TOP_K)
    ]
    by_id = {p.id: p for p in passages}
    answers = []
    for rank in range(MAX_ANSWERS):
        sources = [{"document_id": passages[(rank + k) % MAX_TOP_K].id, "page": 1,
                    "document_offset": {"start": 0, "end": 30}, "page_offset": {"start": 0, "end": 30}}
                   for k in range(DEFAULT_MAX_SOURCES)]
        extracted = ExtractedAnswer(query="q", score=0.5, data=wide[:30],
                                    meta={"sources": sources, "source_count": MAX_TOP_K})
        answers.append(Answer.from_extracted(extracted, by_id))
    body = AskResult("q" * 1000, answers, False, 0.1, passages).to_dict()
    assert sizes(body)[0] <= RESPONSE_LIMIT, sizes(body)
