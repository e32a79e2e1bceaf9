"""The reference for ``benchmarks/throughput.py``: stock Haystack's query pipeline behind the same FastAPI
shape as `docqa serve`'s ``POST /ask``, run by uvicorn the same way.

    python benchmarks/haystack_service.py --index DIR [--reader DIR]

Pipeline: ``SentenceTransformersTextEmbedder`` (the packaged all-MiniLM-L6-v2) →
``InMemoryEmbeddingRetriever`` (top 5) → ``TransformersExtractiveReader`` (the bundled compact reader by
default, torch), over the passages and vectors of DocQA's index ``DIR`` (the same passages
DocQA reads).
FastAPI runs the plain ``def`` endpoint in its thread pool, so concurrent requests run the pipeline
concurrently, as a stock Haystack service would. Prints ``DocQA service ready: URL`` (any free loopback
port) like `docqa serve`.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from pydantic import BaseModel, Field

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_pipeline(index: Path, reader_dir: Path):
    import torch
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersTextEmbedder,
    )
    from haystack_integrations.components.readers.transformers import TransformersExtractiveReader

    from docqa import DocQA
    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    store = InMemoryDocumentStore()
    documents = []
    for _source, passages, vectors in DocQA(index).catalog.export_files():
        for passage, vector in zip(passages, vectors, strict=True):
            documents.append(Document(id=passage.id, content=passage.content, meta=dict(passage.meta),
                                      embedding=[float(x) for x in vector]))
    store.write_documents(documents)
    pipeline = Pipeline()
    pipeline.add_component("embedder", SentenceTransformersTextEmbedder(
        model=str(packaged_embedding_model_dir()), progress_bar=False))
    pipeline.add_component("retriever", InMemoryEmbeddingRetriever(store, top_k=5))
    pipeline.add_component("reader", TransformersExtractiveReader(
        str(reader_dir), top_k=3, model_kwargs={"dtype": torch.float32}))
    pipeline.connect("embedder.embedding", "retriever.query_embedding")
    pipeline.connect("retriever.documents", "reader.documents")
    pipeline.warm_up()
    return pipeline, len(documents)


class AskRequest(BaseModel):
    """The fields of `docqa serve`'s ``POST /ask``."""

    question: str = Field(min_length=1)
    top_k: int = 5
    max_answers: int = 3


def create_app(pipeline):
    from fastapi import FastAPI

    app = FastAPI(title="stock Haystack reference")

    @app.get("/ready")
    def ready() -> dict:
        return {"ready": True}

    @app.post("/ask")
    def ask(request: AskRequest) -> dict:
        out = pipeline.run({"embedder": {"text": request.question},
                            "retriever": {"top_k": request.top_k},
                            "reader": {"query": request.question, "top_k": request.max_answers}})
        answers = [{"text": a.data, "score": float(a.score)} for a in out["reader"]["answers"]]
        return {"question": request.question, "answers": answers}

    return app


def main() -> int:
    import uvicorn

    from docqa.resources import data_path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--reader", type=Path, default=None, help="default: the bundled compact reader")
    args = parser.parse_args()
    pipeline, count = build_pipeline(args.index, args.reader or data_path("compact-reader"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline), log_level="warning"))
    print(f"DocQA service ready: {url} (stock Haystack reference, {count} passages)", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
