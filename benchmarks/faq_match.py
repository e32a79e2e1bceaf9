"""Calibrate the FAQ match threshold: precision and recall of FAQ matching on a paraphrase test set.

    python benchmarks/faq_match.py [--data data/faq_paraphrases.json] [--json]

The set (``data/faq_paraphrases.json``) has curated FAQ entries, reworded questions that must match
their entry, and questions that must match none (unrelated ones, and "hard" ones on the same topic as an
FAQ question that the curated answer would not answer). Every question is embedded with DocQA's query
embedder and matched with :func:`docqa.pipelines.faq.store.best_match` — the code path
``DocQA.ask`` uses.

At a threshold t a question "matches" when its best similarity is >= t:

- precision = right matches / all matches (a wrong FAQ entry or a negative that matches both count
  against it: the user gets a curated answer to a question they did not ask);
- recall = right matches / paraphrases.

The default threshold is the lowest t whose precision on the whole set is >= ``--min-precision``
(default 0.95) at t and at t - 0.01, a margin for embedding noise. Precision first: a wrong curated
answer is worse than reading the documents, and a question that misses the FAQ still gets document
answers plus the nearest FAQ question as a suggestion. Because that choice
is made in-sample on a small set, the same rule is also cross-validated: 5 folds (round-robin over
paraphrases and over negatives), the threshold chosen on four folds and applied to the fifth, counts
pooled -- the out-of-sample estimate to quote. A lexical baseline (word Jaccard of the normalised
questions) goes through the same procedure for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from docqa.pipelines.faq.files import normalise_question  # noqa: E402
from docqa.pipelines.faq.store import best_match  # noqa: E402

FOLDS = 5


@dataclass
class Query:
    text: str
    faq: str | None  # the entry it must match; None for a negative
    fold: int  # 0..FOLDS-1, round-robin within paraphrases and within negatives
    hard: bool = False


def load_set(path: Path) -> tuple[list[dict], list[Query]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    faq = data["faq"]
    ids = {e["id"] for e in faq}
    queries: list[Query] = []
    for n, item in enumerate(data["paraphrases"]):
        if item["faq"] not in ids:
            raise SystemExit(f"{path}: paraphrase {item['query']!r} names unknown FAQ id {item['faq']!r}")
        queries.append(Query(item["query"], item["faq"], n % FOLDS))
    for n, item in enumerate(data["negatives"]):
        queries.append(Query(item["query"], None, n % FOLDS, bool(item.get("hard"))))
    return faq, queries


def scores_embedding(faq: list[dict], queries: list[Query]) -> tuple[list[tuple[str, float]], float]:
    from docqa.pipelines.components.embedders.sentence_embedders import QueryEmbedder

    embedder = QueryEmbedder()
    embedder.warm_up()
    matrix = np.asarray([embedder.run(text=e["question"])["embedding"] for e in faq], dtype=np.float32)
    started = time.perf_counter()
    out = []
    for q in queries:
        row, similarity = best_match(matrix, np.asarray(embedder.run(text=q.text)["embedding"]))
        out.append((faq[row]["id"], similarity))
    per_query_ms = (time.perf_counter() - started) * 1000.0 / max(1, len(queries))
    return out, per_query_ms


_WORD = re.compile(r"\w+")


def scores_jaccard(faq: list[dict], queries: list[Query]) -> list[tuple[str, float]]:
    words = [set(_WORD.findall(normalise_question(e["question"]))) for e in faq]
    out = []
    for q in queries:
        mine = set(_WORD.findall(normalise_question(q.text)))
        sims = [len(mine & w) / max(1, len(mine | w)) for w in words]
        row = int(np.argmax(sims))
        out.append((faq[row]["id"], float(sims[row])))
    return out


def counts(queries: list[Query], scored: list[tuple[str, float]], t: float, folds: set[int] | None) -> dict:
    c = {"right": 0, "wrong_entry": 0, "negatives_matched": 0, "hard_negatives_matched": 0, "positives": 0}
    for q, (best, sim) in zip(queries, scored, strict=True):
        if folds is not None and q.fold not in folds:
            continue
        c["positives"] += q.faq is not None
        if sim < t:
            continue
        if q.faq is None:
            c["negatives_matched"] += 1
            c["hard_negatives_matched"] += q.hard
        elif best == q.faq:
            c["right"] += 1
        else:
            c["wrong_entry"] += 1
    return c


def rates(c: dict, t: float | None = None) -> dict:
    matched = c["right"] + c["wrong_entry"] + c["negatives_matched"]
    out = {"threshold": round(t, 2)} if t is not None else {}
    out["precision"] = c["right"] / matched if matched else 1.0
    out["recall"] = c["right"] / c["positives"] if c["positives"] else 0.0
    out.update({k: v for k, v in c.items() if k != "positives"})
    return out


def metrics(queries, scored, t: float, folds: set[int] | None = None) -> dict:
    return rates(counts(queries, scored, t, folds), t)


MARGIN = 0.01  # the int8 ONNX embedder moves similarities by about this much against fp32 (cosine ~0.994)


def choose(queries, scored, grid, min_precision: float, folds: set[int] | None = None) -> float:
    """The lowest threshold t whose precision stays >= ``min_precision`` at t and at t - MARGIN, so that
    embedding noise of MARGIN cannot push a near-miss negative over the line."""
    for t in grid:
        if all(metrics(queries, scored, t - d, folds)["precision"] >= min_precision for d in (0.0, MARGIN)):
            return float(t)
    return float(grid[-1])


def cross_validate(queries, scored, grid, min_precision: float) -> dict:
    """Choose on four folds, apply to the fifth; pool the held-out counts."""
    keys = ("right", "wrong_entry", "negatives_matched", "hard_negatives_matched", "positives")
    pooled = dict.fromkeys(keys, 0)
    chosen = []
    for fold in range(FOLDS):
        t = choose(queries, scored, grid, min_precision, set(range(FOLDS)) - {fold})
        chosen.append(t)
        for key, value in counts(queries, scored, t, {fold}).items():
            pooled[key] += value
    return {"thresholds_per_fold": chosen, **rates(pooled)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data" / "faq_paraphrases.json")
    parser.add_argument("--min-precision", type=float, default=0.95)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    faq, queries = load_set(args.data)
    scored, per_query_ms = scores_embedding(faq, queries)
    lexical = scores_jaccard(faq, queries)
    grid = [round(x, 2) for x in np.arange(0.50, 0.96, 0.01)]
    chosen = choose(queries, scored, grid, args.min_precision)
    lex_grid = [round(x, 2) for x in np.arange(0.05, 0.96, 0.01)]
    lex_chosen = choose(queries, lexical, lex_grid, args.min_precision)

    pos = [s for q, (b, s) in zip(queries, scored, strict=True) if q.faq is not None and b == q.faq]
    neg = [s for q, (_, s) in zip(queries, scored, strict=True) if q.faq is None]
    wrong_top1 = [
        q.text for q, (b, _) in zip(queries, scored, strict=True) if q.faq is not None and b != q.faq
    ]
    closest_negatives = sorted(
        ((s, q.text) for q, (_, s) in zip(queries, scored, strict=True) if q.faq is None), reverse=True
    )[:5]
    result = {
        "data": str(args.data),
        "faq_entries": len(faq),
        "paraphrases": sum(q.faq is not None for q in queries),
        "negatives": sum(q.faq is None for q in queries),
        "hard_negatives": sum(q.hard for q in queries),
        "embedding_ms_per_question": round(per_query_ms, 2),
        "top1_entry_wrong_for": wrong_top1,
        "closest_negatives": [{"similarity": round(s, 3), "query": t} for s, t in closest_negatives],
        "similarity": {
            "paraphrase_right_entry": {"min": min(pos), "median": float(np.median(pos)), "max": max(pos)},
            "negative_best": {"min": min(neg), "median": float(np.median(neg)), "max": max(neg)},
        },
        "per_threshold": [metrics(queries, scored, t) for t in grid],
        "rule": f"lowest threshold t with precision >= {args.min_precision} at t and t - {MARGIN}",
        "chosen": {
            "threshold": chosen,
            "in_sample": metrics(queries, scored, chosen),
            "cross_validated": cross_validate(queries, scored, grid, args.min_precision),
        },
        "lexical_baseline": {
            "threshold": lex_chosen,
            "in_sample": metrics(queries, lexical, lex_chosen),
            "cross_validated": cross_validate(queries, lexical, lex_grid, args.min_precision),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['faq_entries']} FAQ entries, {result['paraphrases']} paraphrases, "
          f"{result['negatives']} negatives ({result['hard_negatives']} hard); "
          f"{per_query_ms:.1f} ms to embed and match one question")
    s = result["similarity"]
    print(f"similarity of paraphrases to their entry: min {s['paraphrase_right_entry']['min']:.3f}, "
          f"median {s['paraphrase_right_entry']['median']:.3f}; best similarity of negatives: "
          f"median {s['negative_best']['median']:.3f}, max {s['negative_best']['max']:.3f}")
    if wrong_top1:
        print(f"paraphrases whose nearest entry is the wrong one: {wrong_top1}")
    print("closest negatives: " + "; ".join(f"{n['similarity']:.3f} {n['query']!r}" for n in
                                                result["closest_negatives"]))
    print("\nthreshold  precision  recall  right  wrong-entry  negatives-matched (hard)")
    for row in result["per_threshold"]:
        if round(row["threshold"] * 100) % 2 == 0 or row["threshold"] == chosen:
            mark = "  <- chosen" if row["threshold"] == chosen else ""
            print(
                f"  {row['threshold']:.2f}     {row['precision']:.3f}    {row['recall']:.3f}"
                f"  {row['right']:5d}  {row['wrong_entry']:11d}  {row['negatives_matched']:8d}"
                f" ({row['hard_negatives_matched']}){mark}"
            )
    c = result["chosen"]
    print(f"\nchosen threshold {chosen:.2f} ({result['rule']} on all questions):")
    for label, m in (("in-sample", c["in_sample"]), ("5-fold cross-validated", c["cross_validated"])):
        extra = f" (fold thresholds {m['thresholds_per_fold']})" if "thresholds_per_fold" in m else ""
        print(f"  {label}: precision {m['precision']:.3f}, recall {m['recall']:.3f} ({m['right']} right, "
              f"{m['wrong_entry']} wrong entry, {m['negatives_matched']} negatives matched){extra}")
    lb = result["lexical_baseline"]
    print(f"lexical baseline (word Jaccard), same rule, threshold {lb['threshold']:.2f}: "
          f"in-sample precision {lb['in_sample']['precision']:.3f}, recall {lb['in_sample']['recall']:.3f}; "
          f"cross-validated precision {lb['cross_validated']['precision']:.3f}, "
          f"recall {lb['cross_validated']['recall']:.3f}")


if __name__ == "__main__":
    main()
