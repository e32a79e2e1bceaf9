"""``--jobs N``: files read in a process pool give the very index ``--jobs 1`` gives; a file that kills its
worker fails alone; cancel and kill -9 of the writer lose and duplicate nothing.

Every test here starts spawned workers (each imports haystack: ~2-4 s), so the module is slow.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from docqa.ingest.bulk import ParsePool, crash_reason
from docqa.ingest.ingestor import Ingestor
from docqa.ingest.limits import Limits
from docqa.ingest.preparing import ParseJob, Prepared
from docqa.ingest.report import ADDED, FAILED, FileResult, IngestProgress
from docqa.ingest.splitting import PageAwareSplitter
from docqa.pipelines.document_stores.local.index import LocalIndex
from docqa.pipelines.indexing import IndexingPipeline
from tests.conftest import SAMPLES
from tests.ingest import hostile
from tests.ingest.bulk_workers import dies_on_crash_files
from tests.ingest.scans import image_pdf, render_pages
from tests.ingest.test_crash_safety import N_FILES, _assert_consistent, _count_files, _docqa, _write_corpus
from tests.pipelines.document_stores.test_store import MODEL, HashEmbedder

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _ingestor(index_dir: Path, jobs: int, checkpoint_every: int = 512) -> Ingestor:
    index = LocalIndex(index_dir)
    return Ingestor(
        index,
        IndexingPipeline(index, HashEmbedder()),
        embedding_model=MODEL,
        dim=384,
        checkpoint_every=checkpoint_every,
        jobs=jobs,
    )


def _content(index_dir: Path) -> tuple[list, dict]:
    """Everything the index holds except when each file was ingested."""
    snapshot = LocalIndex(index_dir).load(MODEL, 384)
    passages = [(d.id, d.content, {**d.meta, "ingested": None}) for d in snapshot.passages]
    files = {key: {**source.__dict__, "ingested_at": None} for key, source in snapshot.files.items()}
    return passages, files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples, a scanned page of one of them (read by OCR), and a file big enough to go in parts."""
    folder = tmp_path_factory.mktemp("bulk") / "corpus"
    folder.mkdir()
    for sample in SAMPLES.iterdir():
        (folder / sample.name).write_bytes(sample.read_bytes())
    image_pdf(render_pages(SAMPLES / "packet_switching.pdf", [1]), folder / "scanned.pdf")
    body = " ".join(f"Sentence {i} tells of tides, moons and lighthouses." for i in range(700))
    (folder / "z_big.txt").write_text(body, encoding="utf-8")
    return folder


def test_jobs_2_builds_exactly_the_index_jobs_1_builds(corpus: Path, tmp_path: Path) -> None:
    serial = _ingestor(tmp_path / "serial", jobs=1, checkpoint_every=40).run([corpus])
    pooled = _ingestor(tmp_path / "pooled", jobs=2, checkpoint_every=40).run([corpus])
    assert serial.ok and pooled.ok, (serial.to_dict(), pooled.to_dict())
    lines = [(r.path, r.status, r.passages, r.pages, r.notes) for r in serial.results]
    assert [(r.path, r.status, r.passages, r.pages, r.notes) for r in pooled.results] == lines
    scanned = next(r for r in pooled.results if r.path.endswith("scanned.pdf"))
    assert scanned.passages > 0 and any("OCR read page 1" in note for note in scanned.notes)
    assert pooled.checkpoints == serial.checkpoints > 2  # z_big.txt went in parts in both
    assert _content(tmp_path / "pooled") == _content(tmp_path / "serial")
    assert _children_left() == [], "the workers end with the run"


def _job(path: Path) -> ParseJob:
    return ParseJob(path=path, shown=path.name, sha256="0" * 64, size=1, mtime_ns=1, folder="", status=ADDED)


def _children_left(within: float = 10.0) -> list:
    """This process's worker processes still running ``within`` seconds from now (a worker the pool has
    just terminated takes a moment to exit; one that stays is a leak)."""
    deadline = time.monotonic() + within
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return multiprocessing.active_children()


def test_a_file_that_kills_its_worker_fails_alone_and_the_others_are_read(tmp_path: Path) -> None:
    names = ["a.txt", "b.txt", "crash-me.txt", "c.txt", "d.txt", "e.txt"]
    jobs = []
    for i, name in enumerate(names):
        (tmp_path / name).write_text(f"File {i} says the harbour opens at {i} o'clock.", encoding="utf-8")
        jobs.append(_job(tmp_path / name))
    splitter = PageAwareSplitter()
    with ParsePool(2, splitter, ocr=False, limits=Limits(), worker=dies_on_crash_files) as pool:
        outcomes = list(pool.ordered(jobs, stop=lambda: False))
    assert len(outcomes) == len(names)
    for name, outcome in zip(names, outcomes, strict=True):
        if name.startswith("crash"):
            assert outcome.status == FAILED and outcome.path == name
            assert outcome.reason == crash_reason(jobs[2])
            assert "crash-me.txt" in outcome.reason and "died" in outcome.reason
        else:
            assert isinstance(outcome, Prepared), (name, outcome)
            assert outcome.result.path == name and outcome.passages
    assert _children_left() == []


def test_hostile_files_fail_alone_in_the_pool(tmp_path: Path) -> None:
    """Small versions of the attack probe's files (tests/ingest/hostile.py): each is its own line."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    hostile.deep_docx(folder / "deep.docx")
    hostile.entity_docx(folder / "entities.docx")
    hostile.filler_docx(folder / "filler.docx", 0.5)
    hostile.tiff(folder / "frames.tiff", frames=3, side=400)
    (folder / "poison.txt").write_bytes((b"Duchy,Normandy,founded," * 3000)[:65536])
    (folder / "harbour.txt").write_text("The harbour opens at six in the morning.", encoding="utf-8")
    serial = _ingestor(tmp_path / "serial", jobs=1).run([folder])
    pooled = _ingestor(tmp_path / "pooled", jobs=2).run([folder])
    by_name = {Path(r.path).name: r for r in pooled.results}
    assert by_name["harbour.txt"].status == ADDED
    assert by_name["deep.docx"].status == by_name["entities.docx"].status == FAILED
    assert "nested" in by_name["deep.docx"].reason
    assert sorted(by_name) == sorted(p.name for p in folder.iterdir())
    assert [(r.path, r.status, r.reason) for r in pooled.results] == [
        (r.path, r.status, r.reason) for r in serial.results
    ]
    _assert_consistent_model(tmp_path / "pooled")


def _assert_consistent_model(index_dir: Path) -> None:
    snapshot = LocalIndex(index_dir).load(MODEL, 384)
    ids = [d.id for d in snapshot.passages]
    assert len(ids) == len(set(ids))
    assert sorted(pid for s in snapshot.files.values() for pid in s.passage_ids) == sorted(ids)


class _CancelAfterFirstFile(IngestProgress):
    def __init__(self) -> None:
        self.files = 0

    def file_done(self, result) -> None:
        self.files += 1


def test_cancel_stops_the_pool_and_keeps_what_was_committed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_corpus(corpus)
    progress = _CancelAfterFirstFile()
    ingestor = _ingestor(tmp_path / "index", jobs=2, checkpoint_every=8)
    report = ingestor.run([corpus], progress=progress, cancel=lambda: progress.files >= 3)
    assert report.cancelled and not report.ok
    assert _children_left() == [], "cancel ends the workers"
    kept = _count_files_model(tmp_path / "index")
    assert 0 < kept < N_FILES
    again = _ingestor(tmp_path / "index", jobs=2, checkpoint_every=8).run([corpus])
    assert again.ok and again.count("unchanged") == kept
    assert _count_files_model(tmp_path / "index") == N_FILES
    _assert_consistent_model(tmp_path / "index")


def _count_files_model(index_dir: Path) -> int:
    return len(LocalIndex(index_dir).load(MODEL, 384).files)


def test_kill_minus_nine_of_the_writer_with_a_pool_then_resume(tmp_path: Path) -> None:
    """A real `docqa ingest --jobs 2`, killed after its first commits: nothing lost or duplicated, the
    workers do not outlive it, and `--jobs 2` again finishes without redoing committed files."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    _write_corpus(corpus)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    flags = ("--jobs", "2", "--checkpoint-every", "8", "--json")
    args = _docqa("ingest", str(corpus), *flags, index_dir=index_dir)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    deadline = time.monotonic() + 180
    while proc.poll() is None and _count_files(index_dir) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _children(proc.pid)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    indexed = _assert_consistent(index_dir)
    assert 0 < indexed < N_FILES, "the kill interrupted the run"
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "the workers end when their writer dies"
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["counts"]["unchanged"] >= indexed
    assert _assert_consistent(index_dir) == N_FILES


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_one_file_to_read_is_read_here_without_starting_workers(tmp_path: Path) -> None:
    """Re-ingesting a folder after one change: the pool would cost seconds and buys nothing."""
    (tmp_path / "a.txt").write_text("The harbour opens at six.", encoding="utf-8")
    kept = FileResult(path="kept.txt", status="unchanged")
    with ParsePool(2, PageAwareSplitter(), ocr=False, limits=Limits(), worker=dies_on_crash_files) as pool:
        outcomes = list(pool.ordered([kept, _job(tmp_path / "a.txt"), kept], stop=lambda: False))
        assert not pool.started
    assert outcomes[0] is kept and outcomes[2] is kept
    assert isinstance(outcomes[1], Prepared) and outcomes[1].result.passages == 1
    assert _children_left() == []
