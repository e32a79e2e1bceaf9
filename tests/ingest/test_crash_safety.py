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
    assert result["kills"] == 5, result
    assert result["files_indexed"] == result["files"] >= 80, result
    assert result["unchanged_on_resume"] > 0, "committed work is not redone"


def _write_big_file(path: Path, sentences: int = 3000) -> None:
    """~180 passages in one file (one line, no newline): more than one checkpoint of 64."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sentence = "Sentence marker{:05d} tells of tides, moons and lighthouses."
    body = " ".join(sentence.format(i) for i in range(sentences))
    path.write_text(body, encoding="utf-8")


@pytest.mark.slow
def test_kill_minus_nine_in_the_middle_of_a_big_files_parts_then_resume(tmp_path: Path) -> None:
    """A real `docqa ingest` of one big file, killed once its first parts are committed: the index holds
    them as a partial file (`docqa documents` says so), and the next ingest embeds only the rest."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    big = corpus / "big.txt"
    _write_big_file(big)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        _docqa("ingest", str(corpus), "--checkpoint-every", "64", "--json", index_dir=index_dir),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=root,
    )
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not _partial_record(index_dir):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    record = _partial_record(index_dir)
    assert record is not None, "the first part is committed long before the file is done"
    committed = len(record.passage_ids)
    assert committed >= 32 and record.pending_passages > 0
    assert _assert_consistent(index_dir) == 1

    listing = subprocess.run(
        _docqa("documents", "--json", index_dir=index_dir), capture_output=True, text=True, env=env, cwd=root
    )
    (entry,) = json.loads(listing.stdout)
    assert entry["partial"] and entry["passages"] == committed and entry["pending_passages"] > 0
    table = subprocess.run(
        _docqa("documents", index_dir=index_dir), capture_output=True, text=True, env=env, cwd=root
    )
    assert "(partial)" in table.stdout and "partially indexed" in table.stdout

    done = subprocess.run(
        _docqa("ingest", str(corpus), "--checkpoint-every", "64", "--json", index_dir=index_dir),
        capture_output=True, text=True, env=env, cwd=root, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (line,) = report["files"]
    assert line["status"] == "added" and line["notes"][0].startswith(f"resumed: {committed} of")
    total = committed + record.pending_passages
    assert report["passages_embedded"] == total - committed, "the committed parts are not embedded again"
    final = LocalIndex(index_dir).files()[str(big.resolve())]
    assert not final.partial and len(final.passage_ids) == total
    assert _assert_consistent(index_dir) == 1


def _partial_record(index_dir: Path):
    index = LocalIndex(index_dir)
    if not index.exists():
        return None
    return next((s for s in index.files().values() if s.partial), None)
