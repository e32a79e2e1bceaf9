"""Crash soak: ``kill -9`` a real ``docqa ingest`` many times at random moments; the index must survive.

One corpus of ``--files`` small text files is ingested into one index with tiny checkpoints (so commits and
segment merges happen all the time). Each round starts ``docqa ingest``, waits until it has committed
something new, sleeps a random 0–1.5 s and kills it with SIGKILL. After every kill the index is opened
and checked: SQLite integrity, no passage stored twice, manifest and passages agree, every passage has its
vector in a live segment, every file committed before the kill is still there, and a search works. When an
ingest finishes before its kill lands (a fast machine), new files join the corpus so the run still makes
exactly ``--kills`` kills. Then the ingest runs to completion and must report committed files as unchanged.

    python benchmarks/crash_soak.py [--kills 20] [--files 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _docqa(*args: str, index_dir: Path) -> list[str]:
    return [sys.executable, "-m", "docqa.app.cli", *args, "--index", str(index_dir)]


def write_corpus(folder: Path, files: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + files):
        body = " ".join(f"File {i} sentence {j} describes topic number {i * 7 + j}." for j in range(12))
        (folder / f"doc{i:04d}.txt").write_text(body, encoding="utf-8")


def check(index_dir: Path, must_have: set[str]) -> set[str]:
    """Open the index and verify it; returns the keys of the files it holds."""
    from docqa.config import PACKAGED_EMBEDDING_MODEL
    from docqa.pipelines.document_stores.local import catalog
    from docqa.pipelines.document_stores.local.index import LocalIndex
    from docqa.pipelines.document_stores.local.store import LocalDocumentStore

    index = LocalIndex(index_dir)
    if not index.exists():
        assert not must_have, "files committed earlier were lost"
        return set()
    con = catalog.connect(index.catalog_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "SQLite integrity"
    con.close()
    snapshot = index.load(PACKAGED_EMBEDDING_MODEL, 384)  # raises if a passage has no vector
    ids = [d.id for d in snapshot.passages]
    assert len(ids) == len(set(ids)), "a passage is stored twice"
    manifest = [pid for s in snapshot.files.values() for pid in s.passage_ids]
    assert sorted(manifest) == sorted(ids), "manifest and passages disagree"
    keys = set(snapshot.files)
    assert must_have <= keys, f"lost committed files: {sorted(must_have - keys)[:3]}"
    store = LocalDocumentStore(index_dir, embedding_model=PACKAGED_EMBEDDING_MODEL)
    assert store.count_documents() == len(ids)
    assert store.bm25_retrieval("sentence describes topic", top_k=3), "search works"
    return keys


def soak(workdir: Path, kills: int, files: int, seed: int = 0, max_delay: float = 1.5) -> dict:
    from docqa.pipelines.document_stores.local.index import LocalIndex

    rng = random.Random(seed)
    corpus, index_dir = workdir / "corpus", workdir / "index"
    write_corpus(corpus, files)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    committed: set[str] = set()
    done_kills, checks, early = 0, 0, 0
    while done_kills < kills:
        before = LocalIndex(index_dir).generation()
        proc = subprocess.Popen(
            _docqa("ingest", str(corpus), "--checkpoint-every", "6", "--json", index_dir=index_dir),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT,
        )
        deadline = time.monotonic() + 300
        while proc.poll() is None and LocalIndex(index_dir).generation() == before:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the ingest made no progress in 300 s")
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, max_delay))
        if proc.poll() is not None:
            # It finished before this kill (a fast machine, or little left to do): give it new work so
            # every run makes the same number of kills instead of silently testing fewer.
            early += 1
            if early > 4 * kills:
                raise RuntimeError(f"the ingest kept finishing before the kill ({early} times); "
                                   "lower --max-delay")
            write_corpus(corpus, max(12, files // 4), start=files)
            files += max(12, files // 4)
            continue
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done_kills += 1
        committed = check(index_dir, committed)
        checks += 1
        print(f"kill {done_kills}: {len(committed)}/{files} files committed, index consistent",
              file=sys.stderr, flush=True)
    final = subprocess.run(_docqa("ingest", str(corpus), "--json", index_dir=index_dir),
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert final.returncode == 0, final.stderr[-2000:]
    report = json.loads(final.stdout)
    keys = check(index_dir, committed)
    return {
        "kills": done_kills,
        "finished_before_kill": early,
        "checks_passed": checks + 1,
        "files": files,
        "files_indexed": len(keys),
        "unchanged_on_resume": report["counts"].get("unchanged", 0),
        "added_on_resume": report["counts"].get("added", 0),
        "corrupt": 0,
        "lost": 0,
        "duplicated": 0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--max-delay", type=float, default=1.5,
                    help="seconds after a new commit within which the kill lands (random); small "
                         "corpora on a fast machine need less, or the ingest ends before the kills")
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="docqa-soak-"))
    started = time.perf_counter()
    result = soak(workdir, args.kills, args.files, args.seed, args.max_delay)
    result["seconds"] = round(time.perf_counter() - started, 1)
    assert result["files_indexed"] == result["files"], result
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
