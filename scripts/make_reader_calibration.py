"""Build ``data/reader-calibration.json``: the small question/paragraph set ``auto`` checks int8 on.

    python scripts/make_reader_calibration.py [--source ../shared/data/qa-train-squad11-shifts.json.gz]

Why these questions: the check asks "does int8 give the same top answer as fp32?" on text the reader has
not memorised. The public SQuAD 2.0 dev articles in ``../shared`` are all taken (seven trained the compact
reader, three are the bundled samples), so the set comes from SQuAD 1.1 *training-set* articles, which the
compact reader never saw (it was trained on the seven dev articles only; see
data/compact-reader/TRAINING.md). 12 articles (every 37th of the 442 SQuAD 1.1 articles), 4 questions
each from 4 different paragraphs = 48 pairs; no answers are needed for agreement, but the gold text is
kept for people who read the file. Deterministic: rerunning gives the same file.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data" / "qa-train-squad11-shifts.json.gz"
OUT = HERE.parent / "data" / "reader-calibration.json"
ARTICLE_STEP = 37
ARTICLES = 12
PER_ARTICLE = 4


def build(source: Path) -> dict:
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    squad11 = [a for a in data if a["paragraphs"][0]["qas"][0]["id"].startswith("sq11tr-")]
    pairs = []
    titles = []
    for article in squad11[::ARTICLE_STEP][:ARTICLES]:
        titles.append(article["title"])
        paragraphs = [p for p in article["paragraphs"] if p["qas"] and len(p["context"]) < 1500]
        step = max(1, len(paragraphs) // PER_ARTICLE)
        for paragraph in paragraphs[::step][:PER_ARTICLE]:
            qa = paragraph["qas"][0]
            pairs.append({"article": article["title"], "question": qa["question"],
                          "context": paragraph["context"], "answer": qa["answers"][0]["text"]})
    return {
        "_about": "Question/paragraph pairs on which DOCQA_READER_BACKEND=auto checks that int8 keeps the "
                  "top answer of fp32 (>= 97%). From SQuAD 1.1 training-set articles (Rajpurkar et al., "
                  "2016; Wikipedia text, CC BY-SA 4.0), which the compact reader never saw. Built by "
                  "scripts/make_reader_calibration.py.",
        "articles": titles,
        "pairs": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    result = build(args.source)
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(result['pairs'])} pairs from {len(result['articles'])} articles")


if __name__ == "__main__":
    main()
