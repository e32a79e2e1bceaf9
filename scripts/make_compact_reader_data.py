"""Write the training data of the bundled compact reader v2 (data/compact-reader) into a folder.

    python scripts/make_compact_reader_data.py OUT_DIR [--shared ../shared/data] [--negatives 0.35]

Sources (development material in ``../shared/data``, never needed at run time):

- ``qa-train-squad11-shifts.json.gz``: 115,206 answerable questions (SQuAD 1.1 train + SQuADShifts
  Wikipedia/Reddit/Amazon), disjoint from every SQuAD 2.0 dev article;
- ``squad2-dev-public.json``: 10 SQuAD 2.0 articles with real unanswerable questions (hard negatives).

The public articles are split by article so every score we report is on text the reader never saw:

- ``TRAIN_ARTICLES`` go into training (their 1,564 questions, half of them unanswerable);
- ``DEV_ARTICLES`` (Harvard_University, Force) choose the epoch, calibrate τ and fit the off-corpus
  answerability rule (``dev.json``);
- ``TEST_ARTICLES`` — the three sample articles shipped in data/samples plus Imperialism — are used for
  nothing but the final report (``test.json``).

**Made negatives** (``--negatives`` × the answerable questions): a training question paired with another
paragraph that holds none of its answers — from the same article when it has one (harder: same topic),
else from another article. That is what a user meets when the documents do not cover the question;
SQuAD 2.0 never tests it. Files written: ``train.json.gz`` (all training questions), ``dev.json``,
``test.json`` (official SQuAD 2.0 JSON). Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"
SAMPLE_ARTICLES = ("Normans", "Steam_engine", "Packet_switching")  # the articles in data/samples
TEST_ARTICLES = (*SAMPLE_ARTICLES, "Imperialism")
DEV_ARTICLES = ("Harvard_University", "Force")
TRAIN_ARTICLES = ("European_Union_law", "Scottish_Parliament", "Islamism", "French_and_Indian_War")


def _describe(name: str, text: str, articles: list[dict]) -> str:
    questions = sum(len(p["qas"]) for a in articles for p in a["paragraphs"])
    unanswerable = sum(1 for a in articles for p in a["paragraphs"] for q in p["qas"]
                       if q.get("is_impossible"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return (f"{name}: {len(articles)} articles, {questions} questions ({unanswerable} unanswerable), "
            f"sha256 {digest}…")


def _write(path: Path, articles: list[dict]) -> str:
    text = json.dumps({"version": "v2.0", "data": articles}, ensure_ascii=False)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return _describe(path.name, text, articles)


def _holds_answer(context: str, answers: list[dict]) -> bool:
    lowered = context.lower()
    return any(a["text"].strip().lower() in lowered for a in answers if a["text"].strip())


def made_negatives(articles: list[dict], share: float, seed: int) -> list[dict]:
    """Articles of unanswerable questions: ``share`` of the questions, each paired with a paragraph that
    holds none of its answers (same article first, another article when the article has no such one)."""
    rng = random.Random(seed)
    questions = [(a_i, p_i, q) for a_i, a in enumerate(articles) for p_i, p in enumerate(a["paragraphs"])
                 for q in p["qas"]]
    chosen = rng.sample(questions, int(round(share * len(questions))))
    grouped: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for a_i, p_i, q in chosen:
        paragraphs = articles[a_i]["paragraphs"]
        candidates = [j for j in range(len(paragraphs)) if j != p_i]
        rng.shuffle(candidates)
        target = next(((a_i, j) for j in candidates[:8]
                       if not _holds_answer(paragraphs[j]["context"], q["answers"])), None)
        for _ in range(20 if target is None else 0):  # answers such as "one" occur almost everywhere
            other = rng.randrange(len(articles))
            j = rng.randrange(len(articles[other]["paragraphs"]))
            if other != a_i and not _holds_answer(articles[other]["paragraphs"][j]["context"], q["answers"]):
                target = (other, j)
                break
        if target is None:
            continue
        grouped[target].append({"id": f"{q['id']}-neg", "question": q["question"], "answers": [],
                                "is_impossible": True})
    by_article: dict[int, list[dict]] = defaultdict(list)
    for (a_i, j), qas in sorted(grouped.items()):
        by_article[a_i].append({"context": articles[a_i]["paragraphs"][j]["context"], "qas": qas})
    return [{"title": f"negatives: {articles[a_i]['title']}", "paragraphs": paragraphs}
            for a_i, paragraphs in sorted(by_article.items())]


def make(out_dir: Path, shared: Path = DEFAULT_SHARED, negatives: float = 0.35, seed: int = 13) -> list[str]:
    """Write train.json.gz, dev.json and test.json into ``out_dir``; one description line per file."""
    public = json.loads((shared / "squad2-dev-public.json").read_text(encoding="utf-8"))["data"]
    titles = {a["title"] for a in public}
    missing = [t for t in (*TRAIN_ARTICLES, *DEV_ARTICLES, *TEST_ARTICLES) if t not in titles]
    if missing:
        raise SystemExit(f"{shared / 'squad2-dev-public.json'}: articles not found: {', '.join(missing)}")
    with gzip.open(shared / "qa-train-squad11-shifts.json.gz", "rt", encoding="utf-8") as fh:
        answerable = json.load(fh)["data"]
    negative_articles = made_negatives(answerable, negatives, seed)
    train = answerable + negative_articles + [a for a in public if a["title"] in TRAIN_ARTICLES]
    random.Random(seed).shuffle(train)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _write(out_dir / "train.json.gz", train),
        _write(out_dir / "dev.json", [a for a in public if a["title"] in DEV_ARTICLES]),
        _write(out_dir / "test.json", [a for a in public if a["title"] in TEST_ARTICLES]),
    ]


def make_cpu_subset(out_dir: Path, shared: Path = DEFAULT_SHARED, questions: int = 6000,
                    dev_questions: int = 400, negatives: float = 0.35, seed: int = 13) -> list[str]:
    """A CPU-sized run: ``questions`` answerable training questions (+ made negatives) and a dev set
    from *other* articles of the 115k file (``dev-cpu.json``, answerable + made negatives), for
    continuing the v1 compact reader, which has already seen every public SQuAD 2.0 article except the
    test ones. Written: ``train-cpu.json``, ``dev-cpu.json``."""
    with gzip.open(shared / "qa-train-squad11-shifts.json.gz", "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"]
    rng = random.Random(seed)
    rng.shuffle(articles)

    def take(pool: list[dict], limit: int) -> tuple[list[dict], list[dict]]:
        taken, count = [], 0
        while pool and count < limit:
            article = pool.pop()
            taken.append(article)
            count += sum(len(p["qas"]) for p in article["paragraphs"])
        return taken, pool

    dev, rest = take(articles, dev_questions)
    train, _ = take(rest, questions)
    dev += made_negatives(dev, negatives, seed)
    train += made_negatives(train, negatives, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_write(out_dir / "train-cpu.json", train), _write(out_dir / "dev-cpu.json", dev)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder of the shared data files")
    parser.add_argument("--negatives", type=float, default=0.35,
                        help="made negatives per answerable training question")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--cpu-subset", type=int, default=0, metavar="N",
                        help="also write train-cpu.json / dev-cpu.json: N questions for a CPU-sized run")
    args = parser.parse_args()
    lines = make(args.out_dir, args.shared, args.negatives, args.seed)
    if args.cpu_subset:
        lines += make_cpu_subset(args.out_dir, args.shared, args.cpu_subset, negatives=args.negatives,
                                 seed=args.seed)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
