"""Adaptive reading, end to end (used by benchmarks/reader.py; runnable alone):

    python benchmarks/reader_adaptive.py [--quick] [--fit] [--json]

Questions of ``../shared/data/squad2-dev-public.json``; passages retrieved by DocQA's BM25 index over
all 955 SQuAD passages (dev + distractors, as in the open-domain evaluation of ../shared/README.md);
read by the shared test reader (``minilm-squad2-test``; it was fine-tuned on this file, so F1 values
are optimistic — they compare full and adaptive reading, they are not accuracy claims).

- ``--fit``: on the questions of :data:`FIT_ARTICLES` only, observe ``best − null`` after each checkpoint
  and whether stopping there changes the result, and print the rule :func:`fit_rule` derives (the one
  shipped as ``adaptive.DEFAULT_RULE`` came from this).
- report: on the questions of the *other* articles (:data:`REPORT_ARTICLES`), per top-k (5/10/20), read
  every question with adaptive reading on and off, interleaved (rotating order), and print seconds per
  question, passages read and F1 (the reader's own τ) of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
SQUAD = SHARED / "data" / "squad2-dev-public.json"
DISTRACTORS = SHARED / "data" / "squad2-distractors.json"
TEST_READER = SHARED / "models" / "minilm-squad2-test"
FIT_ARTICLES = ("European_Union_law", "Harvard_University", "Scottish_Parliament", "Islamism", "Imperialism")
REPORT_ARTICLES = ("Normans", "Steam_engine", "Packet_switching", "French_and_Indian_War", "Force")
CHECKPOINTS = (2, 4, 6)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def corpus_and_questions():
    """BM25 index over every passage of both files; questions by article: ``{title: [(q, golds)]}``."""
    from haystack import Document

    from tests.bm25_reference import BM25Index

    docs, questions = [], {}
    for path in (SQUAD, DISTRACTORS):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for n, paragraph in enumerate(article["paragraphs"]):
                docs.append(Document(id=f"{article['title']}#{n}", content=paragraph["context"],
                                     meta={"title": article["title"]}))
                for qa in paragraph.get("qas", []):
                    golds = [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]]
                    questions.setdefault(article["title"], []).append((qa["question"], golds))
    index = BM25Index()
    index.add_documents(docs)
    return index, questions


def result_key(output) -> tuple[str, bool]:
    from docqa.pipelines.squad import normalize_answer

    answers = output["answers"]
    return (normalize_answer(answers[0].data) if answers else ""), bool(output["no_answer"])


def observe(reader, question: str, docs, tau: float):
    """``best − null`` after each checkpoint and whether stopping there changes the result (one forward
    pass over all windows; prefixes are decoded from its logits)."""
    from docqa.pipelines.components.readers.adaptive import PrefixObservation, retrieval_gap
    from docqa.pipelines.components.readers.qa_windows import build_windows
    from docqa.pipelines.components.readers.reader import _Question
    from docqa.pipelines.components.readers.span_decoding import decode_windows

    texts = [d.content for d in docs]
    windows = build_windows(reader.tokenizer, question, texts, max_seq_length=reader.max_seq_length,
                            stride=reader.stride, max_question_tokens=reader.max_question_tokens)
    logits = reader._backend.logits(windows)

    def decoded_upto(n: int):
        keep = [i for i, w in enumerate(windows) if w.passage_index < n]
        d = decode_windows([windows[i] for i in keep], [logits[i] for i in keep], texts,
                           max_answer_length=reader.max_answer_length, top_k=1)
        return d, reader._to_output(_Question(question, docs, texts, [windows[i] for i in keep]), d, tau)

    _, full = decoded_upto(len(docs))
    total = sum(w.length for w in windows)
    margins, changed, gaps, cost = [], [], [], []
    for n in CHECKPOINTS:
        d, out = decoded_upto(n)
        margins.append(-d.null_score_diff)
        changed.append(result_key(out) != result_key(full))
        gaps.append(retrieval_gap([doc.score for doc in docs], n))
        cost.append(sum(w.length for w in windows if w.passage_index < n) / total)
    return PrefixObservation(margins, changed, gaps, cost)


def fit(reader, index, questions, top_k: int, every: int, tolerance: float):
    from docqa.pipelines.components.readers.adaptive import fit_retrieval_rule, simulate

    tau = reader.threshold()
    observations = []
    for title in FIT_ARTICLES:
        for question, _ in questions[title][::every]:
            observations.append(observe(reader, question, index.retrieve(question, top_k=top_k), tau))
    rule = fit_retrieval_rule(observations, CHECKPOINTS, tolerance)
    changed, cost = simulate(rule, observations)
    log(f"[adaptive fit] {len(observations)} questions of {', '.join(FIT_ARTICLES)}; top-{top_k}; "
        f"tolerance {tolerance:.0%} -> {rule}: {changed:.1%} changed, {cost:.2f} of the tokens read")
    return rule, observations


def report(reader, index, questions, top_ks, every: int) -> list[dict]:
    from docqa.pipelines.evaluation.squad_metrics import squad_v2_metrics

    work = [(q, golds) for title in REPORT_ARTICLES for q, golds in questions[title][::every]]
    rows = []
    for k in top_ks:
        retrieved = [(q, golds, index.retrieve(q, top_k=k)) for q, golds in work]
        reader.run(retrieved[0][0], retrieved[0][2], adaptive=False)  # warm-up
        seconds = {"full": [], "adaptive": []}
        preds = {"full": {}, "adaptive": {}}
        read = []
        for i, (q, _, docs) in enumerate(retrieved):
            for mode in (("full", "adaptive") if i % 2 == 0 else ("adaptive", "full")):
                t0 = time.perf_counter()
                out = reader.run(q, docs, adaptive=mode == "adaptive")
                seconds[mode].append(time.perf_counter() - t0)
                preds[mode][str(i)] = "" if out["no_answer"] or not out["answers"] else out["answers"][0].data
                if mode == "adaptive":
                    read.append(out["passages_read"])
        golds = {str(i): g for i, (_, g, _) in enumerate(retrieved)}
        f1 = {m: squad_v2_metrics(golds, preds[m])["f1"] for m in preds}
        row = {"top_k": k, "questions": len(work),
               "full_s": statistics.mean(seconds["full"]), "adaptive_s": statistics.mean(seconds["adaptive"]),
               "full_f1": f1["full"], "adaptive_f1": f1["adaptive"],
               "passages_read_mean": statistics.mean(read),
               "same_result": sum(preds["full"][x] == preds["adaptive"][x] for x in golds) / len(golds)}
        row["speedup"] = row["full_s"] / row["adaptive_s"]
        row["passages_read"] = read
        row["f1_delta"] = row["adaptive_f1"] - row["full_f1"]
        log(f"[adaptive] top-{k}: full {row['full_s']:.3f} s F1 {row['full_f1']:.2f} | adaptive "
            f"{row['adaptive_s']:.3f} s F1 {row['adaptive_f1']:.2f} ({row['passages_read_mean']:.1f} "
            f"passages read) -> {row['speedup']:.2f}x, F1 {row['f1_delta']:+.2f}")
        rows.append(row)
    return rows


def bench_adaptive(quick: bool, do_fit: bool = False, every: int = 4, replay: int = 30) -> dict:
    from docqa.pipelines.components.readers.reader import DocQAReader

    reader = DocQAReader(str(TEST_READER))
    reader.warm_up()
    index, questions = corpus_and_questions()
    result: dict = {"adaptive_reader": TEST_READER.name, "adaptive_backend": reader.active_backend,
                    "adaptive_rule": {"checkpoints": list(reader.adaptive_rule.checkpoints),
                                      "margins": list(reader.adaptive_rule.margins),
                                      "retrieval_gaps": list(reader.adaptive_rule.retrieval_gaps or [])},
                    "adaptive_fit_articles": list(FIT_ARTICLES),
                    "adaptive_report_articles": list(REPORT_ARTICLES), "retrieval": "bm25"}
    if do_fit:
        rule, _ = fit(reader, index, questions, top_k=10, every=4 if quick else 2, tolerance=0.05)
        result["adaptive_fitted_rule"] = {"checkpoints": list(rule.checkpoints),
                                          "margins": list(rule.margins),
                                          "retrieval_gaps": list(rule.retrieval_gaps or [])}
    rows = report(reader, index, questions, (5, 10, 20), every=40 if quick else every)
    at10 = next(r for r in rows if r["top_k"] == 10)
    result["adaptive_speedup"] = at10["speedup"]
    result["adaptive_f1_delta"] = at10["f1_delta"]
    if replay:
        result.update(replay_on_bert_base(index, questions, at10, every=40 if quick else every,
                                          limit=6 if quick else replay))
    for row in rows:
        row.pop("passages_read", None)
    result["adaptive_table"] = rows
    return result


def replay_on_bert_base(index, questions, at10: dict, every: int, limit: int) -> dict:
    """Seconds per question on the random bert-base (the speed model of benchmarks/reader.py) for the
    first ``limit`` top-10 report questions: reading all 10 passages vs reading, in the rule's batches,
    exactly the passages the test reader's adaptive run read (interleaved, rotating order)."""
    import tempfile

    from benchmarks.reader import build_bert_base
    from docqa.pipelines.components.readers.adaptive import AdaptiveRule
    from docqa.pipelines.components.readers.reader import DocQAReader

    work = [q for title in REPORT_ARTICLES for q, _ in questions[title][::every]][:limit]
    read = at10["passages_read"][:limit]
    with tempfile.TemporaryDirectory(prefix="docqa-adaptive-") as tmp:
        reader = DocQAReader(str(build_bert_base(Path(tmp) / "bert-base-random")))
        reader.warm_up()
        base = reader.adaptive_rule
        seconds = {"full": [], "adaptive": []}
        reader.run(work[0], index.retrieve(work[0], top_k=10), adaptive=False)  # warm-up
        for i, (q, n) in enumerate(zip(work, read, strict=False)):
            docs = index.retrieve(q, top_k=10)
            # stop exactly where the test reader stopped (never, if it read all 10)
            stop = tuple(-1e9 if c == n else float("inf") for c in base.checkpoints)
            forced = AdaptiveRule(base.checkpoints, stop, tuple(float("-inf") if c == n else float("inf")
                                                                 for c in base.checkpoints))
            for mode in (("full", "adaptive") if i % 2 == 0 else ("adaptive", "full")):
                reader.adaptive_rule = forced
                t0 = time.perf_counter()
                out = reader.run(q, docs, adaptive=mode == "adaptive")
                seconds[mode].append(time.perf_counter() - t0)
                if mode == "adaptive":
                    assert out["passages_read"] == n, (out["passages_read"], n)
        backend = reader.active_backend
    full, adaptive = statistics.mean(seconds["full"]), statistics.mean(seconds["adaptive"])
    log(f"[adaptive] bert-base random ({backend}), {len(work)} top-10 questions replaying the test "
        f"reader's stops: full {full:.3f} s, adaptive {adaptive:.3f} s -> {full / adaptive:.2f}x")
    return {"adaptive_bert_base_full_s": full, "adaptive_bert_base_s": adaptive,
            "adaptive_speedup_bert_base": full / adaptive, "adaptive_bert_base_questions": len(work),
            "adaptive_bert_base_backend": backend}


def print_table(rows) -> None:
    print("Adaptive reading (test reader, BM25, articles not used for fitting):")
    print("| top-k | full s/q | full F1 | adaptive s/q | adaptive F1 | passages read | speed-up "
          "| same result |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['top_k']} | {r['full_s']:.3f} | {r['full_f1']:.2f} | {r['adaptive_s']:.3f} | "
              f"{r['adaptive_f1']:.2f} | {r['passages_read_mean']:.1f} | {r['speedup']:.2f}x | "
              f"{r['same_result']:.1%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fit", action="store_true", help="fit the rule on FIT_ARTICLES first")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--every", type=int, default=4, help="every N-th question of the report articles")
    parser.add_argument("--replay", type=int, default=30,
                        help="top-10 questions replayed on the random bert-base for seconds (0: skip)")
    args = parser.parse_args()
    from docqa.pipelines.components.measured_choice import cpu_identity

    print(f"CPU: {cpu_identity().describe()}")
    result = bench_adaptive(args.quick, args.fit, args.every, args.replay)
    print_table(result["adaptive_table"])
    if "adaptive_speedup_bert_base" in result:
        print(f"Top-10 on the random bert-base ({result['adaptive_bert_base_backend']}, "
              f"{result['adaptive_bert_base_questions']} questions, same stops): "
              f"{result['adaptive_speedup_bert_base']:.2f}x fewer seconds per question")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
