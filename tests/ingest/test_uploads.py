"""The one upload module both front ends use: safe names, one layout, staging and settling, deletion."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from docqa.ingest import uploads
from docqa.ingest.ingestor import FileResult, IngestReport
from docqa.ingest.uploads import safe_upload_name, settle_uploads, stage_uploads


def report(*lines: tuple[Path | str, str]) -> IngestReport:
    return IngestReport(results=[FileResult(path=str(path), status=status) for path, status in lines])


def uploaded(index: Path, name: str, data: bytes) -> list[uploads.StagedUpload]:
    """An upload the ingest indexed."""
    staged = stage_uploads(index, [(name, data)])
    settle_uploads(staged, report((staged[0].path, "added")))
    return staged


def listing(index: Path) -> list[str]:
    """Every entry of the uploads folder, hidden ones included: nothing may be left behind."""
    folder = index / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/etc/cron.d/evil.txt", "evil.txt"),
        ("..\\..\\windows\\system32\\evil.md", "evil.md"),
        ("C:\\Users\\me\\notes.md", "notes.md"),
        ("notes\x00.pdf.txt", "notes.pdf.txt"),
        (".bashrc.txt", "bashrc.txt"),
        (".hidden.txt", "hidden.txt"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("../.txt", "txt"),  # ".txt" is a hidden file without extension, as for pathlib
        ("résumé 2024 (final).pdf", "résumé 2024 (final).pdf"),
        ("a$b|c;d`e.txt", "a_b_c_d_e.txt"),
        ("a<b>|c?.txt", "a_b_c.txt"),
        ("report.PDF", "report.pdf"),  # one upload whatever the case of its extension
        ("x" * 300 + ".txt", "x" * 116 + ".txt"),
    ],
)
def test_safe_names_are_single_harmless_components(raw, expected):
    name = safe_upload_name(raw)
    assert name == expected
    assert "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith(".")


@pytest.mark.parametrize(
    "raw",
    [
        "文" * 85 + ".txt",  # the probe's name: 255 bytes of stem, 259 with the extension
        "文" * 300 + ".PDF",
        "é" * 150 + ".md",  # 2 bytes a character
        "𠀀" * 70 + ".html",  # 4 bytes a character (CJK extension B)
        "a" + "文" * 80 + ".docx",  # the cut falls inside a character unless it is made on a boundary
    ],
)
def test_long_multibyte_names_fit_the_file_system_and_keep_their_extension(tmp_path, raw):
    name = safe_upload_name(raw)
    assert len(name.encode("utf-8")) <= uploads.MAX_NAME_BYTES
    assert name.endswith(Path(raw).suffix.lower())
    assert raw.startswith(Path(name).stem), "the stem is a prefix of the client's: cut, never mangled"
    # Every name made from it in the uploads folder fits too: the file, its atomic-write temp file and the
    # earlier copy kept aside while a replacement is staged.
    staged = stage_uploads(tmp_path, [(raw, b"First version.\n")])
    settle_uploads(staged, report((staged[0].path, "added")))
    staged = stage_uploads(tmp_path, [(raw, b"Second version.\n")])
    assert staged[0].previous is not None and staged[0].previous.exists()
    settle_uploads(staged, report((staged[0].path, "updated")))
    assert listing(tmp_path) == [name]
    assert (tmp_path / "uploads" / name).read_bytes() == b"Second version.\n"


def test_default_stem_names_a_nameless_file():
    assert safe_upload_name("../", default_stem="faq") == "faq"


def test_a_new_upload_is_kept_when_ingested_and_removed_when_it_failed(tmp_path):
    index = tmp_path / "index"
    staged = stage_uploads(index, [("../../a.txt", b"alpha\n"), ("b.txt", b"beta\n")])
    assert [(s.client_name, s.name) for s in staged] == [("../../a.txt", "a.txt"), ("b.txt", "b.txt")]
    assert all(s.path.parent == index.resolve() / "uploads" and s.previous is None for s in staged)
    results = settle_uploads(staged, report((staged[0].path, "added"), (staged[1].path, "failed")))
    assert [r.status if r else None for r in results] == ["added", "failed"]
    assert listing(index) == ["a.txt"]
    assert (index / "uploads" / "a.txt").read_bytes() == b"alpha\n"


@pytest.mark.parametrize("outcome", ["failed", "skipped", None, "not reported"])
def test_the_earlier_upload_comes_back_when_its_replacement_is_not_indexed(tmp_path, outcome):
    index = tmp_path / "index"
    uploaded(index, "notes.txt", b"good\n")
    staged = stage_uploads(index, [("notes.txt", b"")])
    assert staged[0].previous is not None and staged[0].path.read_bytes() == b""  # ingest sees the new bytes
    if outcome is None:  # the ingest raised (e.g. the index is locked)
        settle_uploads(staged, None)
    elif outcome == "not reported":
        settle_uploads(staged, report())
    else:
        settle_uploads(staged, report((staged[0].path, outcome)))
    assert (index / "uploads" / "notes.txt").read_bytes() == b"good\n"
    assert listing(index) == ["notes.txt"]


def test_a_replacement_that_is_indexed_replaces_the_earlier_copy(tmp_path):
    index = tmp_path / "index"
    first = uploaded(index, "notes.txt", b"v1\n")
    staged = stage_uploads(index, [("notes.txt", b"v2\n")])
    assert staged[0].path == first[0].path  # same name, same file: the index updates that document
    settle_uploads(staged, report((staged[0].path, "updated")))
    assert (index / "uploads" / "notes.txt").read_bytes() == b"v2\n"
    assert listing(index) == ["notes.txt"]


def test_identical_bytes_leave_the_file_untouched(tmp_path):
    index = tmp_path / "index"
    uploaded(index, "notes.txt", b"same\n")
    path = index / "uploads" / "notes.txt"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    staged = stage_uploads(index, [("notes.txt", io.BytesIO(b"same\n"))])
    assert staged[0].unchanged and staged[0].previous is None
    settle_uploads(staged, None)  # even if the ingest then fails, the untouched file stays
    assert path.stat().st_mtime_ns == 1_000_000_000 and path.read_bytes() == b"same\n"


def test_streams_are_saved_and_names_colliding_in_one_batch_get_numbered(tmp_path):
    index = tmp_path / "index"
    staged = stage_uploads(
        index, [("x/report.txt", io.BytesIO(b"one\n")), ("y/report.txt", b"two\n"), ("report.TXT", b"3\n")]
    )
    assert [s.name for s in staged] == ["report.txt", "report-2.txt", "report-3.txt"]
    assert [s.path.read_bytes() for s in staged] == [b"one\n", b"two\n", b"3\n"]


def test_a_batch_that_fails_while_staging_leaves_nothing_changed(tmp_path):
    index = tmp_path / "index"
    uploaded(index, "a.txt", b"old\n")

    class Broken(io.BytesIO):
        def read(self, *args):
            raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        stage_uploads(index, [("a.txt", b"new\n"), ("b.txt", Broken(b"partial"))])
    assert listing(index) == ["a.txt"] and (index / "uploads" / "a.txt").read_bytes() == b"old\n"


def test_report_paths_relative_to_the_working_directory_are_matched(tmp_path, monkeypatch):
    index = tmp_path / "index"
    staged = stage_uploads(index, [("a.txt", b"alpha\n")])
    monkeypatch.chdir(tmp_path)
    results = settle_uploads(staged, report((Path("index/uploads/a.txt"), "added")))
    assert results[0] is not None and listing(index) == ["a.txt"]


def test_which_indexed_files_are_uploads(tmp_path):
    index = tmp_path / "index"
    root = index.resolve() / "uploads"
    assert uploads.upload_name(root / "a.txt", index) == "a.txt"
    older_layout = root / ("0123456789abcdef" * 2) / "a.txt"
    assert uploads.upload_name(str(older_layout), index) == "a.txt"
    assert not uploads.is_upload(root / "not-an-id" / "a.txt", index)
    assert not uploads.is_upload(root / ".a.txt.previous", index)
    assert not uploads.is_upload(tmp_path / "docs" / "a.txt", index)  # ingested from the user's folders
    assert not uploads.is_upload(tmp_path / "uploads" / "a.txt", index)  # another folder of that name


def test_deleting_removes_only_our_own_copies(tmp_path):
    index = tmp_path / "index"
    first = uploaded(index, "a.txt", b"a\n")
    legacy = index.resolve() / "uploads" / ("ab" * 16) / "old.txt"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"old\n")
    own = tmp_path / "docs" / "a.txt"
    own.parent.mkdir()
    own.write_bytes(b"mine\n")

    assert uploads.remove_upload(str(own), index) is False and own.exists()
    assert uploads.remove_upload(str(first[0].path), index) is True
    assert uploads.remove_upload(str(legacy), index) is True
    assert listing(index) == []
    assert uploads.remove_upload(str(first[0].path), index) is False  # already gone


def test_older_layout_uploads_of_a_kept_name_are_superseded(tmp_path):
    index = tmp_path / "index"
    legacy = str(index.resolve() / "uploads" / ("cd" * 16) / "a.txt")
    other = str(index.resolve() / "uploads" / ("ef" * 16) / "b.txt")
    staged = stage_uploads(index, [("a.txt", b"a\n"), ("b.txt", b"b\n")])
    results = settle_uploads(staged, report((staged[0].path, "added"), (staged[1].path, "failed")))
    keys = [legacy, other, str(staged[0].path)]
    assert uploads.superseded(staged, results, keys, index) == [legacy]  # b.txt failed: its old copy stays


def test_unreadable_files_are_named_with_the_loader_reason(tmp_path):
    staged = stage_uploads(tmp_path / "index", [("good.txt", b"Some text.\n"), ("empty.txt", b"")])
    problems = uploads.unreadable(staged)
    assert [(item.name, "empty" in reason) for item, reason in problems] == [("empty.txt", True)]
    settle_uploads(staged, None)
    assert listing(tmp_path / "index") == []


# ---------------------------------------------------------------- the lock's timeout, killed batches


def test_the_upload_lock_gives_up_with_a_busy_error_instead_of_waiting_forever(tmp_path):
    import threading
    import time

    from docqa.errors import BusyError

    index = tmp_path / "index"
    caught: list[BaseException] = []

    def second_batch() -> None:
        started = time.monotonic()
        try:
            with uploads.upload_lock(index, timeout=0.3):
                pass
        except BusyError as err:
            caught.append(err)
        caught.append(time.monotonic() - started)  # type: ignore[arg-type]

    with uploads.upload_lock(index):  # the first batch, still being ingested
        thread = threading.Thread(target=second_batch)
        thread.start()
        thread.join(timeout=30)
    error, waited = caught
    assert isinstance(error, uploads.UploadsBusyError) and "try again" in str(error)
    assert 0.3 <= waited < 10
    with uploads.upload_lock(index, timeout=0):  # free again once the first batch is done
        pass


def indexed(*pairs: tuple[Path, bytes]):
    """A lookup like the index's: each path indexed with the sha256 of the given bytes."""
    import hashlib

    from docqa.ingest.records import SourceFile

    def record(path: Path, data: bytes) -> SourceFile:
        sha = hashlib.sha256(data).hexdigest()
        return SourceFile(str(path), path.name, "", "text", sha, len(data), 0, [len(data)], ["p1"], "")

    records = {str(path): record(path, data) for path, data in pairs}
    return records.get


def test_a_killed_batch_is_settled_by_what_the_index_holds(tmp_path):
    """A batch killed between staging and settling: a file the index holds (here the first, committed
    in an earlier checkpoint) is kept, a replacement never indexed gets its earlier copy back, a new file
    never indexed goes; uploads of other batches are not touched."""
    index = tmp_path / "index"
    uploaded(index, "kept-before.txt", b"other batch\n")
    uploaded(index, "notes.txt", b"v1\n")
    root = index.resolve() / "uploads"
    staged = stage_uploads(index, [("done.txt", b"committed\n"), ("notes.txt", b"v2\n"), ("new.txt", b"x\n")])
    assert staged[1].previous is not None and uploads.has_unsettled_batches(index)
    # ... and here the process died: nothing settled. The index holds done.txt (new) and notes.txt (v1).
    lookup = indexed((root / "done.txt", b"committed\n"), (root / "notes.txt", b"v1\n"),
                     (root / "kept-before.txt", b"other batch\n"))
    done = uploads.recover_staged(index, lookup)
    assert done == {"kept": ["done.txt"], "restored": ["notes.txt"], "removed": ["new.txt"]}
    assert listing(index) == ["done.txt", "kept-before.txt", "notes.txt"]
    assert (root / "notes.txt").read_bytes() == b"v1\n"
    assert not uploads.has_unsettled_batches(index)
    assert uploads.recover_staged(index, lookup) == {"kept": [], "restored": [], "removed": []}


def test_a_journal_never_makes_recovery_touch_anything_but_safe_upload_names(tmp_path):
    index = tmp_path / "index"
    outside = tmp_path / "precious.txt"
    outside.write_text("mine")
    journals = uploads.journals_dir(index)
    journals.mkdir(parents=True)
    (journals / "forged.json").write_text('{"names": ["../../precious.txt", "/etc/passwd", 7]}')
    (journals / "garbled.json").write_text("{not json")
    assert uploads.recover_staged(index, lambda key: None) == {"kept": [], "restored": [], "removed": []}
    assert outside.read_text() == "mine" and not any(journals.iterdir())


def test_a_settled_batch_leaves_no_journal(tmp_path):
    index = tmp_path / "index"
    uploaded(index, "a.txt", b"alpha\n")
    staged = stage_uploads(index, [("b.txt", b"beta\n")])
    settle_uploads(staged, None)
    assert not uploads.has_unsettled_batches(index) and listing(index) == ["a.txt"]
