"""How well "not in your documents" works, on articles used neither for training nor for fitting it.

    python benchmarks/answerability.py --corpus test-in.json --off test-off.json \\
        --distractors ../shared/data/squad2-distractors.json [--reader compact] [--rows rows.json] [--json]

Indexes ``--corpus`` + distractors, asks the corpus questions (in corpus) and the ``--off`` questions
(their articles are not indexed) end to end, hybrid top-5 (``--rerank``: the bundled reranker's top 5 of
the hybrid top N, as ``docqa ask`` reads), with the reader's shipped τ. Prints, for the τ
rule alone and for τ + the shipped answerability model: the off-corpus answered rate (share that got a
confident answer) and in-corpus F1 / HasAns F1, next to HasAns F1 when everything is answered (the issue's
"drop ≤ 3 points" baseline). ``--rows`` caches the asked rows (re-scoring a refitted model needs no reading).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--off", type=Path, nargs="+", required=True)
    parser.add_argument("--distractors", type=Path, nargs="*", default=[])
    parser.add_argument("--reader", default="compact")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--rows", type=Path, default=None, help="cache of asked rows (read if present)")
    parser.add_argument("--rerank", action="store_true",
                        help="read the bundled reranker's best top-k of the hybrid top N, as docqa ask does")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from docqa.pipelines.components.readers.answerability import AnswerabilityModel
    from docqa.pipelines.components.readers.reader import DocQAReader
    from docqa.pipelines.components.readers.selection import compact_reader_dir
    from docqa.pipelines.evaluation.answerability_eval import collect_rows, decisions, summarise
    from docqa.pipelines.evaluation.reader_eval import squad_reader_examples
    from docqa.pipelines.evaluation.run_eval import run_retrieval_eval
    from docqa.pipelines.squad import read_squad

    name = str(compact_reader_dir()) if args.reader == "compact" else args.reader
    reader = DocQAReader(name, backend="torch")
    reader.warm_up()
    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        corpus = read_squad(args.corpus)
        _, searcher = run_retrieval_eval(corpus, args.distractors, show_progress=False, rerank=args.rerank)

        def search(question: str) -> list:
            return searcher.search(question, top_k=args.top_k, rerank=args.rerank)

        off = [e for path in args.off for e in squad_reader_examples(read_squad(path))]
        rows = (collect_rows(reader, search, squad_reader_examples(corpus), "in")
                + collect_rows(reader, search, off, "off"))
        if args.rows:
            args.rows.write_text(json.dumps(rows), encoding="utf-8")
    # as the judge does: reranked passages get the model fitted with the reranker's score where one ships
    model = AnswerabilityModel.load(Path(reader.model_dir), reranked=True) if args.rerank else None
    model = model or AnswerabilityModel.load(Path(reader.model_dir))
    report = {"cpu": platform.processor() or platform.machine(), "reader": args.reader,
              "no_answer_threshold": reader.threshold(), "corpus": args.corpus.name, "rerank": args.rerank,
              "answerability_model": model.file_name if model else None,
              "off": [p.name for p in args.off],
              "tau_only": summarise(rows, decisions(rows, None)),
              "tau_and_answerability": summarise(rows, decisions(rows, model)) if model else None}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"reader {args.reader}, τ = {report['no_answer_threshold']:.3f}; corpus {args.corpus.name}, "
          f"off corpus {', '.join(report['off'])}")
    print(f"{'decision':<24} {'off answered':>12} {'in F1':>7} {'in HasAns F1':>13} {'answer all':>11}")
    for name in ("tau_only", "tau_and_answerability"):
        s = report[name]
        if s is None:
            print(f"{name:<24} (no answerability.json shipped with this reader)")
            continue
        print(f"{name:<24} {100 * s['off_corpus_answered_rate']:>11.1f}% {s['in_corpus_f1']:>7.1f} "
              f"{s['in_corpus_HasAns_f1']:>13.1f} {s['in_corpus_HasAns_f1_answer_all']:>11.1f}")


if __name__ == "__main__":
    main()
