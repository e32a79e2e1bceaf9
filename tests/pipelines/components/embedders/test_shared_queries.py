"""Questions asked at the same time share the query embedder's passes (with shared reading, and always on
a GPU): each vector is the one the question gets alone, and runtimes whose vectors depend on their
batch-mates (int8) are never shared."""

from __future__ import annotations

import threading

import numpy as np

from docqa.pipelines.components.embedders.sentence_embedders import SentenceEncoder
from docqa.pipelines.components.readers.reader import DocQAReader
from docqa.pipelines.components.readers.shared_batches import SharedBatches
from docqa.pipelines.model_loading import packaged_embedding_model_dir

QUESTIONS = ["When was the Duchy of Normandy founded?", "Who invented packet switching?",
             "What is the efficiency of a steam engine limited by?", "Who was the duke at Hastings?",
             "Rankine cycle", "What replaced reciprocating engines in power stations and why did they?"]


def _concurrently(encoder: SentenceEncoder) -> list[np.ndarray]:
    out: list[np.ndarray | None] = [None] * len(QUESTIONS)
    start = threading.Barrier(len(QUESTIONS))

    def one(i: int) -> None:
        start.wait()
        out[i] = encoder.encode_query(QUESTIONS[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(QUESTIONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out  # type: ignore[return-value]


def test_shared_query_passes_give_each_question_its_own_vector() -> None:
    encoder = SentenceEncoder(packaged_embedding_model_dir(), backend="onnx")
    alone = [encoder.encode([q])[0] for q in QUESTIONS]
    assert encoder.share_queries(window_s=0.05)  # the six meet in one or two passes
    together = _concurrently(encoder)
    for vector, expected in zip(together, alone, strict=True):
        np.testing.assert_allclose(vector, expected, atol=1e-5)
    passes = encoder._query_passes  # noqa: SLF001
    assert passes.calls == len(QUESTIONS) and passes.passes < passes.calls


def test_int8_runtimes_are_never_shared(tiny_qa_model_dir) -> None:
    encoder = SentenceEncoder(packaged_embedding_model_dir(), backend="onnx-int8")
    assert not encoder.share_queries(window_s=0.05)
    alone = [encoder.encode([q])[0] for q in QUESTIONS]
    assert all(np.array_equal(v, a) for v, a in zip(_concurrently(encoder), alone, strict=True))
    reader = DocQAReader(str(tiny_qa_model_dir), backend="onnx-int8")
    assert not reader.share_batches(0.05) and not isinstance(reader._backend, SharedBatches)  # noqa: SLF001
    exact = DocQAReader(str(tiny_qa_model_dir), backend="onnx-fp32")
    assert exact.share_batches(0.05) and isinstance(exact._backend, SharedBatches)  # noqa: SLF001


def test_concurrent_asks_share_query_passes_and_get_their_answers_alone(sample_index, test_reader_dir,
                                                                        monkeypatch) -> None:
    """What a service's users notice: with shared reading on, eight questions asked at once get the answers
    and passages they get asked one by one, and their embeddings took fewer passes than questions."""
    from docqa.pipelines.api import DocQA
    from docqa.pipelines.components.embedders import sentence_embedders

    # The process-wide ``auto`` encoder is whatever this CPU measured fastest (onnx-int8 here, never
    # shared); the exact fp32 runtime stands in for it so that the queries can share passes.
    exact = sentence_embedders.get_encoder(backend="onnx")
    key = (str(exact.model_dir.resolve()), "auto", None)
    monkeypatch.setitem(sentence_embedders._ENCODERS, key, exact)  # noqa: SLF001
    qa = DocQA(sample_index, reader_model=str(test_reader_dir), reader_backend="torch")
    reader = qa.reader()
    plain = reader._backend  # noqa: SLF001 - restored below: the reader is shared by the test process
    questions = QUESTIONS + ["Who did Rollo swear fealty to?", "Where did Donald Davies work?"]
    alone = {q: qa.ask(q, use_faq=False) for q in questions}
    try:
        qa.share_reading(window_s=0.05)
        passes = exact._query_passes  # noqa: SLF001
        assert passes is not None
        out: list = [None] * len(questions)
        start = threading.Barrier(len(questions))

        def one(i: int) -> None:
            start.wait()
            out[i] = qa.ask(questions[i], use_faq=False)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(questions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        reader._backend = plain.inner if isinstance(plain, SharedBatches) else plain  # noqa: SLF001
        exact._query_passes = None  # noqa: SLF001
    assert passes.calls == len(questions) and passes.passes < passes.calls
    for question, result in zip(questions, out, strict=True):
        expected = alone[question]
        assert [a.text for a in result.answers] == [a.text for a in expected.answers]
        assert [p.id for p in result.passages] == [p.id for p in expected.passages]
        assert result.no_answer == expected.no_answer
