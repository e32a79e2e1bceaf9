"""Feedback loop benchmark (run by hand): does feedback on a user's own questions make the reader better?

    python benchmarks/feedback_loop.py [--article Steam_engine] [--n 50 100 200] [--epochs 3] [--json]
    python benchmarks/feedback_loop.py --quick          # smoke run: small N, few test questions

What it simulates, as a user would live it:

1. **The user's documents** — one article of ``../shared/data/squad2-dev-public.json`` that the bundled
   compact reader never saw (Normans, Steam_engine and Packet_switching were held out of its training,
   see data/compact-reader/TRAINING.md), written as one text file and ingested with ``DocQA.ingest``
   into a temporary index, together with the 20 articles of ``squad2-distractors.json`` (other topics,
   one file each) so that retrieval has something to get wrong.
2. **Feedback** — the article's questions are shuffled (``--seed``); the first N are asked with
   ``DocQA.ask`` (compact reader, top-5 passages) and the simulated user reacts to the page as shown:
   the top answer matches the gold answer → "correct"; otherwise "wrong" with the gold answer selected
   in the first shown passage that holds it (typed, without a position, when none does); an
   unanswerable question → "not in these documents". Each reaction goes through ``DocQA.feedback`` and
   the SQuAD file comes from the real export (``docqa feedback export``'s Python entry).
3. **Training** — ``docqa train-reader``'s Python entry (``docqa.pipelines.training.train_reader``) continues
   the compact reader on that file on the CPU (2 threads), for each N.
4. **Scoring** — the *other* questions of the same article (the same ones for every N: the questions
   after the largest N in the shuffled order) are asked end to end: hybrid top-5 passages from the same
   index, read by the reader before and after; official SQuAD 2.0 EM/F1 with the reader's τ (0 unless
   training calibrated one), HasAns F1 with that τ and forced (the best span always given), NoAns F1.

Retrieval is done once per test question and shared by all readers, so the rows differ only by reader.

``--improve`` measures ``docqa improve`` instead of the bare loop: for each seed (question order) and
each N, ``DocQA.improve`` (dry run, so the compact reader stays the current one) exports the first N
records with its held-out split, trains a guarded candidate, and decides; the candidate is then scored
on the test questions, which neither the training nor the gate saw. A promotion is *bad* when the
candidate scores below the compact reader on the test questions' end-to-end F1, or on the regression
set, by more than the tolerance. ``--unguarded-n 100`` also trains, at that N, the old loop's recipe (no
replay, no no-answer cap, lr 1e-4) through the same gate, to show what the guards and the gate are for.

    python benchmarks/feedback_loop.py --improve [--seeds 13 14 15] [--n 50 100 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
SQUAD = SHARED / "squad2-dev-public.json"
DISTRACTORS = SHARED / "squad2-distractors.json"
HELD_OUT = ("Normans", "Steam_engine", "Packet_switching")  # never seen by data/compact-reader
TRAIN_THREADS = 2


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Question:
    qid: str
    question: str
    answers: list[str]  # gold texts, [] when unanswerable

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def article_questions(title: str) -> tuple[list[str], list[Question]]:
    """The article's paragraphs and its questions (gold texts deduplicated, first annotator's first)."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    article = next((a for a in data["data"] if a["title"] == title), None)
    if article is None:
        raise SystemExit(f"{title}: not an article of {SQUAD}")
    paragraphs, questions = [], []
    for paragraph in article["paragraphs"]:
        paragraphs.append(paragraph["context"])
        for qa in paragraph["qas"]:
            golds = [] if qa.get("is_impossible") else list(dict.fromkeys(a["text"] for a in qa["answers"]))
            questions.append(Question(qa["id"], qa["question"], golds))
    return paragraphs, questions


def write_documents(folder: Path, title: str, paragraphs: list[str], distractors: bool) -> list[Path]:
    """The user's documents as text files: the article, and (optionally) one file per distractor article."""
    folder.mkdir(parents=True)
    files = [folder / f"{title}.txt"]
    files[0].write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    if distractors:
        for article in json.loads(DISTRACTORS.read_text(encoding="utf-8"))["data"]:
            path = folder / f"{article['title']}.txt"
            path.write_text("\n\n".join(p["context"] for p in article["paragraphs"]) + "\n", encoding="utf-8")
            files.append(path)
    return files


# ----------------------------------------------------------------------------------- the simulated user
def user_reaction(result: Any, question: Question) -> dict[str, Any]:
    """What the simulated user submits after seeing ``result`` (an AskResult) for ``question``: the
    arguments of ``DocQA.feedback`` (the same fields as ``POST /feedback``)."""
    from docqa.pipelines.evaluation.squad_metrics import normalize_answer

    top_passage = result.passages[0].id if result.passages else None
    if not question.answerable:
        passage = result.answers[0].source.document_id if result.answers else top_passage
        return {"question": question.question, "passage_id": passage, "verdict": "not_in_documents"}
    golds = {normalize_answer(a) for a in question.answers}
    if result.answers and not result.no_answer and normalize_answer(result.answers[0].text) in golds:
        src = result.answers[0].source
        return {"question": question.question, "passage_id": src.document_id, "verdict": "correct",
                "answer_start": src.passage_start, "answer_end": src.passage_end}
    for passage in result.passages:  # the passages are shown in this order: the first that holds it
        for gold in question.answers:
            at = passage.content.find(gold)
            if at >= 0:
                return {"question": question.question, "passage_id": passage.id, "verdict": "wrong",
                        "answer_start": at, "answer_end": at + len(gold), "correct_answer": gold}
    # Nowhere in the shown passages: the user can only say "wrong" (left out of the training export).
    return {"question": question.question, "passage_id": top_passage, "verdict": "wrong"}


def give_feedback(qa: Any, questions: list[Question]) -> tuple[dict[str, int], list[int]]:
    """Ask each question on the page's path (``DocQA.ask``) and submit the user's reaction through
    ``DocQA.feedback``; returns how many reactions of each kind were given and, per question asked, how
    many feedback records were stored by then."""
    counts: dict[str, int] = {}
    stored, given = [], 0
    for number, question in enumerate(questions, start=1):
        result = qa.ask(question.question, top_k=5, use_faq=False)
        reaction = user_reaction(result, question)
        if reaction["passage_id"] is None:
            kind = "no passage shown"
        else:
            qa.feedback(**reaction, reader=result.reader)
            given += 1
            kind = reaction["verdict"] + (" (no correction)" if reaction["verdict"] == "wrong"
                                          and "answer_start" not in reaction else "")
        counts[kind] = counts.get(kind, 0) + 1
        stored.append(given)
        if number % 25 == 0:
            log(f"  feedback {number}/{len(questions)}")
    return counts, stored


def export_first(qa: Any, records: int, out: Path) -> dict[str, Any]:
    """``docqa feedback export``'s Python entry over the first ``records`` stored records (the feedback
    on the first N questions asked): the SQuAD 2.0 file ``docqa train-reader --train`` takes."""
    from docqa.pipelines.feedback.export import export_feedback, write_export
    from docqa.pipelines.feedback.store import FeedbackStore

    export = export_feedback(FeedbackStore(qa.index).records()[:records])
    write_export(export, out)
    return export.to_dict()


# ----------------------------------------------------------------------------------------- scoring
def retrieve(qa: Any, questions: list[Question], top_k: int) -> list[Any]:
    """ReaderExamples with the top-k passages the page would read (retrieved once for every reader)."""
    from haystack import Document

    from docqa.pipelines.evaluation.reader_eval import ReaderExample

    examples = []
    for q in questions:
        docs = [Document(id=p.id, content=p.content, meta=p.meta, score=p.score)
                for p in qa.search(q.question, top_k=top_k)]
        examples.append(ReaderExample(q.qid, q.question, docs, q.answers, not q.answerable))
    return examples


def score(reader: Any, examples: list[Any]) -> dict[str, float]:
    from docqa.pipelines.evaluation.reader_eval import read_examples, score_runs

    runs = read_examples(reader, examples, questions_per_batch=8)
    tau = reader.threshold()
    at_tau = score_runs(examples, runs, threshold=tau)
    forced = score_runs(examples, runs, threshold=math.inf)
    return {"tau": tau, "exact": at_tau["exact"], "f1": at_tau["f1"], "HasAns_f1": at_tau["HasAns_f1"],
            "NoAns_f1": at_tau.get("NoAns_f1", float("nan")), "forced_HasAns_exact": forced["HasAns_exact"],
            "forced_HasAns_f1": forced["HasAns_f1"], "best_f1": at_tau["best_f1"]}


def train(train_file: Path, out_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from docqa.pipelines.training.reader_training import TrainingConfig, train_reader

    config = TrainingConfig(train_file=train_file, out_dir=out_dir, base_model="compact", epochs=args.epochs,
                            learning_rate=args.lr, batch_size=args.batch_size, seed=args.seed, device="cpu",
                            show_progress=not args.json)
    result = train_reader(config, log=lambda line: log(f"  {line}"))
    return {"seconds": round(result.seconds, 1), "windows": result.feature_stats.get("windows"),
            "final_loss": result.epochs[-1].get("train_loss"), "tau": result.no_answer_threshold}


# -------------------------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--article", default="Steam_engine", choices=HELD_OUT,
                        help="held-out article (most questions: Steam_engine)")
    parser.add_argument("--n", type=int, nargs="+", default=[50, 100, 200], help="feedback sizes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=13, help="question order (and training seed)")
    parser.add_argument("--top-k", type=int, default=5, help="passages read per question")
    parser.add_argument("--test-limit", type=int, default=None, help="score only this many test questions")
    parser.add_argument("--no-distractors", action="store_true", help="index the article only")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --n 20, 1 epoch, 30 test questions, no distractors")
    parser.add_argument("--improve", action="store_true", help="measure docqa improve (guards + gate)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15], help="--improve: seeds")
    parser.add_argument("--unguarded-n", type=int, nargs="*", default=[100],
                        help="--improve: also train the old unguarded recipe at these N")
    parser.add_argument("--improve-lr", type=float, default=None, help="--improve: learning rate (default: "
                        "ImproveSettings')")
    parser.add_argument("--improve-replay", type=float, default=None, help="--improve: replay ratio")
    parser.add_argument("--improve-epochs", type=int, default=None, help="--improve: epochs")
    parser.add_argument("--no-answer-share", type=float, default=None, help="--improve: no-answer cap")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON results to this file")
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.test_limit, args.no_distractors = [20], 1, args.test_limit or 30, True
    args.n = sorted(set(args.n))
    return args


def main() -> None:
    args = parse_args()
    if not SQUAD.exists():
        raise SystemExit(f"{SQUAD} not found (development data in ../shared)")
    import torch

    torch.set_num_threads(TRAIN_THREADS)
    if args.improve:
        from feedback_gate import run_improve

        run_improve(args)
        return
    from docqa.pipelines.api import DocQA
    from docqa.pipelines.components.readers.selection import select_reader

    paragraphs, questions = article_questions(args.article)
    random.Random(args.seed).shuffle(questions)
    biggest = args.n[-1]
    if biggest >= len(questions):
        raise SystemExit(f"--n {biggest}: {args.article} has only {len(questions)} questions")
    feedback_questions, test_questions = questions[:biggest], questions[biggest:]
    if args.test_limit:
        test_questions = test_questions[: args.test_limit]
    results: dict[str, Any] = {"article": args.article, "distractors": not args.no_distractors,
                               "settings": {k: v for k, v in vars(args).items() if k not in ("json", "out")},
                               "test": {"questions": len(test_questions),
                                        "answerable": sum(q.answerable for q in test_questions)},
                               "rows": []}
    results["settings"]["out"] = None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["DOCQA_CONFIG"] = str(tmp / "docqa-config.json")  # no user calibration leaks in
        files = write_documents(tmp / "documents", args.article, paragraphs, not args.no_distractors)
        qa = DocQA(tmp / "index", reader_model="compact", reader_backend="torch", reader_fallback=False)
        started = time.perf_counter()
        report = qa.ingest(files)
        if not report.ok:
            raise SystemExit(f"ingest failed: {report.to_dict()}")
        results["index"] = {"files": len(files), "passages": qa.stats().get("passages"),
                            "seconds": round(time.perf_counter() - started, 1)}
        log(f"indexed {len(files)} files ({results['index']['passages']} passages) "
            f"in {results['index']['seconds']} s")

        started = time.perf_counter()
        results["feedback"], stored = give_feedback(qa, feedback_questions)
        seconds = time.perf_counter() - started
        log(f"feedback on {biggest} questions in {seconds:.0f} s: {results['feedback']}")

        examples = retrieve(qa, test_questions, args.top_k)
        base_reader, _ = select_reader("compact", "torch", allow_fallback=False)
        started = time.perf_counter()
        results["rows"].append({"n": 0, "train_questions": 0, **score(base_reader, examples)})
        log(f"compact reader scored in {time.perf_counter() - started:.0f} s")
        save(results, args.out)
        for n in args.n:
            train_file = tmp / f"feedback-{n}.json"
            exported = export_first(qa, stored[n - 1], train_file)
            kept = exported["train_questions"]
            log(f"N = {n}: training on {kept} exported questions ({exported})")
            training = train(train_file, tmp / f"reader-{n}", args)
            reader, _ = select_reader(str(tmp / f"reader-{n}"), "torch", allow_fallback=False)
            results["rows"].append({"n": n, "train_questions": kept, "training": training,
                                    **score(reader, examples)})
            save(results, args.out)  # after each row: a long run that is stopped keeps what it measured
    save(results, args.out)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print_table(results)


def save(results: dict[str, Any], out: Path | None) -> None:
    if out is not None:
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def print_table(results: dict[str, Any]) -> None:
    test = results["test"]
    print(f"Feedback loop on {results['article']} ({'with' if results['distractors'] else 'without'} "
          f"distractors; index {results['index']['passages']} passages): end to end, top-"
          f"{results['settings']['top_k']} passages, on {test['questions']} other questions "
          f"({test['answerable']} answerable) of the article")
    print(f"feedback given: {results['feedback']}")
    header = (f"{'feedback N':>10} {'trained on':>10} {'train s':>8} {'EM':>6} {'F1':>6} {'ΔF1':>6} "
              f"{'HasAns F1':>9} {'NoAns F1':>8} {'forced HasAns EM/F1':>20}")
    print(header)
    print("-" * len(header))
    base = results["rows"][0]["f1"]
    for row in results["rows"]:
        seconds = f"{row['training']['seconds']:.0f}" if "training" in row else "-"
        label = "0 (before)" if row["n"] == 0 else str(row["n"])
        print(f"{label:>10} {row['train_questions']:>10} {seconds:>8} {row['exact']:6.1f} {row['f1']:6.1f} "
              f"{row['f1'] - base:+6.1f} {row['HasAns_f1']:9.1f} {row['NoAns_f1']:8.1f} "
              f"{row['forced_HasAns_exact']:9.1f} / {row['forced_HasAns_f1']:5.1f}")


if __name__ == "__main__":
    main()
