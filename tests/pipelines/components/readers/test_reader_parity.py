"""Parity with Haystack's TransformersExtractiveReader (the reference): same top answers and offsets.

Haystack's reader has no answer-length limit and does not pass BERT segment ids; the tiny fixture models
have equal segment embeddings (see tests/model_fixtures.py) and we run with ``max_answer_length=None``,
so both readers see identical logits and any difference would be ours: windows, offsets or ranking.
"""

from __future__ import annotations

import pytest
import torch
from haystack import Document
from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

from docqa.pipelines.components.readers.reader import DocQAReader

LONG = " ".join(
    f"In year {1000 + i} the Normans built castle number {i} near the river Seine, far from Paris."
    for i in range(60)
)  # about 1,300 tokens: several windows of 384
UNICODE = "Zürich liegt an der Limmat. Ænima, café, naïve résumé — Köln und 東京 sind Städte. Straße 911."
CASED = "The Normans founded Normandy in 911. Rollo was the Duchy founder; the Seine flows to Paris."
QUESTIONS = ["Who founded Normandy?", "Which river flows near Paris?", "What was built in year 1042?",
             "Where is Zürich?"]


def _reference(model_dir: str) -> TransformersExtractiveReader:
    reader = TransformersExtractiveReader(model_dir, no_answer=False, top_k=5,
                                          model_kwargs={"dtype": torch.float32})
    reader.warm_up()
    return reader


def _top(answer):
    return answer.data, answer.document.id, answer.document_offset.start, answer.document_offset.end


def _assert_same_top_answers(ours, theirs, questions, docs):
    for question in questions:
        mine = ours.run(question, docs)["answers"]
        reference = theirs.run(question, docs)["answers"]
        assert _top(mine[0]) == _top(reference[0]), question
        doc = {d.id: d for d in docs}[mine[0].document.id]
        assert doc.content[mine[0].document_offset.start : mine[0].document_offset.end] == mine[0].data


@pytest.mark.parametrize("batch_size", [1, 4])
def test_parity_tiny_uncased_model_long_unicode_several_passages(tiny_qa_model_dir, batch_size):
    docs = [Document(content=LONG), Document(content=UNICODE), Document(content=CASED),
            Document(content="")]
    ours = DocQAReader(str(tiny_qa_model_dir), backend="torch", max_answer_length=None, batch_size=batch_size,
                       adaptive=False)
    _assert_same_top_answers(ours, _reference(str(tiny_qa_model_dir)), QUESTIONS, docs)


def test_parity_tiny_cased_model(tiny_cased_qa_model_dir):
    docs = [Document(content=CASED), Document(content=UNICODE), Document(content=LONG)]
    ours = DocQAReader(str(tiny_cased_qa_model_dir), backend="torch", max_answer_length=None, adaptive=False)
    _assert_same_top_answers(ours, _reference(str(tiny_cased_qa_model_dir)), QUESTIONS, docs)


def test_parity_onnx_fp32_backend(tiny_qa_model_dir):
    docs = [Document(content=LONG), Document(content=UNICODE)]
    ours = DocQAReader(str(tiny_qa_model_dir), backend="onnx-fp32", max_answer_length=None, adaptive=False)
    _assert_same_top_answers(ours, _reference(str(tiny_qa_model_dir)), QUESTIONS[:2], docs)


@pytest.mark.slow
def test_parity_with_test_reader_on_easy_squad_questions(test_reader_dir, shared_dir):
    import json

    data = json.loads((shared_dir / "data" / "squad2-dev-public.json").read_text())
    paragraphs = data["data"][0]["paragraphs"]
    normans = paragraphs[0]["context"]
    # the gold paragraph, a long passage (> one window) and other paragraphs of the article
    docs = [Document(content=p["context"]) for p in paragraphs[1:4]]
    docs += [Document(content=normans), Document(content=" ".join(p["context"] for p in paragraphs[4:9]))]
    ours = DocQAReader(str(test_reader_dir), backend="torch", max_answer_length=None, adaptive=False)
    theirs = _reference(str(test_reader_dir))
    expected = {"Who was the Norse leader?": "Rollo",
                "When were the Normans in Normandy?": "10th and 11th centuries"}
    for question, gold in expected.items():
        mine = ours.run(question, docs)["answers"][0]
        reference = theirs.run(question, docs)["answers"][0]
        assert mine.data == gold == reference.data
        assert _top(mine) == _top(reference)
