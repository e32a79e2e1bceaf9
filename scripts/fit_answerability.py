"""Fit the "not in your documents" model of a reader and ship it (and its τ) in the reader's directory.

    python scripts/fit_answerability.py --reader compact --dev /tmp/compact-data/dev.json \\
        --off /tmp/compact-data/dev-cpu.json --distractors ../shared/data/squad2-distractors.json

1. **τ** (``calibration.json``): the reader reads every ``--dev`` question from its own paragraph; the τ
   maximising SQuAD 2.0 F1 is written (``--no-tau`` keeps the file as it is).
2. **Answerability** (``answerability.json``): ``--dev`` paragraphs and the distractors are indexed; the
   ``--dev`` questions (in corpus) and the ``--off`` questions (their articles are not indexed: off
   corpus) are asked end to end (hybrid top-k, as ``docqa ask``). Label 1 = an in-corpus question whose
   forced answer is right (F1 ≥ 0.5), else 0 — answering is worth it only then. A logistic model over
   :data:`~pipelines.components.readers.answerability.FEATURES` is fitted; its threshold is the one that
   keeps the off-corpus answered rate ≤ ``--max-off-rate`` with the best in-corpus F1.

Run by hand with ``../shared`` present; the test articles must not be among ``--dev``/``--off``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", default="compact", help="reader model (directory, Hub id or 'compact')")
    parser.add_argument("--dev", type=Path, required=True, help="SQuAD 2.0 file: in-corpus questions")
    parser.add_argument("--off", type=Path, nargs="+", required=True,
                        help="SQuAD files: off-corpus questions")
    parser.add_argument("--distractors", type=Path, nargs="*", default=[])
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--max-off-rate", type=float, default=0.03)
    parser.add_argument("--off-limit", type=int, default=800, help="at most this many off-corpus questions")
    parser.add_argument("--no-tau", action="store_true", help="keep the model directory's calibration.json")
    parser.add_argument("--rows", type=Path, default=None,
                        help="cache of asked rows: read when present (refit without reading), else written")
    args = parser.parse_args()

    from docqa.atomic import atomic_write_json
    from pipelines.components.readers.answerability import (
        FEATURES,
        AnswerabilityModel,
        fit_logistic,
    )
    from pipelines.components.readers.reader import DocQAReader
    from pipelines.components.readers.selection import compact_reader_dir
    from pipelines.evaluation.answerability_eval import decisions, summarise
    from pipelines.evaluation.reader_eval import best_threshold, read_examples, squad_reader_examples
    from pipelines.squad import read_squad

    name = args.reader if args.reader != "compact" else str(compact_reader_dir())
    reader = DocQAReader(name, backend="torch")
    reader.warm_up()
    model_dir = Path(reader.model_dir)
    dev = read_squad(args.dev)
    gold = squad_reader_examples(dev)
    tau = reader.threshold()
    if not args.no_tau:
        tau, f1 = best_threshold(gold, read_examples(reader, gold, questions_per_batch=8))
        atomic_write_json(model_dir / "calibration.json", {
            "no_answer_threshold": tau, "calibrated_on": args.dev.name, "f1": f1,
            "rule": "no answer when null_score - best_span_score > no_answer_threshold"})
        print(f"τ = {tau:.3f} (gold-passage F1 {f1:.1f} on {args.dev.name}) -> {model_dir}/calibration.json")
        reader.no_answer_threshold = tau

    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        rows = _ask_all(args, reader, dev, gold)
        if args.rows:
            args.rows.write_text(json.dumps(rows), encoding="utf-8")
    weights, bias, means, scales = fit_logistic(rows, [r["label"] for r in rows])
    model = AnswerabilityModel(weights, bias, means, scales, threshold=0.5)
    probabilities = [model.probability(r) for r in rows]
    best = None
    for cut in sorted(set(round(p, 4) for p in probabilities)) + [1.0]:
        summary = summarise(rows, decisions(rows, model, cut))
        if summary["off_corpus_answered_rate"] <= args.max_off_rate and (
                best is None or summary["in_corpus_f1"] > best[1]["in_corpus_f1"]):
            best = (cut, summary)
    cut, summary = best
    model.threshold = float(cut)
    model.fitted_on = {"in_corpus": args.dev.name, "off_corpus": [p.name for p in args.off],
                       "distractors": [p.name for p in args.distractors], "top_k": args.top_k,
                       "questions": len(rows), "no_answer_threshold": tau,
                       "dev": {k: round(v, 4) for k, v in summary.items()}}
    path = model.save(model_dir)
    print(json.dumps({"weights": dict(zip(FEATURES, weights, strict=True)), "bias": bias,
                      "threshold": cut, "fitted_on": model.fitted_on, "written": str(path)}, indent=2))


def _ask_all(args: argparse.Namespace, reader, dev, gold) -> list[dict]:
    from pipelines.evaluation.answerability_eval import collect_rows
    from pipelines.evaluation.reader_eval import squad_reader_examples
    from pipelines.evaluation.run_eval import run_retrieval_eval
    from pipelines.squad import read_squad

    _, searcher = run_retrieval_eval(dev, args.distractors, show_progress=False)
    off = [e for path in args.off for e in squad_reader_examples(read_squad(path))][: args.off_limit]

    def search(question: str) -> list:
        return searcher.search(question, top_k=args.top_k)

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"{done}/{total}", flush=True)

    inside = collect_rows(reader, search, gold, "in", progress)
    return inside + collect_rows(reader, search, off, "off", progress)


if __name__ == "__main__":
    main()
