"""Hybrid retrieval under junk and keyword stuffing, in one run: DocQA as shipped, DocQA with plain BM25
statistics (the plain mean passage length, no stuffing rule) and stock Haystack RRF, on the same vectors.

    python benchmarks/retrieval_attacks.py --json                # test articles
    python benchmarks/retrieval_attacks.py --split dev           # where the rule's limit was looked at

Corpus: the ``--split`` articles of ``squad2-dev-public.json`` (test: Normans, Steam_engine,
Packet_switching, Imperialism; dev: Harvard_University, Force) plus ``squad2-distractors.json``; questions:
the split's answerable questions; gold: the question's own paragraph. Four indexes of that corpus:

- ``clean``: nothing added;
- ``junk``: plus 4,000 passages of one 1,200-letter "word" (what a 5 MB file without a space becomes):
  nearly empty for BM25, they pull the plain mean passage length down ~30 times;
- ``stuffed``: plus, for *every* question, a 1 KB passage of that question's words repeated
  ("Duchy,Normandy,founded,Duchy,...") — the worst case: someone who knows the question;
- ``stuffed+junk``: both.

Reported per index: R@1, R@5, MRR of the gold passage and ``hijacked``, the share of questions whose first
result is an added passage. Stock Haystack: ``InMemoryBM25Retriever`` + ``InMemoryEmbeddingRetriever`` on
the same MiniLM vectors, ``DocumentJoiner(reciprocal_rank_fusion)``. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
JUNK_PASSAGES = 4000


def _metrics(ranked: Sequence[Sequence[str]], golds: Sequence[str]) -> dict[str, float]:
    n = max(1, len(golds))
    r1 = r5 = mrr = hijacked = 0.0
    for ids, gold in zip(ranked, golds, strict=True):
        if gold in ids:
            rank = list(ids).index(gold) + 1
            r1 += rank == 1
            r5 += rank <= 5
            mrr += 1.0 / rank
        hijacked += bool(ids) and ids[0].startswith(("stuffed-", "junk-"))
    return {"recall@1": round(r1 / n, 3), "recall@5": round(r5 / n, 3), "mrr": round(mrr / n, 3),
            "hijacked": round(hijacked / n, 3)}


@contextmanager
def plain_bm25() -> object:
    """BM25 as before: the plain mean length and no stuffing rule (module switches, restored after)."""
    from docqa.pipelines.document_stores import analysis
    from docqa.pipelines.document_stores.local import searcher

    saved = searcher.AVERAGE_LENGTH, analysis.REPETITION_LIMIT
    searcher.AVERAGE_LENGTH, analysis.REPETITION_LIMIT = "mean", float("inf")
    try:
        yield None
    finally:
        searcher.AVERAGE_LENGTH, analysis.REPETITION_LIMIT = saved


def stuffed_passage(question: str, i: int) -> tuple[str, str]:
    """(id, text): the question's non-stop words, comma-joined and repeated to 1,000 characters."""
    from docqa.pipelines.document_stores.analysis import ENGLISH_STOPWORDS

    words = [w for w in re.findall(r"[^\W_]+", question) if w.lower() not in ENGLISH_STOPWORDS] or ["x"]
    return f"stuffed-{i}", ",".join(words * 200)[:1000]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DATA)
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = ap.parse_args(argv)

    import numpy as np
    from haystack import Document

    from docqa.pipelines.components.embedders.sentence_embedders import PassageEmbedder, QueryEmbedder
    from docqa.pipelines.components.measured_choice import cpu_identity
    from docqa.pipelines.document_stores.local.store import LocalDocumentStore
    from docqa.pipelines.evaluation.retrieval_eval import load_squad_corpus
    from docqa.pipelines.evaluation.run_eval import build_eval_snapshot
    from docqa.pipelines.squad import read_squad
    from scripts.make_compact_reader_data import DEV_ARTICLES, TEST_ARTICLES

    articles = TEST_ARTICLES if args.split == "test" else DEV_ARTICLES
    public = json.loads((args.shared / "squad2-dev-public.json").read_text(encoding="utf-8"))
    tmp = Path("/tmp") / f"retrieval-attacks-{args.split}.json"
    chosen = [a for a in public["data"] if a["title"] in articles]
    tmp.write_text(json.dumps({"version": "v2.0", "data": chosen}), encoding="utf-8")
    passages, questions = load_squad_corpus(read_squad(tmp), [args.shared / "squad2-distractors.json"])
    golds = [gold for _, _, gold in questions]
    embedder, query_embedder = PassageEmbedder(), QueryEmbedder()
    embedder.warm_up()
    query_embedder.warm_up()
    vectors = [np.asarray(query_embedder.run(text=q)["embedding"], dtype=np.float32) for _, q, _ in questions]
    stuffed = [Document(id=i, content=text, meta={"title": f"notes {n}"})
               for n, (i, text) in enumerate(stuffed_passage(q, n) for n, (_, q, _) in enumerate(questions))]
    junk = [Document(id=f"junk-{i}", content="a" * 1200, meta={"title": "oneword"})
            for i in range(JUNK_PASSAGES)]
    setups = {"clean": passages, "junk": passages + junk, "stuffed": passages + stuffed,
              "stuffed+junk": passages + stuffed + junk}
    print(f"{args.split}: {len(passages)} passages, {len(questions)} questions", file=sys.stderr)

    results: dict[str, dict[str, dict[str, float]]] = {"docqa": {}, "docqa_plain_bm25": {}, "stock_rrf": {}}
    for name, docs in setups.items():
        # embedded once per index, for DocQA's and stock Haystack's store alike (the int8 embedder's vectors
        # move a little with the batch, so each index embeds its own passages, as a real ingest would)
        embedded = _Embedded(embedder, docs)
        store = LocalDocumentStore(build_eval_snapshot(docs, embedded, "bench"))

        def docqa(store: LocalDocumentStore = store) -> list[list[str]]:
            return [[d.id for d in store.hybrid_retrieval(q, v, top_k=10)]
                    for (_, q, _), v in zip(questions, vectors, strict=True)]

        results["docqa"][name] = _metrics(docqa(), golds)
        with plain_bm25():
            results["docqa_plain_bm25"][name] = _metrics(docqa(), golds)
        stock = _stock(embedded.run(docs)["documents"], questions, vectors)
        results["stock_rrf"][name] = _metrics(stock, golds)
        print(name, {k: v[name] for k, v in results.items()}, file=sys.stderr)
    for name in setups:
        stock = results["stock_rrf"][name]
        for engine in ("docqa", "docqa_plain_bm25"):
            row = results[engine][name]
            row["r1_vs_stock"] = round(row["recall@1"] / max(stock["recall@1"], 1e-9), 3)
    report = {"split": args.split, "articles": list(articles), "passages": len(passages),
              "questions": len(questions), "junk_passages": JUNK_PASSAGES, "cpu": cpu_identity().describe(),
              "results": results}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{'':18} {'index':13} {'R@1':>6} {'R@5':>6} {'MRR':>6} {'hijacked':>9} {'R@1 vs stock':>13}")
        for engine, rows in results.items():
            for name, row in rows.items():
                print(f"{engine:18} {name:13} {row['recall@1']:6.3f} {row['recall@5']:6.3f} "
                      f"{row['mrr']:6.3f} {row['hijacked']:9.3f} {row.get('r1_vs_stock', 1.0):13.3f}")
    return 0


class _Embedded:
    """``documents`` embedded once by ``embedder``, handed out as ``embedder.run`` would."""

    def __init__(self, embedder: Any, documents: list) -> None:
        self.encoder = embedder.encoder
        self.by_id = {d.id: d for d in embedder.run(documents=documents)["documents"]}

    def run(self, documents: list, progress: Any = None) -> dict[str, list]:
        return {"documents": [self.by_id[d.id] for d in documents]}


def _stock(embedded: list, questions: Sequence, vectors: Sequence) -> list[list[str]]:
    """Stock Haystack hybrid (RRF) over the same passages and the same MiniLM vectors."""
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    mem = InMemoryDocumentStore()
    mem.write_documents(embedded)
    bm25 = InMemoryBM25Retriever(document_store=mem, top_k=20)
    dense = InMemoryEmbeddingRetriever(document_store=mem, top_k=20)
    joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=10)
    return [[d.id for d in joiner.run(documents=[dense.run(query_embedding=list(map(float, v)))["documents"],
                                                  bm25.run(query=q)["documents"]])["documents"]]
            for (_, q, _), v in zip(questions, vectors, strict=True)]


if __name__ == "__main__":
    raise SystemExit(main())
