"""Write the training data of the bundled compact reader (data/compact-reader) into a folder.

    python data/make_compact_reader_data.py OUT_DIR [--squad ../shared/data/squad2-dev-public.json]

The compact reader is trained on the public SQuAD 2.0 dev articles *minus the three articles shipped in
data/samples* (Normans, Steam_engine, Packet_switching), so its scores on the sample documents are scores
on text it never saw. Files written (official SQuAD 2.0 JSON, articles in source order):

- ``train.json``: every article except the sample ones — what the shipped reader is trained on;
- ``heldout.json``: the sample articles — evaluation only (benchmarks/compact_reader.py);
- ``search-train.json`` / ``search-dev.json``: ``train.json`` split by article (the articles in
  ``SEARCH_DEV_ARTICLES`` are the dev part) — to choose the recipe (epochs, lr, warm-up) and the no-answer
  threshold without touching the held-out articles.

Run by hand with ``../shared`` present (development material); the output is not committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "data"
DEFAULT_SQUAD = HERE.parent.parent / "shared" / "data" / "squad2-dev-public.json"
SAMPLE_ARTICLES = ("Normans", "Steam_engine", "Packet_switching")  # the articles in data/samples
SEARCH_DEV_ARTICLES = ("Harvard_University", "Force")  # recipe-search dev split (from the training articles)


def _write(path: Path, version: str, articles: list[dict]) -> str:
    text = json.dumps({"version": version, "data": articles}, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    questions = sum(len(p["qas"]) for a in articles for p in a["paragraphs"])
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{path.name}: {len(articles)} articles, {questions} questions (sha256 {digest}…)"


def make(out_dir: Path, squad: Path = DEFAULT_SQUAD) -> list[str]:
    """Write the four files into ``out_dir``; return one description line per file."""
    data = json.loads(squad.read_text(encoding="utf-8"))
    version = data.get("version", "v2.0")
    articles = data["data"]
    titles = [a["title"] for a in articles]
    for title in (*SAMPLE_ARTICLES, *SEARCH_DEV_ARTICLES):
        if title not in titles:
            raise SystemExit(f"{squad}: article {title!r} not found (has: {', '.join(titles)})")
    train = [a for a in articles if a["title"] not in SAMPLE_ARTICLES]
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _write(out_dir / "train.json", version, train),
        _write(out_dir / "heldout.json", version, [a for a in articles if a["title"] in SAMPLE_ARTICLES]),
        _write(out_dir / "search-train.json", version,
               [a for a in train if a["title"] not in SEARCH_DEV_ARTICLES]),
        _write(out_dir / "search-dev.json", version, [a for a in train if a["title"] in SEARCH_DEV_ARTICLES]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD)
    args = parser.parse_args()
    for line in make(args.out_dir, args.squad):
        print(line)


if __name__ == "__main__":
    main()
