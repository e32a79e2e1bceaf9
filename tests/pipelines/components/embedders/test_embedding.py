"""Embedders: unit-length 384-d vectors that rank meaning, loaded once per process, with progress."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from haystack import Document, Pipeline
from haystack.core.errors import SerializationError

from docqa.errors import ConfigError
from docqa.pipelines.components.embedders import sentence_embedders as embedding
from docqa.pipelines.components.embedders.sentence_embedders import (
    EmbeddingBackend,
    PassageEmbedder,
    QueryEmbedder,
    get_encoder,
    passage_text,
)
from docqa.pipelines.model_loading import ModelUnavailableError

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
    fast = get_encoder(backend="onnx-int8")  # the default, auto, may pick another one on this CPU
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


PROGRESS_CALLS: list[tuple[int, int]] = []


def record_progress(done: int, total: int) -> None:
    """A module-level progress callback: the kind to_dict can store by import path."""
    PROGRESS_CALLS.append((done, total))


def test_passage_embedder_round_trips_through_to_dict_and_embeds_the_same(embedded: list[Document]) -> None:
    original = PassageEmbedder(backend="onnx-int8", batch_size=2, embed_title=True, progress=record_progress)
    data = original.to_dict()
    assert data["type"] == "docqa.pipelines.components.embedders.sentence_embedders.PassageEmbedder"
    assert data["init_parameters"]["backend"] == "onnx-int8"
    assert data["init_parameters"]["progress"] == f"{__name__}.record_progress"
    # Haystack imports only allow-listed modules when loading; the caller names the ones it trusts.
    pipeline = Pipeline()
    pipeline.add_component("passages", original)
    loaded = Pipeline.loads(pipeline.dumps(), allowed_modules=["docqa.pipelines", __name__])
    copy = loaded.get_component("passages")
    assert isinstance(copy, PassageEmbedder) and copy._encoder is None
    assert copy.to_dict() == data
    assert copy.progress is record_progress and copy.backend is EmbeddingBackend.ONNX_INT8
    copy.warm_up()
    original.warm_up()
    PROGRESS_CALLS.clear()
    ours = np.asarray([d.embedding for d in original.run(documents=PASSAGES)["documents"]])
    theirs = np.asarray([d.embedding for d in copy.run(documents=PASSAGES)["documents"]])
    assert np.array_equal(ours, theirs)
    assert PROGRESS_CALLS == [(2, 3), (3, 3)] * 2
    # embed_title survived: the vectors differ from the content-only ones of the default embedder
    assert not np.allclose(theirs, np.asarray([d.embedding for d in embedded]), atol=1e-3)


def test_query_embedder_round_trips_inside_a_haystack_pipeline() -> None:
    pipeline = Pipeline()
    pipeline.add_component("query", QueryEmbedder(backend="auto"))
    loaded = Pipeline.loads(pipeline.dumps(), allowed_modules=["docqa.pipelines"]).get_component("query")
    assert QueryEmbedder.from_dict(QueryEmbedder(threads=1).to_dict()).threads == 1
    assert isinstance(loaded, QueryEmbedder) and loaded.to_dict() == QueryEmbedder().to_dict()
    loaded.warm_up()
    text = "Which university is in Cambridge?"
    assert loaded.run(text=text)["embedding"] == QueryEmbedder().run(text=text)["embedding"]


def test_backend_names_are_checked_early_and_listed() -> None:
    with pytest.raises(ConfigError, match="'gpu'; choose one of: auto, onnx-int8, onnx, torch"):
        PassageEmbedder(backend="gpu")
    with pytest.raises(ConfigError, match="choose one of"):
        QueryEmbedder(backend="gpu")
    assert get_encoder(backend=EmbeddingBackend.AUTO) is get_encoder(backend="auto")  # one shared encoder


def test_a_lambda_progress_callback_cannot_be_serialised_and_says_so() -> None:
    with pytest.raises(SerializationError, match="lambda"):
        PassageEmbedder(progress=lambda done, total: None).to_dict()
