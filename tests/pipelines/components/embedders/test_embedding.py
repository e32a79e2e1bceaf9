"""Embedders: unit-length 384-d vectors that rank meaning, loaded once per process, with progress."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from haystack import Document

from pipelines.components.embedders import sentence_embedders as embedding
from pipelines.components.embedders.sentence_embedders import (
    PassageEmbedder,
    QueryEmbedder,
    get_encoder,
    passage_text,
)
from pipelines.model_loading import ModelUnavailableError

PASSAGES = [
    Document(id="n", content="The Normans gave their name to Normandy, a region in France.",
             meta={"title": "Normans"}),
    Document(id="s", content="A steam engine performs mechanical work using steam as its working fluid.",
             meta={"title": "Steam_engine"}),
    Document(id="h", content="Harvard is a private research university in Cambridge, Massachusetts.",
             meta={"title": "Harvard_University"}),
]


@pytest.fixture(scope="module")
def embedded() -> list[Document]:
    emb = PassageEmbedder()
    emb.warm_up()
    return emb.run(documents=PASSAGES)["documents"]


def test_vectors_are_unit_length_float32_384(embedded: list[Document]) -> None:
    vecs = np.asarray([d.embedding for d in embedded])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    raw = get_encoder().encode([d.content for d in PASSAGES])
    assert raw.dtype == np.float32
    assert [d.id for d in embedded] == ["n", "s", "h"]  # order kept (encoding sorts by length inside)
    assert all(d.embedding is None for d in PASSAGES)  # inputs not mutated


def test_query_lands_nearest_its_passage(embedded: list[Document]) -> None:
    q = np.asarray(QueryEmbedder().run(text="Which university is in Cambridge?")["embedding"])
    sims = np.asarray([d.embedding for d in embedded]) @ q
    assert int(np.argmax(sims)) == 2
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-5)


def test_encoder_is_loaded_once_per_process_even_from_threads() -> None:
    first = get_encoder()
    before = embedding.encoder_load_count()
    seen: list[object] = []

    def grab() -> None:
        e = PassageEmbedder()
        e.warm_up()
        seen.append(e.encoder)
        q = QueryEmbedder()
        q.warm_up()
        seen.append(q._encoder)

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(s is first for s in seen) and len(seen) == 8
    assert embedding.encoder_load_count() == before


def test_concurrent_encoding_gives_the_same_vectors() -> None:
    enc = get_encoder()
    texts = [d.content for d in PASSAGES] * 4
    expected = enc.encode(texts)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(enc.encode(texts))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.allclose(r, expected, atol=1e-5) for r in results)


def test_progress_callback_counts_to_total() -> None:
    calls: list[tuple[int, int]] = []
    docs = [Document(content=f"passage number {i} about engines") for i in range(5)]
    PassageEmbedder(batch_size=2, progress=lambda d, t: calls.append((d, t))).run(documents=docs)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    per_call: list[tuple[int, int]] = []
    PassageEmbedder(batch_size=4).run(documents=docs, progress=lambda d, t: per_call.append((d, t)))
    assert per_call[-1] == (5, 5)


def test_fast_backend_matches_sentence_transformers() -> None:
    """The int8 ONNX graph must stay close to the fp32 model it was exported from (recall depends on it)."""
    fast = get_encoder()
    assert fast.backend == "onnx-int8"
    ref = get_encoder(backend="torch")
    long_text = " ".join(d.content for d in PASSAGES) * 8  # > 256 tokens: truncated identically
    texts = [d.content for d in PASSAGES] + ["Who founded the duchy?", long_text]
    cos = np.sum(fast.encode(texts) * ref.encode(texts), axis=1)
    assert cos.min() > 0.97


def test_title_only_prefixed_when_asked() -> None:
    assert passage_text(PASSAGES[1]) == PASSAGES[1].content
    assert passage_text(PASSAGES[1], embed_title=True) == "Steam engine\n" + PASSAGES[1].content


def test_missing_model_raises_actionable_error(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match="DOCQA_EMBEDDING_MODEL"):
        PassageEmbedder(model=str(tmp_path / "no-such-model")).warm_up()
    with pytest.raises(TypeError):
        PassageEmbedder().run(documents=["not a document"])  # type: ignore[list-item]
