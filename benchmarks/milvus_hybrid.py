"""Hybrid fusion on Milvus: DocQA's z-score fusion over both candidate lists vs Milvus's own
``hybrid_search`` rankers (RRF, Weighted), with the local store as the reference — same corpus, same query
embeddings, same run.

    python benchmarks/milvus_hybrid.py ../shared/data/squad2-dev-public.json \
        --distractors ../shared/data/squad2-distractors.json --db /tmp/milvus-hybrid.db [--limit 600]

Prints recall@1/5/20, MRR and p50 latency per variant (query embedding excluded: computed once up front,
so the ratios compare the stores), and each variant's p50 as a ratio of the local store's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("squad", type=Path)
    parser.add_argument("--distractors", type=Path, action="append", default=[])
    parser.add_argument("--db", default="/tmp/milvus-hybrid.db")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only")
    args = parser.parse_args()

    from docqa.config import Settings
    from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
    from docqa.pipelines.document_stores.factory import eval_store
    from docqa.pipelines.document_stores.milvus.store import MilvusDocumentStore
    from docqa.pipelines.evaluation.retrieval_eval import evaluate_retrieval, load_squad_corpus
    from docqa.pipelines.evaluation.run_eval import build_eval_snapshot

    model = Settings.from_env().embedding_model
    passages, questions = load_squad_corpus(args.squad, args.distractors)
    if args.limit:
        questions = questions[: args.limit]
    embedder, query_embedder = PassageEmbedder(model=model), QueryEmbedder(model=model)
    embedder.warm_up()
    query_embedder.warm_up()
    print(f"{len(passages)} passages, {len(questions)} questions; embedding...", flush=True)
    snapshot = build_eval_snapshot(passages, embedder, model)
    vectors = {q[1]: query_embedder.run(text=q[1])["embedding"] for q in questions}

    local = eval_store(None, snapshot, model)
    milvus = eval_store(f"milvus-lite://{args.db}?collection=bench", snapshot, model)
    address = milvus.address.spec
    variants = {
        "local zscore (reference)": (local, "hybrid"),
        "milvus + DocQA zscore": (milvus, "hybrid"),
        "milvus hybrid_search RRF": (
            MilvusDocumentStore(f"{address}&hybrid=milvus", embedding_model=model),
            "hybrid",
        ),
        "milvus hybrid_search Weighted": (
            MilvusDocumentStore(f"{address}&hybrid=milvus-weighted", embedding_model=model),
            "hybrid",
        ),
        "local bm25": (local, "bm25"),
        "milvus bm25": (milvus, "bm25"),
        "local dense": (local, "dense"),
        "milvus dense": (milvus, "dense"),
    }
    rows = {}
    for name, (store, mode) in variants.items():
        if mode == "hybrid":
            fn = lambda q, s=store: s.hybrid_retrieval(q, vectors[q], 20)  # noqa: E731
        elif mode == "bm25":
            fn = lambda q, s=store: s.bm25_retrieval(q, 20)  # noqa: E731
        else:
            fn = lambda q, s=store: s.embedding_retrieval(vectors[q], 20)  # noqa: E731
        rows[name] = evaluate_retrieval(fn, questions)
        print(name, "done", flush=True)
    reference = rows["local zscore (reference)"]["p50_ms"]
    print(f"\n{'variant':32} {'R@1':>6} {'R@5':>6} {'R@20':>6} {'MRR':>6} {'p50 ms':>8} {'p50 / local':>11}")
    for name, r in rows.items():
        print(
            f"{name:32} {r['recall@1']:6.3f} {r['recall@5']:6.3f} {r['recall@20']:6.3f} {r['mrr']:6.3f} "
            f"{r['p50_ms']:8.2f} {r['p50_ms'] / reference:10.2f}x"
        )


if __name__ == "__main__":
    main()
