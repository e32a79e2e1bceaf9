"""``benchmarks/feedback_loop.py --improve``: does ``docqa improve`` only ever promote a better reader?

See feedback_loop.py's docstring for the setting (held-out SQuAD article + 20 distractor articles, a
simulated user giving feedback through ``DocQA.ask``/``DocQA.feedback``). Per seed the article's
questions are shuffled; the first max(N) get feedback, the rest are the test questions, which neither
training nor the gate ever sees. Per (seed, N) one row: the gate's decision and figures (held-out split of
the N records, regression set) and the test questions' end-to-end F1 / HasAns F1 / NoAns F1 for the
compact reader and the candidate, each read as the user would get it (τ and answerability judge).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from feedback_loop import (
    HELD_OUT,
    article_questions,
    give_feedback,
    log,
    retrieve,
    save,
    write_documents,
)


def test_scores(reader: Any, examples: list[Any]) -> dict[str, float]:
    from docqa.pipelines.models.improve import per_question_f1

    f1 = per_question_f1(reader, examples)
    has = [x for x, e in zip(f1, examples, strict=True) if not e.is_impossible]
    no = [x for x, e in zip(f1, examples, strict=True) if e.is_impossible]

    def mean(xs: list[float]) -> float:
        return round(sum(xs) / len(xs), 2) if xs else float("nan")

    return {"f1": mean(f1), "HasAns_f1": mean(has), "NoAns_f1": mean(no), "n": len(f1)}


def one_row(
    qa: Any,
    records: list[Any],
    examples: list[Any],
    base_test: dict[str, float],
    seed: int,
    n: int,
    recipe: str,
    settings: Any,
    work: Path,
) -> dict[str, Any]:
    from docqa.pipelines.components.readers.selection import select_reader

    started = time.perf_counter()
    result = qa.improve(
        settings,
        progress=lambda stage, done: (
            log(f"    [{seed}/{n}/{recipe}] {stage}")
            if done < 0 or stage.startswith(("scoring", "training a"))
            else None
        ),
        records=records,
    )
    candidate, _ = select_reader(str(settings.keep_candidate), "torch", allow_fallback=False)
    cand_test = test_scores(candidate, examples)
    would = result.reason.startswith("dry run: promoted")
    tolerance = settings.gate.regression_tolerance
    worse = (
        cand_test["f1"] < base_test["f1"] - tolerance or result.delta["regression_f1"]["mean"] < -tolerance
    )
    row = {
        "seed": seed,
        "n": n,
        "recipe": recipe,
        "would_promote": would,
        "bad_promotion": would and worse,
        "reason": result.reason.removeprefix("dry run: "),
        "data": result.data,
        "gate_delta": result.delta,
        "gate_current": result.current,
        "gate_candidate": result.candidate,
        "training": result.training,
        "test_current": base_test,
        "test_candidate": cand_test,
        "seconds": round(time.perf_counter() - started, 1),
    }
    log(
        f"  seed {seed} N {n} {recipe}: {'PROMOTE' if would else 'keep'} ({row['reason']}); test F1 "
        f"{base_test['f1']:.1f} -> {cand_test['f1']:.1f}, HasAns {base_test['HasAns_f1']:.1f} -> "
        f"{cand_test['HasAns_f1']:.1f}; {row['seconds']:.0f} s"
    )
    return row


def dry_run_settings(seed: int, tmp: Path, **recipe: Any) -> Any:
    """A dry run on the CPU that keeps its candidate (scored on the test questions afterwards)."""
    from docqa.pipelines.models.gate import GateSettings
    from docqa.pipelines.models.improve import ImproveSettings

    return ImproveSettings(seed=seed, dry_run=True, keep_candidate=tmp / "candidate", device="cpu",
                           gate=GateSettings(seed=seed), **recipe)


def run_improve(args: argparse.Namespace) -> None:
    import random

    from docqa.pipelines.api import DocQA
    from docqa.pipelines.components.readers.selection import select_reader
    from docqa.pipelines.models.improve import ImproveSettings

    article = args.article if args.article in HELD_OUT else "Steam_engine"
    paragraphs, questions = article_questions(article)
    biggest = max(args.n)
    results: dict[str, Any] = {
        "article": article,
        "recipe": {
            "lr": args.improve_lr,
            "replay": args.improve_replay,
            "epochs": args.improve_epochs,
            "no_answer_share": args.no_answer_share,
        },
        "seeds": args.seeds,
        "n": args.n,
        "defaults": {k: str(v) for k, v in vars(ImproveSettings()).items()},
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = write_documents(tmp / "documents", article, paragraphs, not args.no_distractors)
        qa = DocQA(tmp / "index", reader_model="compact", reader_backend="torch", reader_fallback=False)
        assert qa.ingest(files).ok
        base_reader, _ = select_reader("compact", "torch", allow_fallback=False)
        for seed in args.seeds:
            order = list(questions)
            random.Random(seed).shuffle(order)
            feedback_questions, test = order[:biggest], order[biggest:]
            if args.test_limit:
                test = test[: args.test_limit]
            first = len(qa.all_feedback())
            counts, stored = give_feedback(qa, feedback_questions)
            log(f"seed {seed}: feedback {counts}")
            examples = retrieve(qa, test, args.top_k)
            base_test = test_scores(base_reader, examples)
            everything = qa.all_feedback()[first:]
            for n in args.n:
                records = everything[: stored[n - 1]]
                recipe = {
                    k: v
                    for k, v in (
                        ("learning_rate", args.improve_lr),
                        ("replay_ratio", args.improve_replay),
                        ("epochs", args.improve_epochs),
                        ("max_no_answer_share", args.no_answer_share),
                    )
                    if v is not None
                }
                guarded = dry_run_settings(seed, tmp, **recipe)
                results["rows"].append(
                    one_row(qa, records, examples, base_test, seed, n, "guarded", guarded, tmp)
                )
                save(results, args.out)
                if n in (args.unguarded_n or []):
                    old = dry_run_settings(seed, tmp, replay_ratio=0.0, max_no_answer_share=1.0,
                                           learning_rate=args.lr, epochs=args.epochs)
                    results["rows"].append(
                        one_row(qa, records, examples, base_test, seed, n, "unguarded", old, tmp)
                    )
                    save(results, args.out)
    rows = results["rows"]
    guarded = [r for r in rows if r["recipe"] == "guarded"]
    results["summary"] = {
        "bad_promotions": sum(r["bad_promotion"] for r in rows),
        "promotions": sum(r["would_promote"] for r in rows),
        "rows": len(rows),
        "guarded_max_seconds": max((r["seconds"] for r in guarded), default=None),
    }
    save(results, args.out)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print_rows(results)


def print_rows(results: dict[str, Any]) -> None:
    print(f"docqa improve on {results['article']} (test questions never trained on nor gated on)")
    header = (
        f"{'seed':>4} {'N':>4} {'recipe':>9} {'decision':>8} {'gate ΔF1 [95% CI]':>22} {'ΔHasAns':>8} "
        f"{'ΔRegr':>6} {'test F1 cur→cand':>17} {'test HasAns cur→cand':>21} {'bad':>4} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in results["rows"]:
        d = r["gate_delta"]
        ci = d["f1"]["ci95"]
        cur, cand = r["test_current"], r["test_candidate"]
        print(
            f"{r['seed']:>4} {r['n']:>4} {r['recipe']:>9} {'promote' if r['would_promote'] else 'keep':>8} "
            f"{d['f1']['mean']:+6.1f} [{ci[0]:+6.1f},{ci[1]:+6.1f}] {d['HasAns_f1']['mean'] or 0:+8.1f} "
            f"{d['regression_f1']['mean']:+6.1f} {cur['f1']:7.1f}→{cand['f1']:5.1f}   "
            f"{cur['HasAns_f1']:9.1f}→{cand['HasAns_f1']:5.1f}   {'BAD' if r['bad_promotion'] else '-':>4} "
            f"{r['seconds']:5.0f}"
        )
    s = results["summary"]
    print(
        f"bad promotions: {s['bad_promotions']} of {s['promotions']} promotions ({s['rows']} rows); "
        f"slowest guarded improve {s['guarded_max_seconds']} s"
    )
