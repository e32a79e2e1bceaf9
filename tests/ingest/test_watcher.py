"""A watched folder stays in sync: files added, changed and deleted show up in the index by themselves."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docqa.ingest.ingestor import FileResult
from docqa.ingest.watcher import FolderWatcher, ignored
from docqa.pipelines.document_stores.local.index import LocalIndex
from tests.pipelines.document_stores.test_store import make_ingestor

TIMEOUT_S = 20.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {TIMEOUT_S:.0f} s waiting for: {what}")


@pytest.fixture
def watched(tmp_path: Path, index_dir: Path) -> Iterator[tuple[Path, LocalIndex, list[FileResult]]]:
    folder = tmp_path / "inbox"
    folder.mkdir()
    ingestor = make_ingestor(index_dir)
    changes: list[FileResult] = []
    watcher = FolderWatcher(
        [folder], ingest=ingestor.run, index=ingestor.index, on_change=changes.append, debounce_s=0.3
    )
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    assert watcher.ready.wait(TIMEOUT_S)
    yield folder, ingestor.index, changes
    watcher.stop()
    thread.join(TIMEOUT_S)
    assert not thread.is_alive(), "stop() ends the watcher"


def indexed(index: LocalIndex) -> dict[str, str]:
    """file name → its indexed text."""
    snapshot = index.load_any()
    if snapshot is None:
        return {}
    text: dict[str, str] = {}
    for passage in snapshot.passages:
        name = passage.meta["file_name"]
        text[name] = text.get(name, "") + passage.content
    return text


def test_additions_changes_and_deletions_follow_the_folder(watched) -> None:
    folder, index, changes = watched
    (folder / "a.txt").write_text("The lighthouse keeper lit the lamp at dusk.", encoding="utf-8")
    # The index commits before the change is announced: wait for both.
    wait_for(lambda: "lamp at dusk" in indexed(index).get("a.txt", "") and changes, "a.txt to be indexed")
    assert [(c.status, Path(c.path).name) for c in changes] == [("added", "a.txt")]

    (folder / "a.txt").write_text("The ferry leaves pier three at seven.", encoding="utf-8")
    wait_for(lambda: "pier three" in indexed(index).get("a.txt", "") and len(changes) > 1, "a.txt re-indexed")
    assert "lamp at dusk" not in indexed(index)["a.txt"]
    assert [c.status for c in changes][-1] == "updated"

    (folder / "a.txt").unlink()
    wait_for(lambda: "a.txt" not in indexed(index) and len(changes) > 2, "a.txt to be removed")
    assert (changes[-1].status, Path(changes[-1].path).name) == ("removed", "a.txt")


def test_a_folder_moved_in_and_deleted_whole(watched, tmp_path: Path) -> None:
    folder, index, changes = watched
    outside = tmp_path / "outside" / "reports"
    outside.mkdir(parents=True)
    (outside / "q1.md").write_text("# Q1\n\nSales grew by four percent.", encoding="utf-8")
    (outside / "q2.txt").write_text("Sales fell by two percent in the second quarter.", encoding="utf-8")
    (folder / "~$draft.docx").write_bytes(b"Word lock file, not a document")
    (folder / ".git").mkdir()
    (folder / ".git" / "notes.txt").write_text("Hidden folders are not ingested.", encoding="utf-8")
    shutil.move(str(outside), str(folder / "reports"))
    wait_for(
        lambda: {"q1.md", "q2.txt"} <= set(indexed(index)) and len(changes) >= 2, "moved-in folder indexed"
    )
    assert "~$draft.docx" not in indexed(index) and "notes.txt" not in indexed(index)
    assert not any(c.status == "failed" for c in changes), changes

    shutil.rmtree(folder / "reports")
    removed = lambda: [c for c in changes if c.status == "removed"]  # noqa: E731
    wait_for(lambda: not indexed(index) and len(removed()) == 2, "the deleted folder's files to be removed")
    assert sorted(Path(c.path).name for c in changes if c.status == "removed") == ["q1.md", "q2.txt"]


def test_a_burst_of_writes_is_applied_once(watched) -> None:
    folder, index, changes = watched
    target = folder / "notes.txt"
    for i in range(5):
        target.write_text(f"Draft {i}: the meeting moved to Thursday.", encoding="utf-8")
        time.sleep(0.02)
    wait_for(lambda: "Draft 4" in indexed(index).get("notes.txt", "") and changes, "the last version indexed")
    time.sleep(0.8)  # longer than the debounce: no late duplicate application
    assert [c.status for c in changes] == ["added"]


def test_temporary_and_hidden_files_are_never_documents() -> None:
    for name in ("~$report.docx", ".notes.txt.swp", "a.txt~", "film.mp4.part"):
        assert ignored(Path("/data") / name), name
    assert not ignored(Path("/home/me/.local/docs/report.docx")), "a hidden folder above the root is fine"
