"""Stock Haystack vs DocQA, in one run: embedding throughput, recall@k, MRR, query latency.

Stock: SentenceTransformersDocumentEmbedder/TextEmbedder (packaged all-MiniLM-L6-v2, default settings) +
FAISSDocumentStore(embedding_dim=384) + FAISSEmbeddingRetriever, InMemoryBM25Retriever,
DocumentJoiner(reciprocal_rank_fusion). DocQA: PassageEmbedder/QueryEmbedder (ONNX int8) + the same FAISS
store inside our LocalDocumentStore (BM25Index + z-score hybrid fusion, ``hybrid_retrieval``).

Corpus: every paragraph of the public SQuAD dev file and of the distractor file (955 passages); queries:
the answerable questions of the public file; gold: the question's own paragraph.

Throughput on a shared 2-core machine is noisy, so besides one full pass each (which also produces the
index), both embedders embed the same sample of passages alternately for ``--rounds`` rounds and the
ratio of the medians is reported. Run by hand; not a test:

    python benchmarks/ingest_retrieve.py [--json] [--rounds 2] [--questions N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--squad", default=str(DATA / "squad2-dev-public.json"))
    ap.add_argument("--distractors", nargs="*", default=[str(DATA / "squad2-distractors.json")])
    ap.add_argument("--rounds", type=int, default=2, help="alternating throughput rounds (default 2)")
    ap.add_argument("--sample", type=int, default=160, help="passages per throughput round (default 160)")
    ap.add_argument("--questions", type=int, default=0, help="ask only the first N questions (0 = all)")
    ap.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = ap.parse_args(argv)
    quiet = False

    import numpy as np
    from haystack import Document
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )
    from haystack_integrations.components.retrievers.faiss import FAISSEmbeddingRetriever
    from haystack_integrations.document_stores.faiss import FAISSDocumentStore

    from docqa.ingest.records import SourceFile, utc_now
    from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
    from docqa.pipelines.document_stores.local.index import InMemoryIndex
    from docqa.pipelines.document_stores.local.store import LocalDocumentStore
    from docqa.pipelines.evaluation.retrieval_eval import evaluate_retrieval, load_squad_corpus
    from docqa.pipelines.model_loading import packaged_embedding_model_dir

    passages, questions = load_squad_corpus(args.squad, args.distractors)
    if args.questions:
        questions = questions[: args.questions]
    _log(f"corpus: {len(passages)} passages, {len(questions)} questions", quiet)
    ks = (1, 5, 10, 20)

    # ----- warm-up (model loading / one-off ONNX export are not throughput) ------------------------------
    t0 = time.perf_counter()
    stock_doc = SentenceTransformersDocumentEmbedder(
        model=str(packaged_embedding_model_dir()), progress_bar=False
    )
    stock_doc.warm_up()
    stock_text = SentenceTransformersTextEmbedder(
        model=str(packaged_embedding_model_dir()), progress_bar=False
    )
    stock_text.warm_up()
    stock_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_doc = PassageEmbedder()
    ours_doc.warm_up()
    ours_q = QueryEmbedder()
    ours_q.warm_up()
    ours_load_s = time.perf_counter() - t0
    backend = ours_doc.encoder.backend
    _log(f"load: stock {stock_load_s:.1f}s, docqa {ours_load_s:.1f}s (backend {backend})", quiet)

    def copies(docs: list[Document]) -> list[Document]:
        return [Document(id=d.id, content=d.content, meta=dict(d.meta)) for d in docs]

    # ----- full pass each: builds the indexes --------------------------------------------------------------
    t0 = time.perf_counter()
    stock_docs = stock_doc.run(documents=copies(passages))["documents"]
    stock_full_s = time.perf_counter() - t0
    _log(f"stock embed: {len(passages) / stock_full_s:.1f} passages/s", quiet)
    t0 = time.perf_counter()
    our_docs = ours_doc.run(documents=copies(passages))["documents"]
    ours_full_s = time.perf_counter() - t0
    _log(f"docqa embed: {len(passages) / ours_full_s:.1f} passages/s", quiet)

    # ----- alternating rounds on a sample (noise control) -----------------------------------------------
    rng = random.Random(13)
    sample = rng.sample(passages, min(args.sample, len(passages)))
    stock_pps: list[float] = []
    ours_pps: list[float] = []
    for r in range(args.rounds):
        for name in (("stock", "docqa") if r % 2 == 0 else ("docqa", "stock")):
            t0 = time.perf_counter()
            if name == "stock":
                stock_doc.run(documents=copies(sample))
                stock_pps.append(len(sample) / (time.perf_counter() - t0))
            else:
                ours_doc.run(documents=copies(sample))
                ours_pps.append(len(sample) / (time.perf_counter() - t0))
        _log(f"round {r + 1}: stock {stock_pps[-1]:.1f} p/s, docqa {ours_pps[-1]:.1f} p/s", quiet)
    stock_med = statistics.median(stock_pps + [len(passages) / stock_full_s])
    ours_med = statistics.median(ours_pps + [len(passages) / ours_full_s])

    # ----- indexes ------------------------------------------------------------------------------------------
    stock_faiss = FAISSDocumentStore(embedding_dim=384)
    stock_faiss.write_documents(stock_docs)
    stock_dense = FAISSEmbeddingRetriever(document_store=stock_faiss, top_k=20)
    mem = InMemoryDocumentStore()
    mem.write_documents(copies(passages))
    stock_bm25 = InMemoryBM25Retriever(document_store=mem, top_k=20)
    joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=20)

    def snapshot_of(docs: list[Document]) -> InMemoryIndex:
        """An in-memory index of embedded passages (one pseudo-file), as ``docqa eval`` builds one."""
        vectors = np.asarray([d.embedding for d in docs], dtype=np.float32)
        plain = [Document(id=d.id, content=d.content, meta=dict(d.meta)) for d in docs]
        source = SourceFile(key="bench", file_name="bench", title="bench", kind="squad", sha256="", size=0,
                            mtime_ns=0, page_lengths=[len(d.content or "") for d in docs],
                            passage_ids=[d.id for d in docs], ingested_at=utc_now())
        return InMemoryIndex.empty("bench", vectors.shape[1]).replace_files(set(), [(source, plain, vectors)])

    our_snapshot = snapshot_of(our_docs)
    t0 = time.perf_counter()
    store = LocalDocumentStore(our_snapshot)  # builds FAISS + the BM25 matrix at once
    bm25_build_s = time.perf_counter() - t0

    # ----- retrieval --------------------------------------------------------------------------------------
    results: dict[str, dict[str, float]] = {}

    stock_q: dict[str, list[float]] = {}
    our_q: dict[str, list[float]] = {}

    def stock_rrf(q: str) -> list[Document]:
        emb = stock_q[q] = stock_text.run(text=q)["embedding"]
        dense = stock_dense.run(query_embedding=emb)["documents"]
        sparse_ = stock_bm25.run(query=q)["documents"]
        return joiner.run(documents=[dense, sparse_])["documents"]

    def ours(q: str) -> list[Document]:
        emb = our_q[q] = ours_q.run(text=q)["embedding"]
        return store.hybrid_retrieval(q, emb, top_k=20)

    _log("evaluating stock RRF ...", quiet)
    results["stock_rrf"] = evaluate_retrieval(stock_rrf, questions, ks)
    _log("evaluating docqa hybrid ...", quiet)
    results["docqa_hybrid"] = evaluate_retrieval(ours, questions, ks)

    # Ablations reuse the query embeddings computed above (their latency excludes query embedding).
    results["stock_dense"] = evaluate_retrieval(
        lambda q: stock_dense.run(query_embedding=stock_q[q])["documents"], questions, ks)
    results["stock_bm25"] = evaluate_retrieval(lambda q: stock_bm25.run(query=q)["documents"], questions, ks)
    results["docqa_dense"] = evaluate_retrieval(
        lambda q: store.embedding_retrieval(our_q[q], top_k=20), questions, ks)
    results["docqa_bm25"] = evaluate_retrieval(lambda q: store.bm25_retrieval(q, top_k=20), questions, ks)
    unigram = LocalDocumentStore(our_snapshot, bm25_parameters={"bigrams": False})
    results["docqa_hybrid_no_bigrams"] = evaluate_retrieval(
        lambda q: unigram.hybrid_retrieval(q, our_q[q], top_k=20), questions, ks)
    results["docqa_rrf60"] = evaluate_retrieval(
        lambda q: store.hybrid_retrieval(q, our_q[q], top_k=20, fusion="rrf", rrf_k=60), questions, ks)
    # Our retrieval on the stock (fp32 torch) vectors: isolates the embedder's effect on recall.
    on_stock = LocalDocumentStore(snapshot_of(stock_docs))
    results["docqa_hybrid_fp32_vectors"] = evaluate_retrieval(
        lambda q: on_stock.hybrid_retrieval(q, stock_q[q], top_k=20), questions, ks)

    base, new = results["stock_rrf"], results["docqa_hybrid"]
    from docqa.pipelines.components.measured_choice import cpu_identity

    cpu = cpu_identity()
    report = {
        "cpu": cpu.to_dict(),
        "corpus": {"passages": len(passages), "questions": len(questions)},
        "embedding": {
            "stock_passages_per_s": round(stock_med, 2),
            "docqa_passages_per_s": round(ours_med, 2),
            "throughput_ratio": round(ours_med / stock_med, 3),
            "stock_rounds_pps": [round(x, 1) for x in stock_pps],
            "docqa_rounds_pps": [round(x, 1) for x in ours_pps],
            "stock_full_pass_s": round(stock_full_s, 2),
            "docqa_full_pass_s": round(ours_full_s, 2),
            "docqa_backend": ours_doc.encoder.backend,
            # how PassageEmbedder's default "auto" chose it: timings and int8 agreement on this CPU
            "docqa_backend_choice": ours_doc.encoder.choice.to_dict(),
            "docqa_load_s": round(ours_load_s, 2),
            "stock_load_s": round(stock_load_s, 2),
        },
        "bm25_build_s": round(bm25_build_s, 3),
        "retrieval": {k: {m: round(v, 4) for m, v in r.items()} for k, r in results.items()},
        "deltas_docqa_vs_stock": {
            m: round(new[m] - base[m], 4) for m in base if m.startswith("recall") or m == "mrr"
        },
        "p50_ratio_docqa_vs_stock": round(new["p50_ms"] / base["p50_ms"], 3),
    }

    print(f"\nCPU: {cpu.describe()} — every figure below was measured on it")
    print(f"{'setup':28s} {'R@1':>6s} {'R@5':>6s} {'R@10':>6s} {'R@20':>6s} {'MRR':>6s} {'p50ms':>7s}")
    for name, r in results.items():
        print(f"{name:28s} {r['recall@1']:6.3f} {r['recall@5']:6.3f} {r['recall@10']:6.3f} "
              f"{r['recall@20']:6.3f} {r['mrr']:6.3f} {r['p50_ms']:7.2f}")
    e = report["embedding"]
    print(f"\nembedding: stock {e['stock_passages_per_s']} p/s, docqa {e['docqa_passages_per_s']} p/s "
          f"-> throughput ratio {e['throughput_ratio']}x (backend {e['docqa_backend']}, "
          f"{e['docqa_backend_choice']['chosen_by']})")
    deltas = report["deltas_docqa_vs_stock"]
    print("recall deltas docqa - stock: " + ", ".join(f"{k} {v:+.4f}" for k, v in deltas.items()))
    print(f"query p50 ratio docqa/stock: {report['p50_ratio_docqa_vs_stock']}")
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
