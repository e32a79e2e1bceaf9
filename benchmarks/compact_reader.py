"""Compact reader benchmark (run by hand): its accuracy on the held-out sample articles.

    python benchmarks/compact_reader.py [--reader DIR] [--articles A,B] [--backend torch] [--top-k 5]
        [--every N] [--json]

The bundled compact reader (data/compact-reader, v2) was trained on SQuAD 1.1 train / SQuADShifts and four
public SQuAD 2.0 articles, chosen on Harvard_University and Force; the test articles
(``scripts/make_compact_reader_data.TEST_ARTICLES``: Normans, Steam_engine and Packet_switching — the
articles shipped in data/samples — and Imperialism) played no part, and this script scores their questions
(from ``../shared/data/squad2-dev-public.json``). (Reader v1 was trained on every public article except the
sample ones: compare it with ``--articles Normans,Steam_engine,Packet_switching``.)

1. **Gold passage** — each question with its own SQuAD paragraph, read by ``DocQAReader`` through
   ``docqa.pipelines.evaluation.reader_eval`` (what ``docqa eval --reader`` does): forced-answer HasAns EM/F1
   (the best span is always given), and the null-score rule at the reader's τ (0 unless calibrated) and at
   the best τ *for this set* (an oracle: chosen on the very questions it scores, so read it as a ceiling).
2. **End to end** (questions of the sample articles only) — data/samples ingested into a temporary
   index as a user would (``DocQA.ingest``), the
   top-k passages retrieved by ``DocQA.search`` (hybrid) and read by the same reader: the same metrics,
   plus how often a gold answer text appears in the retrieved passages at all (answer recall@k).

For scale: the reference recipe (lr 8e-5, 3 epochs, on all 10 public articles) scored forced-answer
HasAns EM/F1 38.3/51.6 on 6 *other* unseen SQuAD 2.0 articles — not the same questions.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SQUAD = REPO.parent / "shared" / "data" / "squad2-dev-public.json"
SAMPLES = REPO / "data" / "samples"
sys.path.insert(0, str(REPO / "scripts"))
from make_compact_reader_data import SAMPLE_ARTICLES, TEST_ARTICLES  # noqa: E402  (the one list)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def heldout_examples(articles: list[str], every: int):
    """ReaderExamples (gold paragraph as the passage) of the named articles, every N-th question."""
    from docqa.pipelines.evaluation.reader_eval import load_squad_examples

    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    keep = [a for a in data["data"] if a["title"] in articles]
    missing = sorted(set(articles) - {a["title"] for a in keep})
    if missing:
        raise SystemExit(f"{SQUAD} has no article {', '.join(missing)}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "heldout.json"
        path.write_text(json.dumps({"version": data.get("version", "v2.0"), "data": keep}), encoding="utf-8")
        examples = load_squad_examples(path)
    return examples[::every]


def summarise(examples, runs, reader_tau: float) -> dict[str, float]:
    from docqa.pipelines.evaluation.reader_eval import best_threshold, score_runs

    forced = score_runs(examples, runs, threshold=math.inf)
    at_reader = score_runs(examples, runs, threshold=reader_tau)
    tau, _ = best_threshold(examples, runs)
    oracle = score_runs(examples, runs, threshold=tau)
    no_ans = int(forced["NoAns_total"])
    return {
        "questions": len(examples), "has_ans": int(forced["HasAns_total"]), "no_ans": no_ans,
        "forced_has_ans_exact": forced["HasAns_exact"], "forced_has_ans_f1": forced["HasAns_f1"],
        "reader_tau": reader_tau, "exact": at_reader["exact"], "f1": at_reader["f1"],
        "HasAns_f1": at_reader["HasAns_f1"], "NoAns_f1": at_reader["NoAns_f1"],
        "oracle_tau": tau, "oracle_exact": oracle["exact"], "oracle_f1": oracle["f1"],
        "always_no_answer_f1": 100.0 * no_ans / len(examples) if examples else 0.0,
        "p50_ms": forced["p50_ms"],
    }


def end_to_end(reader, examples, top_k: int):
    """Index data/samples in a temporary directory and read the top-k retrieved passages per question."""
    from haystack import Document

    from docqa.pipelines.api import DocQA
    from docqa.pipelines.evaluation.reader_eval import ReaderExample, read_examples
    from docqa.pipelines.evaluation.squad_metrics import normalize_answer

    with tempfile.TemporaryDirectory() as tmp:
        qa = DocQA(Path(tmp) / "index")
        started = time.perf_counter()
        report = qa.ingest([SAMPLES])
        if not report.ok:
            raise SystemExit(f"ingesting {SAMPLES} failed: {report.to_dict()}")
        log(f"indexed data/samples in {time.perf_counter() - started:.0f} s")
        retrieved, hits = [], 0
        for ex in examples:
            passages = qa.search(ex.question, top_k=top_k)
            docs = [Document(id=p.id, content=p.content, meta=p.meta, score=p.score) for p in passages]
            retrieved.append(ReaderExample(ex.qid, ex.question, docs, ex.answers, ex.is_impossible))
            text = normalize_answer(" ".join(p.content for p in passages))
            if ex.answers and any(normalize_answer(a) and normalize_answer(a) in text for a in ex.answers):
                hits += 1
        runs = read_examples(reader, retrieved, questions_per_batch=4)
    has_ans = sum(1 for ex in examples if ex.answers)
    return retrieved, runs, 100.0 * hits / has_ans if has_ans else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", default="compact", help="reader directory (default: the bundled one)")
    parser.add_argument("--articles", default=",".join(TEST_ARTICLES),
                        help="comma-separated SQuAD 2.0 dev article titles scored with their gold passage")
    parser.add_argument("--backend", default="torch", help="torch (default), onnx-fp32 or onnx-int8")
    parser.add_argument("--top-k", type=int, default=5, help="passages read per question end to end")
    parser.add_argument("--every", type=int, default=1, help="use every N-th question (faster)")
    parser.add_argument("--skip-e2e", action="store_true", help="gold passage only")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if not SQUAD.exists():
        raise SystemExit(f"{SQUAD} not found (development data in ../shared)")

    from docqa.pipelines.components.readers.selection import select_reader
    from docqa.pipelines.evaluation.reader_eval import read_examples

    reader, info = select_reader(args.reader, args.backend, allow_fallback=False)
    tau = reader.threshold()
    articles = [a.strip() for a in args.articles.split(",") if a.strip()]
    examples = heldout_examples(articles, args.every)
    log(f"{len(examples)} held-out questions; reader {info.path} ({args.backend}), τ = {tau}")
    started = time.perf_counter()
    gold_runs = read_examples(reader, examples, questions_per_batch=8)
    results = {"reader": info.path, "backend": args.backend, "articles": articles,
               "gold_passage": summarise(examples, gold_runs, tau)}
    log(f"gold passage read in {time.perf_counter() - started:.0f} s")
    if not args.skip_e2e:
        started = time.perf_counter()
        sample_examples = heldout_examples([a for a in articles if a in SAMPLE_ARTICLES], args.every)
        retrieved, e2e_runs, recall = end_to_end(reader, sample_examples, args.top_k)
        results["end_to_end"] = summarise(retrieved, e2e_runs, tau)
        results["end_to_end"]["answer_recall_at_k"] = recall
        results["end_to_end"]["top_k"] = args.top_k
        log(f"end to end in {time.perf_counter() - started:.0f} s")
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"Compact reader {info.path} [{args.backend}] on held-out articles ({', '.join(articles)}; "
          f"end to end: the sample articles)")
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        print(f"\n{name.replace('_', ' ')}: {r['questions']} questions ({r['has_ans']} answerable, "
              f"{r['no_ans']} unanswerable)" + (f", top-{r['top_k']} passages" if "top_k" in r else ""))
        print(f"  forced answer, HasAns EM/F1      {r['forced_has_ans_exact']:5.1f} / "
              f"{r['forced_has_ans_f1']:5.1f}")
        print(f"  null rule at reader τ={r['reader_tau']:.2f}  EM/F1 {r['exact']:5.1f} / {r['f1']:5.1f} "
              f"(HasAns F1 {r['HasAns_f1']:.1f}, NoAns F1 {r['NoAns_f1']:.1f})")
        print(f"  null rule at oracle τ={r['oracle_tau']:.2f} EM/F1 {r['oracle_exact']:5.1f} / "
              f"{r['oracle_f1']:5.1f}   (always 'no answer': F1 {r['always_no_answer_f1']:.1f})")
        if "answer_recall_at_k" in r:
            print(f"  gold answer text in the retrieved passages: {r['answer_recall_at_k']:.1f}% "
                  "of answerable")
        print(f"  reading p50 {r['p50_ms']:.0f} ms per question")


if __name__ == "__main__":
    main()
