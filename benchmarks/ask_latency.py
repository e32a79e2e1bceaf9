"""``docqa ask`` end to end with and without the reranker, stage by stage, on the bundled samples.

    python benchmarks/ask_latency.py --json
    python benchmarks/ask_latency.py --readers compact --every 3

Why: issue 20 asks that reranking not make ``docqa ask`` slower with the default reader: reading fewer,
better passages should pay for the cross-encoder. This measures it the way a user meets it: the three
sample documents (``data/samples``: Normans, Steam_engine, Packet_switching, 88 passages) in one index,
the public API's ``DocQA.ask`` (FAQ off), warm models, and for each reader two ``DocQA`` objects that
differ only in ``rerank``. They take turns on every question, the order rotating, so load from other
processes falls on both alike; medians are reported with each stage of ``timings_ms`` (retrieval,
rerank, reading), the passages the reader read and the share of questions the reranker actually scored
(it is skipped where retrieval is already sure). A third runner, ``no_rerank_two_first``, is ``docqa ask``
as it was before the reranker and adaptive reading's one-passage checkpoint (``adaptive.BASE_RULE``: never
fewer than two passages), so both comparisons are printed: reranking on vs off today, and today's
default vs that earlier one.

Readers: ``compact`` (bundled) and ``bert-base-random``, a ``BertConfig()`` QA model with seeded random
weights and the MiniLM tokenizer (``benchmarks/reader.py``): the default reader's size and cost, which
can be measured offline, though its random margins decide adaptive reading differently from a trained
model. Questions: every ``--every``-th answerable question of those three articles in
``squad2-dev-public.json`` plus the search page's six example questions. These are test articles; nothing
here is fitted, only timed. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
SAMPLE_ARTICLES = ("Normans", "Steam_engine", "Packet_switching")
STAGES = ("retrieval", "rerank", "reading", "total")
BEFORE = "no_rerank_two_first"  # docqa ask before the one-passage checkpoint and the reranker


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def questions(shared: Path, every: int) -> list[str]:
    """Every ``every``-th answerable question of the sample articles, then the page's examples."""
    from docqa.resources import data_path

    squad = json.loads((shared / "squad2-dev-public.json").read_text(encoding="utf-8"))
    asked = [q["question"] for article in squad["data"] if article["title"] in SAMPLE_ARTICLES
             for paragraph in article["paragraphs"] for q in paragraph["qas"] if not q["is_impossible"]]
    examples = json.loads(data_path("example_questions.json").read_text(encoding="utf-8"))
    return asked[::every] + [q for name, qs in examples.items() if not name.startswith("_") for q in qs]


def with_rule(qa: Any, rule: Any) -> Any:
    """``qa.ask`` with its reader's adaptive rule set to ``rule`` for the question (readers are shared
    between ``DocQA`` objects, so the rule is put back after each question)."""
    def ask(question: str) -> Any:
        reader = qa.reader_and_info()[0]
        kept, reader.adaptive_rule = reader.adaptive_rule, rule
        try:
            return qa.ask(question, use_faq=False)
        finally:
            reader.adaptive_rule = kept
    return ask


def measure(runners: dict[str, Any], asked: list[str]) -> dict[str, dict[str, float]]:
    """Per runner: median ms of each stage, mean passages read, share of questions reranked. The runners
    take turns on every question, the order rotating, after an untimed warm-up (lazy loading, ``auto``'s
    measuring): ``benchmarks.reader.timed_interleaved``."""
    from benchmarks.reader import timed_interleaved

    def stages(ask: Any) -> Any:
        def run(question: str, _passages: None) -> dict[str, float]:  # (question, docs) work items
            started = time.perf_counter()
            result = ask(question)
            timings = dict(result.timings_ms)
            timings["total"] = (time.perf_counter() - started) * 1000.0
            timings["reranked"] = float(any(p.meta.get("rerank_score") is not None for p in result.passages))
            return timings
        return run

    timed = {name: stages(ask) for name, ask in runners.items()}
    _, seen = timed_interleaved(timed, [(q, None) for q in asked])
    out = {}
    for name, rows in seen.items():
        out[name] = {f"{stage}_ms": statistics.median(r.get(stage, 0.0) for r in rows) for stage in STAGES}
        out[name]["mean_total_ms"] = statistics.fmean(r["total"] for r in rows)
        out[name]["passages_read"] = statistics.fmean(r.get("passages_read", 0.0) for r in rows)
        out[name]["reranked_share"] = statistics.fmean(r["reranked"] for r in rows)
        ran = [r.get("rerank", 0.0) for r in rows if r["reranked"]]
        out[name]["rerank_ms_when_run"] = statistics.median(ran) if ran else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DATA)
    ap.add_argument("--every", type=int, default=6, help="ask every N-th answerable question")
    ap.add_argument("--readers", nargs="+", default=["compact", "bert-base-random"],
                    choices=("compact", "bert-base-random"))
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="keep the random bert-base (and its ONNX export) here between runs")
    ap.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = ap.parse_args(argv)

    from benchmarks.reader import build_bert_base
    from docqa import DocQA
    from docqa.pipelines.components.measured_choice import cpu_identity
    from docqa.pipelines.components.readers.adaptive import BASE_RULE
    from docqa.resources import data_path

    asked = questions(args.shared, args.every)
    report: dict[str, Any] = {"questions": len(asked), "cpu": cpu_identity().describe(), "readers": {}}
    with tempfile.TemporaryDirectory(prefix="docqa-ask-latency-") as tmp:
        index = Path(tmp) / "index"
        DocQA(index, rerank=False).ingest([data_path("samples")])
        for reader in args.readers:
            model = "compact"
            if reader == "bert-base-random":
                model_dir = args.model_dir or Path(tmp) / "bert-base-random"
                if not (model_dir / "config.json").exists():
                    build_bert_base(model_dir)
                model = str(model_dir)
            log(f"{reader}: {len(asked)} questions, reranking on and off in turn")
            apis = {"rerank": DocQA(index, reader_model=model, rerank=True),
                    "no_rerank": DocQA(index, reader_model=model, rerank=False)}
            runners = {label: (lambda q, qa=qa: qa.ask(q, use_faq=False)) for label, qa in apis.items()}
            runners[BEFORE] = with_rule(apis["no_rerank"], BASE_RULE)
            result = measure(runners, asked)
            result["ratio_total"] = result["rerank"]["total_ms"] / result["no_rerank"]["total_ms"]
            result["ratio_total_vs_before"] = result["rerank"]["total_ms"] / result[BEFORE]["total_ms"]
            report["readers"][reader] = result
    print(f"{report['questions']} questions on the samples index; {report['cpu']}")
    print("medians in ms (mean: of the totals; rerank: when it ran; read: passages, mean)")
    print(f"{'reader':18} {'':18} {'total':>7} {'mean':>7} {'retr.':>6} {'rerank':>7} {'reading':>8} "
          f"{'read':>5} {'reranked':>9}")
    for reader, result in report["readers"].items():
        for label in (BEFORE, "no_rerank", "rerank"):
            row = result[label]
            print(f"{reader:18} {label:18} {row['total_ms']:7.0f} {row['mean_total_ms']:7.0f} "
                  f"{row['retrieval_ms']:6.0f} {row['rerank_ms_when_run']:7.0f} {row['reading_ms']:8.0f} "
                  f"{row['passages_read']:5.2f} {row['reranked_share']:9.0%}")
        print(f"{reader:18} rerank / no rerank, median total: {result['ratio_total']:.2f}x; "
              f"rerank / no rerank with the two-passage start: {result['ratio_total_vs_before']:.2f}x")
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
