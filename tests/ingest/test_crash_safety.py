"""kill -9 of a real `docqa ingest` at any moment leaves an index that opens; re-running finishes the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from docqa.config import PACKAGED_EMBEDDING_MODEL
from docqa.pipelines.document_stores.local.index import LocalIndex

N_FILES = 30


def _docqa(*args: str, index_dir: Path) -> list[str]:
    return [sys.executable, "-m", "docqa.app.cli", *args, "--index", str(index_dir)]


def _write_corpus(folder: Path) -> None:
    folder.mkdir()
    for i in range(N_FILES):
        body = " ".join(f"File {i} sentence {j} describes topic number {i * 7 + j}." for j in range(60))
        (folder / f"doc{i:02d}.txt").write_text(body, encoding="utf-8")


def _assert_consistent(index_dir: Path) -> int:
    snapshot = LocalIndex(index_dir).load(PACKAGED_EMBEDDING_MODEL, 384)
    ids = [d.id for d in snapshot.passages]
    assert len(ids) == len(set(ids)), "no passage is stored twice"
    assert snapshot.embeddings.shape == (len(ids), 384)
    manifest_ids = [pid for source in snapshot.files.values() for pid in source.passage_ids]
    assert sorted(manifest_ids) == sorted(ids), "manifest and passages agree"
    return len(snapshot.files)


@pytest.mark.slow
def test_kill_minus_nine_mid_ingest_then_resume(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _write_corpus(corpus)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    seen_partial = False
    # Kill at several moments: right after start-up, after the first checkpoint, later on.
    for delay in (0.0, 0.3, 0.8, 1.5):
        proc = subprocess.Popen(
            _docqa("ingest", str(corpus), "--checkpoint-every", "8", "--json", index_dir=index_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
        start_count = _count_files(index_dir)
        deadline = time.monotonic() + 120
        # Wait until this run has committed something new (or finished), then a little longer.
        while proc.poll() is None and _count_files(index_dir) == start_count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        indexed = _assert_consistent(index_dir) if LocalIndex(index_dir).exists() else 0
        seen_partial = seen_partial or 0 < indexed < N_FILES
        if indexed == N_FILES:
            break
    assert seen_partial, "the kills should have interrupted the ingest at least once"

    done = subprocess.run(
        _docqa("ingest", str(corpus), "--json", index_dir=index_dir),
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"].get("unchanged", 0) > 0, "committed work is not redone"
    assert _assert_consistent(index_dir) == N_FILES


def _count_files(index_dir: Path) -> int:
    index = LocalIndex(index_dir)
    snapshot = index.load_any() if index.exists() else None
    return len(snapshot.files) if snapshot else 0


@pytest.mark.slow
def test_soak_random_kills_during_commits_and_merges_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """A shorter run of ``benchmarks/crash_soak.py`` (the full soak: 20 kills, 500 files, run by hand)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "crash_soak.py"), "--kills", "5", "--files", "80",
         "--max-delay", "0.3", "--workdir", str(tmp_path), "--json"],
        capture_output=True, text=True, cwd=root, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["files_indexed"] == 80 and result["kills"] >= 3
    assert result["unchanged_on_resume"] > 0, "committed work is not redone"
