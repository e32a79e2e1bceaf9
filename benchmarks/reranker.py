"""The reranker's target table, in one run: DocQA hybrid, hybrid + reranker (for several N) and stock
Haystack RRF on SQuAD 2.0 articles no model was tuned on, with 20 distractor articles indexed.

    python benchmarks/reranker.py --json                       # test articles, the bundled reranker
    python benchmarks/reranker.py --split dev --candidates 10 15 20 30   # choose N on the dev articles
    python benchmarks/reranker.py --reranker /tmp/rr/reranker-L4 --backend onnx-int8
    python benchmarks/reranker.py --query-encoder /tmp/qenc --candidates 10   # a fitted question encoder

Corpus: the paragraphs of the ``--split`` articles of ``squad2-dev-public.json`` (test: Normans,
Steam_engine, Packet_switching, Imperialism — used for no training or choice; dev: Harvard_University,
Force — where N and the runtime are chosen) plus ``squad2-distractors.json``; questions: the split's
answerable questions; gold: the question's own paragraph. Targets (issue 20): hybrid + reranker R@1 ≥ 0.90,
R@5 ≥ 0.98, MRR ≥ 0.93; search + rerank p50 ≤ 400 ms on 2 cores.

- DocQA: ``LocalDocumentStore.hybrid_retrieval`` (query embedding included in the latency; with
  ``--query-encoder DIR`` questions go through that fitted question encoder and the
  ``docqa_hybrid_plain_queries`` rows give the same searches with the packaged MiniLM's question vectors,
  as the product embeds them by default), then
  :class:`~docqa.pipelines.components.rankers.reranker.DocQAReranker` over the top N (its logit fused with
  the hybrid score by the model's weight; ``docqa_rerank_alone@N``: the same logits alone);
- stock Haystack: ``SentenceTransformersTextEmbedder`` + ``InMemoryEmbeddingRetriever``,
  ``InMemoryBM25Retriever``, ``DocumentJoiner(reciprocal_rank_fusion)``. Haystack's
  ``SentenceTransformersSimilarityRanker`` would be the stock reranker, but it needs a cross-encoder from
  the model hub and none is available offline here, so the reference is RRF alone (as the issue allows).

Latencies are per question on this machine (2 shared cores: run when it is quiet; each N's reranking is
timed on the same questions, interleaved with plain search). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
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


def _metrics(ranked: list[list[str]], questions: list[tuple[str, str, str]], ms: list[float]) -> dict:
    from docqa.pipelines.training.reranker_training import rank_metrics

    ranks = [ids.index(gold) + 1 if gold in ids else None for ids, (_, _, gold) in zip(ranked, questions,
                                                                                          strict=True)]
    out = {k: round(v, 4) for k, v in rank_metrics(ranks, (1, 3, 5, 10)).items()}
    ms = sorted(ms)
    out["p50_ms"] = round(statistics.median(ms), 1)
    out["p95_ms"] = round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DATA)
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--reranker", default="bundled", help="reranker directory (default: data/reranker)")
    ap.add_argument("--backend", default="auto", help="auto, torch, onnx-fp32 or onnx-int8")
    ap.add_argument("--candidates", type=int, nargs="+", default=[10, 20, 30], help="values of N")
    ap.add_argument("--retrieval-weight", type=float, default=None,
                    help="fusion weight of retrieval's score (default: the model's reranker.json)")
    ap.add_argument("--questions", type=int, default=0, help="ask only the first N questions (0 = all)")
    ap.add_argument("--json", action="store_true", help="print one JSON object at the end")
    ap.add_argument("--query-encoder", default="same",
                    help="same (the packaged MiniLM embeds questions) or a fitted question encoder's "
                         "directory (scripts/train_query_encoder.py), compared with plain question vectors")
    args = ap.parse_args(argv)
    quiet = False

    from haystack import Document
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack_integrations.components.embedders.sentence_transformers import (
        SentenceTransformersDocumentEmbedder,
        SentenceTransformersTextEmbedder,
    )

    from docqa.config import PACKAGED_EMBEDDING_MODEL
    from docqa.pipelines.components.embedders.query_encoder import query_model_for
    from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
    from docqa.pipelines.components.measured_choice import cpu_identity
    from docqa.pipelines.components.rankers.reranker import DocQAReranker
    from docqa.pipelines.document_stores.local.store import LocalDocumentStore
    from docqa.pipelines.evaluation.retrieval_eval import load_squad_corpus
    from docqa.pipelines.evaluation.run_eval import build_eval_snapshot
    from docqa.pipelines.model_loading import packaged_embedding_model_dir
    from docqa.pipelines.squad import read_squad
    from scripts.make_compact_reader_data import DEV_ARTICLES, TEST_ARTICLES

    articles = TEST_ARTICLES if args.split == "test" else DEV_ARTICLES
    public = json.loads((args.shared / "squad2-dev-public.json").read_text(encoding="utf-8"))
    chosen = {"version": "v2.0", "data": [a for a in public["data"] if a["title"] in articles]}
    tmp = Path("/tmp") / f"reranker-bench-{args.split}.json"
    tmp.write_text(json.dumps(chosen), encoding="utf-8")
    passages, questions = load_squad_corpus(read_squad(tmp), [args.shared / "squad2-distractors.json"])
    if args.questions:
        questions = questions[: args.questions]
    _log(f"{args.split} articles {', '.join(articles)}: {len(passages)} passages, {len(questions)} questions",
         quiet)
    n_max = max(args.candidates)

    embedder, plain_queries = PassageEmbedder(), QueryEmbedder()
    embedder.warm_up()
    plain_queries.warm_up()
    query_model = query_model_for(PACKAGED_EMBEDDING_MODEL, args.query_encoder)
    query_embedder = QueryEmbedder(model=query_model) if query_model != PACKAGED_EMBEDDING_MODEL else None
    if query_embedder is not None:
        query_embedder.warm_up()
    _log(f"questions embedded by {query_model}", quiet)
    store = LocalDocumentStore(build_eval_snapshot(passages, embedder, "bench"))
    reranker = DocQAReranker(model=args.reranker, backend=args.backend, top_k=n_max, candidates=n_max,
                             retrieval_weight=args.retrieval_weight)
    reranker.warm_up()
    # the same model reranking every question (no confidence skip), for the first N
    always = DocQAReranker(model=args.reranker, backend=args.backend, top_k=n_max, candidates=n_max,
                           retrieval_weight=args.retrieval_weight, confident_gap=float("inf"))
    always.warm_up()
    _log(f"reranker {reranker.model_dir} on {reranker.backend_choice.backend} "
         f"({reranker.backend_choice.chosen_by}), retrieval weight {reranker.fusion_weight}", quiet)

    mem = InMemoryDocumentStore()
    stock_doc = SentenceTransformersDocumentEmbedder(model=str(packaged_embedding_model_dir()),
                                                     progress_bar=False)
    stock_doc.warm_up()
    mem.write_documents(stock_doc.run(documents=[Document(id=d.id, content=d.content, meta=dict(d.meta))
                                                 for d in passages])["documents"])
    stock_text = SentenceTransformersTextEmbedder(model=str(packaged_embedding_model_dir()),
                                                  progress_bar=False)
    stock_text.warm_up()
    stock_dense = InMemoryEmbeddingRetriever(document_store=mem, top_k=20)
    stock_bm25 = InMemoryBM25Retriever(document_store=mem, top_k=20)
    joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=20)

    hybrid_ids, hybrid_ms, stock_ids, stock_ms = [], [], [], []
    # the same questions embedded by the packaged MiniLM (before the fitted question encoder shipped)
    plain_ids, plain_ms, plain_reranked, plain_reranked_ms = [], [], [], []
    n_first = args.candidates[0]
    always_ids, always_ms, skipped = [], [], 0
    reranked: dict[int, tuple[list[list[str]], list[float]]] = {n: ([], []) for n in args.candidates}
    alone: list[list[str]] = []  # the first N's logits alone
    for done, (_, question, _) in enumerate(questions, start=1):
        if query_embedder is not None:  # the same search with plain question vectors, and its reranking
            started = time.perf_counter()
            plain_vector = plain_queries.run(text=question)["embedding"]
            plain = store.hybrid_retrieval(question, plain_vector, top_k=n_max)
            plain_ms.append((time.perf_counter() - started) * 1000)
            plain_ids.append([d.id for d in plain])
            started = time.perf_counter()
            top = reranker.run(query=question, documents=plain[:n_first], top_k=n_first)["documents"]
            plain_reranked.append([d.id for d in top] + [d.id for d in plain[n_first:]])
            plain_reranked_ms.append(plain_ms[-1] + (time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        emb = (query_embedder or plain_queries).run(text=question)["embedding"]
        docs = store.hybrid_retrieval(question, emb, top_k=n_max)
        search_ms = (time.perf_counter() - started) * 1000
        hybrid_ids.append([d.id for d in docs])
        hybrid_ms.append(search_ms)
        for n in args.candidates:  # each N reranks its own top N (timed alone) after the same search
            started = time.perf_counter()
            top = reranker.run(query=question, documents=docs[:n], top_k=n)["documents"]
            reranked[n][0].append([d.id for d in top] + [d.id for d in docs[n:]])
            reranked[n][1].append(search_ms + (time.perf_counter() - started) * 1000)
            if n == n_first:
                skipped += bool(top and top[0].meta.get("rerank_skipped"))
                started = time.perf_counter()
                every = always.run(query=question, documents=docs[:n], top_k=n)["documents"]
                always_ids.append([d.id for d in every] + [d.id for d in docs[n:]])
                always_ms.append(search_ms + (time.perf_counter() - started) * 1000)
                by_logit = sorted(every, key=lambda d: -d.meta["rerank_score"])
                alone.append([d.id for d in by_logit] + [d.id for d in docs[n:]])
        started = time.perf_counter()
        dense = stock_dense.run(query_embedding=stock_text.run(text=question)["embedding"])["documents"]
        stock = joiner.run(documents=[dense, stock_bm25.run(query=question)["documents"]])["documents"]
        stock_ms.append((time.perf_counter() - started) * 1000)
        stock_ids.append([d.id for d in stock])
        if done % 100 == 0:
            _log(f"{done}/{len(questions)} questions", quiet)

    results = {"stock_rrf": _metrics(stock_ids, questions, stock_ms),
               "docqa_hybrid": _metrics(hybrid_ids, questions, hybrid_ms)}
    if plain_ids:
        results["docqa_hybrid_plain_queries"] = _metrics(plain_ids, questions, plain_ms)
        results[f"docqa_hybrid_plain_queries_rerank@{n_first}"] = _metrics(
            plain_reranked, questions, plain_reranked_ms)
    for n in args.candidates:
        results[f"docqa_hybrid_rerank@{n}"] = _metrics(reranked[n][0], questions, reranked[n][1])
    results[f"docqa_hybrid_rerank_every_question@{n_first}"] = _metrics(always_ids, questions, always_ms)
    if reranker.fusion_weight:  # the logits without retrieval's score (latency as reranking every question)
        results[f"docqa_rerank_alone@{n_first}"] = _metrics(alone, questions, always_ms)
    stock = results["stock_rrf"]
    for name, row in results.items():
        if name != "stock_rrf":
            row["r1_vs_stock"] = round(row["recall@1"] / max(stock["recall@1"], 1e-9), 3)
            row["mrr_vs_stock"] = round(row["mrr"] / max(stock["mrr"], 1e-9), 3)
    report = {"split": args.split, "articles": list(articles), "passages": len(passages),
              "questions": len(questions), "cpu": cpu_identity().describe(), "query_encoder": query_model,
              "reranker": {"model": str(reranker.model_dir), "backend": reranker.backend_choice.to_dict(),
                           "retrieval_weight": reranker.fusion_weight, "confident_gap": reranker.skip_gap,
                           f"skipped@{n_first}": round(skipped / max(1, len(questions)), 4)},
              "stock_ranker": "none: SentenceTransformersSimilarityRanker needs a hub cross-encoder; "
                              "none is available offline, so the stock reference is RRF alone",
              "targets": {"recall@1": 0.90, "recall@5": 0.98, "mrr": 0.93, "p50_ms": 400},
              "results": results}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{'':28} {'R@1':>6} {'R@5':>6} {'MRR':>6} {'p50 ms':>8} {'p95 ms':>8}")
        for name, row in results.items():
            print(f"{name:28} {row['recall@1']:6.3f} {row['recall@5']:6.3f} {row['mrr']:6.3f} "
                  f"{row['p50_ms']:8.1f} {row['p95_ms']:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
