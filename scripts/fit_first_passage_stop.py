"""Whether adaptive reading may stop after the *first* passage: observed and fitted on the dev articles
through the pipeline ``docqa ask`` runs (hybrid → reranker → reader), with and without reranking.

    python scripts/fit_first_passage_stop.py --dev dev.json \\
        --distractors ../shared/data/squad2-distractors.json --rows rows.json [--json]

Why: issue 20 asks that reranking not make ``docqa ask`` slower with the default reader. The cross-encoder
costs ~200 ms on the questions where it runs; the shipped adaptive rule never stops before two passages
(its first checkpoint, fitted on BM25 rankings), so a better order saves no reading. A reranked order
whose best passage stands far above the rest is where the answer comes from, so a checkpoint after one
passage can pay for the cross-encoder — if stopping there rarely changes what the user gets.

For every question of ``--dev`` (answerable and not; the index holds its articles and the distractors)
and each mode (``rerank``, ``plain``), the reader reads the ``--top-k`` passages once; from its logits the
script decodes the result after the first passage and the result the rule without that checkpoint gives
(:data:`~docqa.pipelines.components.readers.adaptive.BASE_RULE`), and records the first passage's retrieval
gap (:func:`~docqa.pipelines.components.readers.adaptive.retrieval_gap` over the passages' scores: fused
scores after reranking), each result's F1 and its share of the reading. The fit chooses the gap that reads
least with at most ``--tolerance`` of the results changed (both modes together). Only the gap: it is
free of the reader, while a margin is in one model's logits (rows keep the compact reader's ``margin1``,
but a threshold on it would mean nothing to the default bert-base reader).
Dev articles only; ``--gap`` reports a chosen gap on other articles, ``benchmarks/answerability.py`` and
``benchmarks/ask_latency.py`` measure what ships.

Where the reranker ran, the fused scores of the five passages are close and the gap rarely fires. The
rows also keep the cross-encoder's logits, and the script fits a second first-passage signal on those
questions, *measured, not shipped*: the first passage's logit lead over every other passage kept
(``rerank_lead``), the smallest lead (reads least) with at most ``--tolerance`` of the reranked
questions' results changed; ``--lead`` reports a given lead on other articles. On the dev articles it
chose 4.5 (30% of the reranked questions read one passage, 1.2% changed), held out it changed 1.3% at
equal F1, but it read only a wrong first passage for the page's "When was the Duchy of Normandy
founded?" (lead 5.76; README, "Adaptive reading").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODES = ("rerank", "plain")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def observe(reader, question: str, golds: list[str], docs) -> dict:
    """One question: the first passage's retrieval gap, and what stopping there would give against the
    shipped rule's result (one forward pass; prefixes decoded from its logits)."""
    from docqa.pipelines.components.readers.adaptive import BASE_RULE, retrieval_gap
    from docqa.pipelines.components.readers.reader import _Question
    from docqa.pipelines.components.readers.span_decoding import decode_windows
    from docqa.pipelines.evaluation.squad_metrics import score_question
    from docqa.pipelines.squad import normalize_answer

    texts = [d.content or "" for d in docs]
    windows = reader._windows(question, texts)
    logits = reader._backend.logits(windows) if windows else []
    tau = reader.threshold()
    scores = [d.score for d in docs]
    total = sum(w.length for w in windows) or 1

    def upto(n: int) -> tuple[float, str, float]:
        keep = [i for i, w in enumerate(windows) if w.passage_index < n]
        decoded = decode_windows([windows[i] for i in keep], [logits[i] for i in keep], texts,
                                 max_answer_length=reader.max_answer_length, top_k=1)
        out = reader._to_output(_Question(question, docs, texts, [windows[i] for i in keep]), decoded, tau)
        said = "" if out["no_answer"] or not out["answers"] else out["answers"][0].data
        cost = sum(windows[i].length for i in keep) / total
        return -decoded.null_score_diff, said, cost

    for _, end in BASE_RULE.batches(len(docs)):  # the last batch ends at len(docs): the loop ends where
        margin, shipped, shipped_cost = upto(end)  # the rule stops or everything has been read
        if end < len(docs) and BASE_RULE.should_stop(end, margin, scores):
            break
    margin1, said1, cost1 = upto(1)
    return {"answerable": bool(golds), "margin1": float(margin1),
            "gap1": retrieval_gap(scores, 1), "shipped_read": end,
            "changed": normalize_answer(said1) != normalize_answer(shipped),
            "f1_first": score_question(golds, said1)[1], "f1_shipped": score_question(golds, shipped)[1],
            "cost_first": cost1, "cost_shipped": shipped_cost,
            "reranked": any((d.meta or {}).get("rerank_score") is not None for d in docs),
            "rerank_logits": [(d.meta or {}).get("rerank_score") for d in docs]}


def rerank_lead(row: dict) -> float | None:
    """The first passage's cross-encoder logit minus the best other one (``None``: not reranked)."""
    logits = row.get("rerank_logits") or []
    if len(logits) < 2 or any(x is None for x in logits):
        return None
    return float(logits[0]) - max(float(x) for x in logits[1:])


def collect(args: argparse.Namespace, reader) -> dict[str, list[dict]]:
    from docqa.pipelines.evaluation.reader_eval import squad_reader_examples
    from docqa.pipelines.evaluation.run_eval import run_retrieval_eval
    from docqa.pipelines.squad import read_squad

    corpus = read_squad(args.dev)
    _, searcher = run_retrieval_eval(corpus, args.distractors, show_progress=False, rerank=True)
    examples = squad_reader_examples(corpus)
    rows: dict[str, list[dict]] = {}
    for mode in MODES:
        rows[mode] = []
        for i, example in enumerate(examples):
            docs = searcher.search(example.question, top_k=args.top_k, rerank=mode == "rerank")
            if docs:
                rows[mode].append(observe(reader, example.question, example.answers, docs))
            if (i + 1) % 100 == 0:
                log(f"[{mode}] {i + 1}/{len(examples)} questions")
    return rows


def apply(rows: list[dict], gap: float, lead: float | None = None) -> dict[str, float]:
    """What a checkpoint-1 rule (stop when the first passage's ``gap1 ≥ gap`` or, given ``lead``, its
    reranker logit leads the others by ``lead``) does to ``rows``."""
    def alone(r: dict) -> bool:
        value = rerank_lead(r) if lead is not None else None
        return value is not None and value >= lead

    stop = [(r["gap1"] is not None and r["gap1"] >= gap) or alone(r) for r in rows]
    pairs = list(zip(stop, rows, strict=True))
    n = max(len(rows), 1)
    return {"questions": len(rows), "stopped_at_1": sum(stop) / n,
            "changed": sum(s and r["changed"] for s, r in pairs) / n,
            "f1": 100 * sum(r["f1_first"] if s else r["f1_shipped"] for s, r in pairs) / n,
            "f1_shipped": 100 * sum(r["f1_shipped"] for r in rows) / n,
            "cost": sum(r["cost_first"] if s else r["cost_shipped"] for s, r in pairs) / n,
            "cost_shipped": sum(r["cost_shipped"] for r in rows) / n}


def least_reading(candidates, result_of, baseline_cost: float, tolerance: float) -> float:
    """Of ``candidates`` (thresholds), the one whose ``result_of(candidate)`` (an :func:`apply` report)
    reads least with at most ``tolerance`` of the results changed; ``inf`` (never) when none reads less
    than ``baseline_cost``."""
    best, best_cost = float("inf"), baseline_cost
    for candidate in candidates:
        result = result_of(candidate)
        if result["changed"] <= tolerance and result["cost"] < best_cost - 1e-9:
            best, best_cost = candidate, result["cost"]
    return best


GAP_GRID = tuple(round(float(g), 2) for g in np.arange(0.5, 1.001, 0.05))  # 0.5 .. 1.0
LEAD_GRID = tuple(round(0.5 * i, 1) for i in range(2, 21))  # 1.0 .. 10.0 logits


def fit(rows: dict[str, list[dict]], tolerance: float) -> float:
    """The checkpoint-1 gap (``inf`` = never) that reads least over both modes with at most ``tolerance``
    of the results changed against the shipped rule."""
    both = [r for mode in MODES for r in rows[mode]]
    return least_reading(GAP_GRID, lambda gap: apply(both, gap), apply(both, float("inf"))["cost"],
                         tolerance)


def fit_lead(rows: dict[str, list[dict]], gap: float, tolerance: float) -> float:
    """The reranker lead (``inf`` = never) that reads least on the reranked questions with at most
    ``tolerance`` of their results changed, the gap ``gap`` applying as well."""
    reranked = [r for r in rows["rerank"] if r["reranked"]]
    baseline = apply(reranked, gap)["cost"] if reranked else 0.0
    return least_reading(LEAD_GRID, lambda lead: apply(reranked, gap, lead), baseline, tolerance)


def print_rows(results: dict[str, dict[str, float]]) -> None:
    for name, r in results.items():
        print(f"{name:<22} {r['questions']:>5} q  stop@1 {r['stopped_at_1']:6.1%}  "
              f"changed {r['changed']:6.1%}  F1 {r['f1_shipped']:5.1f} -> {r['f1']:5.1f}  "
              f"reading {r['cost_shipped']:.2f} -> {r['cost']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, required=True, help="SQuAD file of the dev articles")
    parser.add_argument("--distractors", type=Path, nargs="*", default=[])
    parser.add_argument("--reader", default="compact")
    parser.add_argument("--top-k", type=int, default=5, help="passages read (docqa ask's default)")
    parser.add_argument("--tolerance", type=float, default=0.02, help="share of results allowed to change")
    parser.add_argument("--rows", type=Path, default=None, help="cache of observed rows (read if present)")
    parser.add_argument("--gap", type=float, default=None,
                        help="report this checkpoint-1 gap instead of fitting one (held-out articles)")
    parser.add_argument("--lead", type=float, default=None,
                        help="report this reranker lead instead of fitting one (held-out articles)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from docqa.pipelines.components.readers.reader import DocQAReader
    from docqa.pipelines.components.readers.selection import compact_reader_dir

    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        name = str(compact_reader_dir()) if args.reader == "compact" else args.reader
        reader = DocQAReader(name, backend="torch")
        reader.warm_up()
        rows = collect(args, reader)
        if args.rows:
            args.rows.write_text(json.dumps(rows), encoding="utf-8")
    gap = fit(rows, args.tolerance) if args.gap is None else args.gap
    lead = fit_lead(rows, gap, args.tolerance) if args.lead is None else args.lead
    reranked = [r for r in rows["rerank"] if r["reranked"]]
    answerable = [r for r in reranked if r["answerable"]]
    report = {"tolerance": None if args.gap is not None else args.tolerance, "gap1": gap,
              "modes": {mode: apply(rows[mode], gap) for mode in MODES},
              "reranked_questions": apply(reranked, gap),
              "lead1": lead, "with_lead": {"rerank": apply(rows["rerank"], gap, lead),
                                           "reranked_questions": apply(reranked, gap, lead),
                                           "reranked_answerable": apply(answerable, gap, lead)}}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    how = "given" if args.gap is not None else f"fitted: at most {args.tolerance:.0%} of results changed"
    print(f"checkpoint 1: stop when the first passage's retrieval gap ≥ {gap} ({how})")
    print_rows({**report["modes"], "rerank, reranker ran": report["reranked_questions"]})
    print(f"and (measured, not shipped) when the reranker's first logit leads the others by ≥ {lead}:")
    print_rows(report["with_lead"])

if __name__ == "__main__":
    main()
