"""An upload killed (kill -9, a real process) between saving its files and settling them: opening the
index again settles what it left in uploads/ by what the index holds, and never touches other uploads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docqa.ingest import uploads

REPO = Path(__file__).resolve().parents[2]

# argv: index dir, where to die ("before-ingest" | "after-first-part"), then file paths to upload.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from docqa.ingest import ingestor
    from docqa.pipelines.api import DocQA

    index, when, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    die = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
    if when == "before-ingest":  # the files are staged, nothing is committed
        ingestor.Ingestor.run = die
    else:  # the small files' checkpoint and the big file's first part are committed
        original, calls = ingestor.Ingestor._embed_and_write, {"n": 0}
        def embed_and_write(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                die()
            return original(self, *args, **kwargs)
        ingestor.Ingestor._embed_and_write = embed_and_write
    DocQA(index).add_uploads([(Path(p).name, Path(p).read_bytes()) for p in paths])
    """
)


def upload_killed(index: Path, when: str, *files: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(index), when, *map(str, files)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]


def listing(index: Path) -> list[str]:
    return sorted(p.name for p in (index / "uploads").iterdir())


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "files"
    folder.mkdir()
    big = " ".join(f"Sentence marker{i:05d} tells of tides, moons and lighthouses." for i in range(12000))
    texts = {
        "notes.txt": "Version two of the notes: the ferry leaves at nine.",
        "new.txt": "A new file about the lighthouse keeper Marta Olsen.",
        "big.txt": big,  # ~700 passages: committed in parts
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {name: folder / name for name in texts}


@pytest.mark.slow
def test_opening_the_index_settles_an_upload_killed_before_its_ingest(tmp_path, files) -> None:
    from docqa.pipelines.api import DocQA

    index = tmp_path / "index"
    qa = DocQA(index)
    qa.add_uploads([("notes.txt", b"Version one of the notes: the ferry leaves at eight."),
                    ("other.txt", b"An upload of another batch about tides.")])
    before = {s.key: s.sha256 for s in qa.documents()}
    upload_killed(index, "before-ingest", files["notes.txt"], files["new.txt"], files["big.txt"])
    assert uploads.has_unsettled_batches(index)
    assert (index / "uploads" / "notes.txt").read_text().startswith("Version two")  # staged, not indexed

    reopened = DocQA(index)  # the page, the service and the CLI all open the index this way
    assert not uploads.has_unsettled_batches(index)
    assert listing(index) == ["notes.txt", "other.txt"], "new files never indexed are gone"
    assert (index / "uploads" / "notes.txt").read_text().startswith("Version one"), "as the index holds it"
    assert {s.key: s.sha256 for s in reopened.documents()} == before


@pytest.mark.slow
def test_a_file_the_index_holds_in_part_is_kept_and_uploading_it_again_finishes_it(tmp_path, files) -> None:
    from docqa.pipelines.api import DocQA

    index = tmp_path / "index"
    DocQA(index).add_uploads([("notes.txt", b"Version one of the notes: the ferry leaves at eight.")])
    upload_killed(index, "after-first-part", files["notes.txt"], files["new.txt"], files["big.txt"])

    reopened = DocQA(index)
    assert listing(index) == ["big.txt", "new.txt", "notes.txt"], "no kept-aside copy, no temporary file"
    assert (index / "uploads" / "notes.txt").read_text().startswith("Version two"), "committed: kept"
    documents = {Path(s.key).name: s for s in reopened.documents()}
    assert documents["big.txt"].partial and len(documents["big.txt"].passage_ids) == 32
    assert not documents["new.txt"].partial

    report = reopened.add_uploads([("big.txt", files["big.txt"].read_bytes())])  # same bytes: resumed
    (line,) = report.files
    assert line.status == "added" and line.result.notes[0].startswith("resumed: 32 of")
    assert report.ingest is not None and report.ingest.passages_embedded == line.result.passages - 32
    assert not {Path(s.key).name: s for s in reopened.documents()}["big.txt"].partial
