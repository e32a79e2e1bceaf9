"""Build ``data/replay-questions.json``: questions of the kind the compact reader was trained on, which
``docqa improve`` mixes into a fine-tune on feedback (replay) and scores epochs on (its dev half).

Why ship them: fine-tuning on a few dozen feedback records alone made the reader forget (the feedback loop
benchmark: at N = 100, HasAns F1 35.5 → 16.7, "no answer" to almost everything). Replaying questions
from the original training distribution is the standard guard against that, and the training file is not
on a user's machine, so a small sample travels with DocQA.

What: 24 articles of ``../shared/data/qa-train-squad11-shifts.json.gz`` (the compact reader's own
training data: SQuAD 1.1 train, CC BY-SA 4.0; SQuADShifts, CC BY 4.0), every 37th article from an offset
that avoids the articles of ``data/reader-calibration.json`` (the regression set), up to 5 paragraphs of
at most 1,500 characters each with all their questions, plus 35% made negatives (a question paired with
another paragraph of its article that holds none of its answers), as the compact reader's training data
made them (``scripts/make_compact_reader_data.py``). Deterministic (seed 13).

    python scripts/make_replay_set.py [--source ../shared/data/qa-train-squad11-shifts.json.gz]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_compact_reader_data import made_negatives  # noqa: E402

DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data" / "qa-train-squad11-shifts.json.gz"
OUT = HERE.parent / "data" / "replay-questions.json"
CALIBRATION = HERE.parent / "data" / "reader-calibration.json"
ARTICLE_STEP, OFFSET, ARTICLES, PARAGRAPHS, MAX_CHARS = 37, 18, 24, 5, 1500


def build(source: Path) -> dict:
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    avoid = set(json.loads(CALIBRATION.read_text(encoding="utf-8"))["articles"])
    articles = []
    for article in data[OFFSET::ARTICLE_STEP]:
        if article["title"] in avoid:
            continue
        paragraphs = [p for p in article["paragraphs"] if p["qas"] and len(p["context"]) <= MAX_CHARS]
        if len(paragraphs) < 2:
            continue
        step = max(1, len(paragraphs) // PARAGRAPHS)
        articles.append({"title": article["title"], "paragraphs": paragraphs[::step][:PARAGRAPHS]})
        if len(articles) == ARTICLES:
            break
    negatives = made_negatives(articles, 0.35, 13)
    by_title = {a["title"]: a for a in articles}
    for negative in negatives:  # keep each article's negatives in its own article (the split is by article)
        by_title[negative["title"].removeprefix("negatives: ")]["paragraphs"] += negative["paragraphs"]
    questions = sum(len(p["qas"]) for a in articles for p in a["paragraphs"])
    impossible = sum(
        q.get("is_impossible", False) for a in articles for p in a["paragraphs"] for q in p["qas"]
    )
    return {
        "version": "v2.0",
        "_about": (
            f"{questions} questions ({impossible} unanswerable, made by pairing a question with another "
            f"paragraph of its article) from {len(articles)} articles of the compact reader's training data "
            "(SQuAD 1.1 train, Rajpurkar et al. 2016, CC BY-SA 4.0; SQuADShifts, Miller et al. 2020, "
            "CC BY 4.0). docqa improve replays the even-numbered articles and scores epochs on the odd "
            "ones. Built by scripts/make_replay_set.py."
        ),
        "data": articles,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.source.exists():
        raise SystemExit(f"{args.source}: not found (the training file lives in ../shared/data)")
    squad = build(args.source)
    args.out.write_text(json.dumps(squad, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: {squad['_about']}")


if __name__ == "__main__":
    main()
