"""The public surface the front ends use: ``docqa.pipelines.api.__all__`` is documented, and the DocQA
methods that do the front ends' shared work (uploads, deleting an upload, watching) behave as the page
and the service rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from docqa.errors import InvalidInputError
from docqa.pipelines import api
from docqa.pipelines.api import DocQA, UnreadableUploadsError
from tests.conftest import REPO

HARBOUR = b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist.\n"


def test_every_exported_name_exists_and_the_readme_lists_it() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API") : readme.index("### Make the reader better")]
    listed = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)", section))
    assert [name for name in api.__all__ if not hasattr(api, name)] == []
    assert sorted(set(api.__all__) - listed) == [], "add them to README's Python API table"


def test_an_upload_is_saved_under_its_safe_name_and_the_same_bytes_again_are_not_ingested(tmp_path) -> None:
    qa = DocQA(tmp_path / "index")
    first = qa.add_uploads([("../Harbour.TXT", HARBOUR)])
    [item] = first.files
    assert (item.client_name, item.stored_as, item.status) == ("../Harbour.TXT", "Harbour.txt", "added")
    assert first.ok and first.ingest is not None and item.result.passages == 1
    assert qa.is_upload(item.key) and [d.key for d in qa.documents()] == [item.key]

    again = qa.add_uploads([("Harbour.txt", HARBOUR)])
    assert again.ingest is None and again.seconds == 0.0, "identical bytes: no ingest, no writer lock"
    assert [(f.status, f.result.passages, f.key) for f in again.files] == [("unchanged", 1, item.key)]


def test_refuse_unreadable_changes_nothing_and_names_each_file(tmp_path) -> None:
    qa = DocQA(tmp_path / "index")
    qa.add_uploads([("harbour.txt", HARBOUR)])
    with pytest.raises(UnreadableUploadsError) as caught:
        qa.add_uploads([("harbour.txt", b"changed\n"), ("empty.txt", b"")], refuse_unreadable=True)
    assert [name for name, _ in caught.value.files] == ["empty.txt"]
    assert str(caught.value).startswith("empty.txt: ") and str(caught.value).endswith("Nothing was indexed.")
    assert (tmp_path / "index" / "uploads" / "harbour.txt").read_bytes() == HARBOUR, "earlier copy restored"
    assert sorted(p.name for p in (tmp_path / "index" / "uploads").iterdir()) == ["harbour.txt"]


def test_deleting_an_upload_removes_its_saved_copy_only_when_asked(tmp_path) -> None:
    qa = DocQA(tmp_path / "index")
    [a] = qa.add_uploads([("a.txt", HARBOUR)]).files
    [b] = qa.add_uploads([("b.txt", HARBOUR.replace(b"1852", b"1853"))]).files
    qa.delete(a.key)  # `docqa delete`: the index only
    qa.delete(b.key, remove_upload=True)  # the page and the service: the saved copy goes too
    assert qa.documents() == []
    assert sorted(p.name for p in (tmp_path / "index" / "uploads").iterdir()) == ["a.txt"]


def test_a_user_file_is_never_deleted_from_disk(tmp_path) -> None:
    qa = DocQA(tmp_path / "index")
    mine = tmp_path / "mine.txt"
    mine.write_bytes(HARBOUR)
    qa.ingest([mine])
    assert not qa.is_upload(str(mine.resolve()))
    qa.delete(str(mine), remove_upload=True)
    assert mine.exists() and qa.documents() == []


def test_watching_a_path_that_does_not_exist_is_refused_naming_it(tmp_path: Path) -> None:
    qa = DocQA(tmp_path / "index")
    with pytest.raises(InvalidInputError, match="no-such-folder"):
        qa.watch([tmp_path / "no-such-folder"], on_change=print)


def test_catch_up_indexes_new_files_and_drops_vanished_ones(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "old.txt").write_bytes(HARBOUR)
    qa = DocQA(tmp_path / "index")
    qa.ingest([folder])
    (folder / "old.txt").unlink()
    (folder / "new.txt").write_text("Ferries to Lindholm leave from pier seven.\n", encoding="utf-8")
    heard = []
    watcher = qa.watch([folder], on_change=heard.append)
    watcher.catch_up()
    changes = sorted((Path(r.path).name, r.status) for r in heard)
    assert changes == [("new.txt", "added"), ("old.txt", "removed")]
    assert [d.file_name for d in qa.documents()] == ["new.txt"]
