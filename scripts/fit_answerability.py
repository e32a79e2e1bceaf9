"""Fit the "not in your documents" model of a reader and ship it (and its τ) in the reader's directory.

    python scripts/fit_answerability.py --reader compact --dev /tmp/compact-data/dev.json \\
        --off /tmp/compact-data/dev-cpu.json --distractors ../shared/data/squad2-distractors.json

1. **Rows**: ``--dev`` paragraphs and the distractors are indexed; the ``--dev`` questions (in corpus) and
   the ``--off`` questions (their articles are not indexed: off corpus) are asked end to end (hybrid
   top-k, as ``docqa ask``), each giving the features of
   :data:`~docqa.pipelines.components.readers.answerability.FEATURES`.
2. **Answerability** (``answerability.json``): a logistic model of "is it in the documents": label 1 = an
   answerable in-corpus question, 0 = an off-corpus one (SQuAD 2.0's in-corpus unanswerable questions are
   the τ rule's job and are left out of this fit; they still count in the scores below).
3. **τ and the model's threshold, together** (``--tau joint``, the default): the pair that gives the best
   in-corpus SQuAD 2.0 F1 while at most ``--max-off-rate`` of the off-corpus questions get a confident
   answer and in-corpus HasAns F1 drops at most ``--max-hasans-drop`` points against answering every
   question — the targets of the answerability issue, as constraints; τ goes to ``calibration.json``.
   ``--tau gold`` writes the τ maximising gold-passage F1 instead (SQuAD 2.0's own calibration, which
   ignores off-corpus questions) and fits only the threshold; ``--tau keep`` leaves calibration.json.

``--two-fold`` (no ``--off``): the ``--dev`` articles are split in two halves; each half is indexed in turn
while the other half's questions are asked off corpus. Every row then comes from articles the reader
never trained on (``--dev`` = the reader's dev articles), which matters because the reader's margin is a
feature: on questions it trained on, the margin is over-confident.

Run by hand with ``../shared`` present; the test articles must not be among ``--dev``/``--off``.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", default="compact", help="reader model (directory, Hub id or 'compact')")
    parser.add_argument("--dev", type=Path, required=True, help="SQuAD 2.0 file: in-corpus questions")
    parser.add_argument("--off", type=Path, nargs="+", default=[],
                        help="SQuAD files: off-corpus questions")
    parser.add_argument("--two-fold", action="store_true",
                        help="no --off: each half of --dev's articles is asked off corpus while the other "
                             "half is indexed")
    parser.add_argument("--distractors", type=Path, nargs="*", default=[])
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--max-off-rate", type=float, default=0.04,
                        help="off-corpus questions allowed a confident answer (share)")
    parser.add_argument("--max-hasans-drop", type=float, default=3.0,
                        help="in-corpus HasAns F1 points allowed below answering every question")
    parser.add_argument("--tau", choices=("joint", "gold", "keep"), default="joint",
                        help="how τ is set: with the answerability threshold (joint), from gold-passage F1 "
                             "(gold), or left as shipped (keep)")
    parser.add_argument("--off-limit", type=int, default=800, help="at most this many off-corpus questions")
    parser.add_argument("--rows", type=Path, default=None,
                        help="cache of asked rows: read when present (refit without reading), else written")
    parser.add_argument("--rerank", action="store_true",
                        help="ask through the bundled reranker, as docqa ask does, and fit "
                             "answerability-rerank.json with its score (τ is kept: one per reader)")
    args = parser.parse_args()
    if bool(args.off) == args.two_fold:
        parser.error("give --off FILE... or --two-fold (one of them)")
    if args.rerank and args.tau != "keep":
        parser.error("--rerank fits the reranked passages' model at the reader's τ: add --tau keep")

    from docqa.pipelines.components.readers.answerability import (
        FEATURES,
        RERANK_FEATURES,
        AnswerabilityModel,
        fit_logistic,
    )
    from docqa.pipelines.components.readers.reader import DocQAReader
    from docqa.pipelines.components.readers.selection import compact_reader_dir
    from docqa.pipelines.evaluation.answerability_eval import decisions, summarise
    from docqa.pipelines.evaluation.reader_eval import best_threshold, read_examples, squad_reader_examples
    from docqa.pipelines.squad import read_squad

    name = args.reader if args.reader != "compact" else str(compact_reader_dir())
    reader = DocQAReader(name, backend="torch")
    reader.warm_up()
    model_dir = Path(reader.model_dir)
    dev = read_squad(args.dev)
    gold = squad_reader_examples(dev)
    tau = reader.threshold()
    if args.tau == "gold":
        tau, f1 = best_threshold(gold, read_examples(reader, gold, questions_per_batch=8))
        _write_tau(model_dir, tau, f"{args.dev.name} (gold passage, F1 {f1:.1f})")
        reader.no_answer_threshold = tau

    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        rows = _ask_all(args, reader, dev, gold)
        if args.rows:
            args.rows.write_text(json.dumps(rows), encoding="utf-8")
    fit_rows = [r for r in rows if r["origin"] == "off" or r["answerable"]]
    features = RERANK_FEATURES if args.rerank else FEATURES
    if args.rerank and any("rerank_top" not in r for r in rows):
        raise SystemExit("--rerank: some rows were asked without the reranker (a --rows file from a run "
                         "without --rerank?)")
    weights, bias, means, scales = fit_logistic(fit_rows, [int(r["origin"] == "in") for r in fit_rows],
                                                features=features)
    model = AnswerabilityModel(weights, bias, means, scales, threshold=0.5, features=features)
    taus = [float(t) for t in np.arange(-20.0, 20.01, 0.5)] if args.tau == "joint" else [tau]
    chosen = best_operating_point(rows, model, taus, args.max_off_rate, args.max_hasans_drop)
    if chosen is None:
        raise SystemExit(f"no τ and threshold keep the off-corpus answered rate <= {args.max_off_rate} and "
                         f"the HasAns F1 drop <= {args.max_hasans_drop} on this data; relax one of them")
    tau, cut = chosen
    summary = summarise(rows, decisions(rows, model, cut, tau=tau))
    if args.tau == "joint":
        _write_tau(model_dir, tau, f"{args.dev.name} end to end, with answerability.json (in-corpus F1 "
                                   f"{summary['in_corpus_f1']:.1f})")
    model.threshold = float(cut)
    off_names = ([f"{args.dev.name}: the other half of its articles (two-fold)"] if args.two_fold
                 else [p.name for p in args.off])
    model.fitted_on = {"in_corpus": args.dev.name, "off_corpus": off_names,
                       "distractors": [p.name for p in args.distractors], "top_k": args.top_k,
                       "reranked": args.rerank,
                       "questions": len(rows), "no_answer_threshold": tau,
                       "dev": {k: round(v, 4) for k, v in summary.items()}}
    path = model.save(model_dir)
    print(json.dumps({"weights": dict(zip(features, weights, strict=True)), "bias": bias,
                      "threshold": cut, "fitted_on": model.fitted_on, "written": str(path)}, indent=2))


def best_operating_point(rows: list[dict], model, taus: list[float], max_off_rate: float,
                         max_hasans_drop: float) -> tuple[float, float] | None:
    """(τ, threshold) with the best in-corpus F1 under both constraints (vectorised over the grid; the
    arithmetic of ``answerability_eval.summarise``, which scores the chosen pair)."""
    forced = np.array([bool(r["forced"]) for r in rows])
    margin = np.array([r["margin"] for r in rows])
    prob = np.array([model.probability(r) for r in rows])
    off = np.array([r["origin"] == "off" for r in rows])
    inside = ~off
    has = inside & np.array([bool(r["answerable"]) for r in rows])
    if not off.any() or not has.any():
        raise SystemExit("fitting needs off-corpus and answerable in-corpus questions")
    f1_answered = np.array([r["f1_if_answered"] or 0.0 for r in rows])
    f1_silent = np.array([r["f1_silent"] for r in rows])
    answer_all = 100.0 * np.where(forced, f1_answered, f1_silent)[has].mean()
    best, best_f1 = None, -1.0
    cuts = np.append(np.unique(np.round(prob, 4)), 1.0)
    for tau in taus:
        by_tau = forced & (margin >= -tau)
        answered = by_tau[None, :] & (prob[None, :] >= cuts[:, None])  # (cuts, rows)
        score = np.where(answered, f1_answered, f1_silent)
        off_rate = answered[:, off].mean(axis=1)
        has_f1 = 100.0 * score[:, has].mean(axis=1)
        in_f1 = 100.0 * score[:, inside].mean(axis=1)
        ok = (off_rate <= max_off_rate) & (answer_all - has_f1 <= max_hasans_drop)
        if ok.any():
            i = int(np.argmax(np.where(ok, in_f1, -1.0)))
            if in_f1[i] > best_f1:
                best, best_f1 = (tau, float(cuts[i])), float(in_f1[i])
    return best


def _write_tau(model_dir: Path, tau: float, how: str) -> None:
    from docqa.atomic import atomic_write_json

    atomic_write_json(model_dir / "calibration.json", {
        "no_answer_threshold": tau, "calibrated_on": how,
        "rule": "no answer when null_score - best_span_score > no_answer_threshold"})
    print(f"τ = {tau:.3f} ({how}) -> {model_dir}/calibration.json")


def _ask_all(args: argparse.Namespace, reader, dev, gold) -> list[dict]:
    from docqa.pipelines.evaluation.answerability_eval import collect_rows
    from docqa.pipelines.evaluation.reader_eval import squad_reader_examples
    from docqa.pipelines.evaluation.run_eval import run_retrieval_eval
    from docqa.pipelines.squad import SquadFile, read_squad

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"{done}/{total}", flush=True)

    def ask(indexed, inside: list, off: list) -> list[dict]:
        _, searcher = run_retrieval_eval(indexed, args.distractors, show_progress=False, rerank=args.rerank)

        def search(question: str) -> list:
            return searcher.search(question, top_k=args.top_k, rerank=args.rerank)

        return (collect_rows(reader, search, inside, "in", progress)
                + collect_rows(reader, search, off[: args.off_limit], "off", progress))

    if not args.two_fold:
        off = [e for path in args.off for e in squad_reader_examples(read_squad(path))]
        return ask(dev, gold, off)
    titles = list(dict.fromkeys(p.title for p in dev.paragraphs))
    if len(titles) < 2:
        raise SystemExit(f"--two-fold needs at least two articles in {args.dev}")
    halves = [set(titles[: len(titles) // 2]), set(titles[len(titles) // 2:])]
    rows: list[dict] = []
    for half, other in (halves, halves[::-1]):
        indexed = SquadFile(dev.path, [p for p in dev.paragraphs if p.title in half], dev.report)
        outside = SquadFile(dev.path, [p for p in dev.paragraphs if p.title in other], dev.report)
        print(f"indexed: {', '.join(sorted(half))}; asked off corpus: {', '.join(sorted(other))}", flush=True)
        rows += ask(indexed, squad_reader_examples(indexed), squad_reader_examples(outside))
    return rows


if __name__ == "__main__":
    main()
