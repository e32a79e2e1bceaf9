"""Write a CPU-sized continuation set that teaches the compact reader SQuAD 2.0-style "no answer".

    python scripts/make_unanswerable_data.py OUT_DIR [--questions 3000] [--seed 7]

Why: the compact reader's span head is good (forced-answer HasAns F1 85 on the held-out articles) but
its no-answer judgement is weak (best-τ F1 62.3). Its training negatives were a question paired with
*another* paragraph, while SQuAD 2.0's unanswerable questions sit on *their own* paragraph and differ
from an answerable one by a word: another name from the article ("In what state is Yale located?"),
another number, a negation, an antonym ("gravitational deceleration"). Only the four public training
articles hold such questions (about 780). This script makes them from the 115k answerable questions by
the same edits, so each made question keeps its paragraph and its answerable original goes in beside it
(a contrast pair). The edits are rules, not a model: some made questions will still be answerable
(noise the training tolerates); none of them touch a dev or test article.

Written: ``train-continue.json`` (made negatives, their originals, the four public training articles,
answer-sentence deletions and replayed answerable questions). Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_compact_reader_data import DEFAULT_SHARED, TRAIN_ARTICLES, _write  # noqa: E402

from docqa.ingest.splitting import sentence_spans  # noqa: E402

ANTONYM_PAIRS = (
    "first/last earliest/latest largest/smallest biggest/smallest most/least highest/lowest "
    "before/after increase/decrease increased/decreased increases/decreases longest/shortest "
    "oldest/newest older/newer best/worst major/minor maximum/minimum north/south east/west "
    "northern/southern eastern/western positive/negative inside/outside early/late "
    "successful/unsuccessful strong/weak stronger/weaker higher/lower larger/smaller "
    "greater/lesser fewer/more won/lost win/lose accepted/rejected legal/illegal ancient/modern "
    "internal/external above/below start/end began/ended rise/fall rose/fell open/closed "
    "public/private male/female acceleration/deceleration same/different common/rare "
    "popular/unpopular rich/poor wealthy/poor large/small high/low long/short fast/slow "
    "heavy/light hot/cold warm/cool wet/dry true/false full/empty easy/difficult cheap/expensive "
    "increase/reduce allow/prohibit allowed/banned support/oppose supported/opposed "
    "primary/secondary upper/lower inner/outer south/north west/east left/right"
)
ANTONYMS = dict(pair.split("/") for pair in ANTONYM_PAIRS.split())  # a repeated word: its last pair
ANTONYMS.update({v: k for k, v in list(ANTONYMS.items()) if v not in ANTONYMS})
NEGATIONS = {"is": "isn't", "was": "wasn't", "are": "aren't", "were": "weren't", "did": "didn't",
             "does": "doesn't", "do": "don't", "can": "can't", "could": "couldn't", "has": "hasn't",
             "have": "haven't", "had": "hadn't", "will": "won't", "would": "wouldn't",
             "should": "shouldn't"}
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d[\d,.]*")
ENTITY = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][^\W\d_]+(?: (?:of |the |de )?[A-Z][^\W\d_]+)*\b")
NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")


def _entities(text: str) -> list[str]:
    return [m.group(0) for m in ENTITY.finditer(text)]


@functools.cache
def _article_names(article_text: str) -> tuple[frozenset[str], tuple[tuple[str, int], ...]]:
    """The lower-cased article's ``WORD`` words and its capitalised names with their counts: computed
    once per article (about 1,800 of them), not once per question that asks about it."""
    return frozenset(WORD.findall(article_text.lower())), tuple(Counter(_entities(article_text)).items())


def swap_entity(question: str, article_text: str, rng: random.Random) -> str | None:
    """Another capitalised name of the same article in place of one in the question ("... of the United
    Kingdom" for "... of the Holy Roman Empire").

    A name qualifies when it has two or more words, or when its lower-case form is not one of ``WORD``'s
    words of the lower-cased article (or of the question's first word). The article being lower-cased
    too, that leaves in practice the multi-word names and single names with letters outside A-Z
    (Beyoncé): the continuation in data/compact-reader/TRAINING.md was trained on data made this way,
    so the rule is kept as it ran."""
    words, names = _article_names(article_text)
    first = set(WORD.findall(question.lower().split(" ", 1)[0]))

    def qualifies(name: str) -> bool:
        return " " in name or (name.lower() not in words and name.lower() not in first)

    present = [e for e in _entities(question) if qualifies(e)]
    if not present:
        return None
    target = rng.choice(present)
    pool = [e for e, n in names
            if n >= 2 and e not in question and target not in e and e not in target
            and qualifies(e) and len(e.split()) <= len(target.split()) + 1]
    return question.replace(target, rng.choice(pool), 1) if pool else None


def swap_number(question: str, context: str, rng: random.Random) -> str | None:
    """Another number of the paragraph, or the same one moved, in place of the question's number."""
    numbers = NUMBER.findall(question)
    if not numbers:
        return None
    target = rng.choice(numbers)
    pool = [n for n in sorted(set(NUMBER.findall(context))) if n != target and n not in question]
    pool = [n for n in pool if len(n) == len(target)] or pool  # a year for a year
    if pool:
        replacement = rng.choice(pool)
    elif target.isdigit():
        replacement = str(int(target) + rng.choice((-20, -10, -2, 2, 10, 20)))
    else:
        return None
    return re.sub(rf"\b{re.escape(target)}\b", replacement, question, count=1)


def swap_antonym(question: str, rng: random.Random) -> str | None:
    """One word turned into its opposite (most → least, acceleration → deceleration)."""
    hits = [m for m in WORD.finditer(question) if m.group(0).lower() in ANTONYMS]
    if not hits:
        return None
    m = rng.choice(hits)
    word = ANTONYMS[m.group(0).lower()]
    word = word.capitalize() if m.group(0)[0].isupper() else word
    return question[: m.start()] + word + question[m.end():]


WH_WORDS = {"what", "when", "where", "who", "whom", "whose", "which", "why", "how"}


def negate(question: str) -> str | None:
    """The auxiliary after a leading wh-phrase negated (When was … → When wasn't …); other shapes are
    left alone, since "Do they haven't …" is not a question anyone asks."""
    words = list(WORD.finditer(question))
    if not words or words[0].group(0).lower() not in WH_WORDS:
        return None
    for m in words[1:4]:
        if m.group(0).lower() in NEGATIONS:
            return question[: m.start()] + NEGATIONS[m.group(0).lower()] + question[m.end():]
    return None


def delete_answer_sentence(context: str, answer: dict) -> str | None:
    """The paragraph without the sentence that holds the answer (and without any other copy of it).

    Sentences as the ingest splits them (:func:`docqa.ingest.splitting.sentence_spans`): a plain split at
    every ". " cut "Dr. Smith founded it in 1901." after "Dr." and left that fragment in the paragraph.
    """
    sentences = [context[span.start:span.end] for span in sentence_spans(context)]
    kept = [s for s in sentences if answer["text"].lower() not in s.lower()]
    if len(kept) == len(sentences) or len(kept) < 2:
        return None
    return " ".join(kept)


EDITS = {"entity": 0.45, "negation": 0.2, "antonym": 0.2, "number": 0.15}  # shares of the made ones


def make_negative(edit: str, question: str, context: str, article_text: str,
                  rng: random.Random) -> str | None:
    if edit == "entity":
        return swap_entity(question, article_text, rng)
    if edit == "number":
        return swap_number(question, context, rng)
    if edit == "antonym":
        return swap_antonym(question, rng)
    return negate(question)


def make(out_dir: Path, shared: Path, questions: int, replay: int, deletions: int, seed: int) -> list[str]:
    """Write train-continue.json; returns description lines (counts of each kind)."""
    rng = random.Random(seed)
    with gzip.open(shared / "qa-train-squad11-shifts.json.gz", "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"]
    public = json.loads((shared / "squad2-dev-public.json").read_text(encoding="utf-8"))["data"]
    pool = [(a_i, p_i, q) for a_i, a in enumerate(articles) for p_i, p in enumerate(a["paragraphs"])
            for q in p["qas"]]
    rng.shuffle(pool)
    article_texts: dict[int, str] = {}
    counts: Counter[str] = Counter()
    by_paragraph: dict[tuple[int, int], list[dict]] = {}
    deleted: list[dict] = []
    quotas = {edit: round(share * questions) for edit, share in EDITS.items()}
    for a_i, p_i, q in pool:
        open_edits = [e for e in EDITS if counts[e] < quotas[e]]
        if not open_edits and counts["replay"] >= replay and counts["deletion"] >= deletions:
            break
        context = articles[a_i]["paragraphs"][p_i]["context"]
        qas = by_paragraph.setdefault((a_i, p_i), [])
        if a_i not in article_texts:
            article_texts[a_i] = " ".join(p["context"] for p in articles[a_i]["paragraphs"])
        made = None
        for edit in rng.sample(open_edits, len(open_edits)):
            made = make_negative(edit, q["question"], context, article_texts[a_i], rng)
            if made and made != q["question"]:
                qas += [q, {"id": f"{q['id']}-{edit}", "question": made, "answers": [],
                            "is_impossible": True}]
                counts[edit] += 1
                break
        if made and made != q["question"]:
            continue
        if counts["deletion"] < deletions and q["answers"]:
            shortened = delete_answer_sentence(context, q["answers"][0])
            if shortened:
                deleted.append({"context": shortened, "qas": [
                    {"id": f"{q['id']}-deleted", "question": q["question"], "answers": [],
                     "is_impossible": True}]})
                counts["deletion"] += 1
        elif counts["replay"] < replay:
            qas.append(q)
            counts["replay"] += 1
    paragraphs = [{"context": articles[a_i]["paragraphs"][p_i]["context"], "qas": qas}
                  for (a_i, p_i), qas in by_paragraph.items() if qas]
    data = [{"title": "made unanswerable questions and their originals", "paragraphs": paragraphs},
            {"title": "answer sentence deleted", "paragraphs": deleted},
            *[a for a in public if a["title"] in TRAIN_ARTICLES]]
    out_dir.mkdir(parents=True, exist_ok=True)
    line = _write(out_dir / "train-continue.json", data)
    return [line, "made: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="folder of the shared data files")
    parser.add_argument("--questions", type=int, default=3000, help="made unanswerable questions")
    parser.add_argument("--replay", type=int, default=2000, help="extra answerable questions replayed")
    parser.add_argument("--deletions", type=int, default=800, help="answer-sentence deletions")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for line in make(args.out_dir, args.shared, args.questions, args.replay, args.deletions, args.seed):
        print(line)


if __name__ == "__main__":
    main()
