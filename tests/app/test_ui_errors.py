"""The page's one error mapping (app/ui/errors.py): every kind of DocQA error a section meets is one banner
with the error's one-line message — never a traceback — driven by Streamlit's AppTest with real DocQA
errors: an index another process is writing, a missing embedding model, an unknown document, a bad
setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from docqa import errors
from docqa.app.ui.errors import KIND_BANNERS, banner_for
from tests.app.test_ui import PAGE, TIMEOUT, AppTest, texts


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ------------------------------------------------------------------------------------------ the mapping
def test_every_kind_in_docqa_errors_has_its_banner() -> None:
    kinds = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.DocQAError)}
    assert {kind for kind, *_ in KIND_BANNERS} == kinds - {errors.DocQAError}


@pytest.mark.parametrize(
    ("error", "level"),
    [
        (type("LockedError", (errors.StorageError, errors.BusyError), {})("being written"), "warning"),
        (errors.UnavailableError("Cannot reach Milvus"), "error"),
        (errors.NotFoundError("No indexed document matches 'x'"), "info"),
        (errors.InvalidInputError("correct_answer: not in the passage"), "error"),
        (errors.ConfigError("DOCQA_FAQ_THRESHOLD must be a number"), "error"),
        (errors.StorageError("snapshot unreadable"), "error"),
        (errors.DocQAError("no kind"), "error"),
    ],
)
def test_each_kind_is_one_banner_that_starts_with_what_failed(error, level) -> None:
    banner = banner_for(error, "Documents cannot be added")
    assert banner.level == level  # a busy index is a warning: nothing is wrong, only wait
    assert banner.text.startswith(f"**Documents cannot be added.** {str(error).split(':')[0]}")
    assert "\n" not in banner.text and not banner.details


def test_a_message_keeps_its_first_line_in_the_banner_and_the_rest_as_commands_to_copy() -> None:
    err = errors.UnavailableError("The model 'm' is not available\nTo get it, run:\n    hf download m")
    banner = banner_for(err, "This question cannot be answered")
    assert banner.text == "**This question cannot be answered.** The model 'm' is not available"
    assert banner.details == "To get it, run:\n    hf download m"


def test_markdown_in_a_message_is_shown_as_text_but_names_stay_copyable() -> None:
    text = banner_for(errors.StorageError("/docs/*draft*/[x]$1 failed; set DOCQA_INDEX"), "Oops").text
    assert r"\*draft\*" in text and r"\[x\]\$1" in text
    assert "DOCQA_INDEX" in text


def test_a_bad_setting_says_to_restart_the_page() -> None:
    banner = banner_for(errors.ConfigError("DOCQA_STORE is bad"), "DocQA cannot open this index")
    assert "start the page again" in banner.text


# --------------------------------------------------------------------- real errors, through the sections
HARBOUR = b"The harbour of Brightwater was built in 1852 by the engineer Ada Lindqvist.\n"


def upload_through_the_page(index: str, data: bytes) -> None:
    """Script: the page's own upload section (app/ui/documents.py) adds one file to ``index``."""
    from docqa import DocQA
    from docqa.app.ui.documents import add_uploads

    class Upload:  # what st.file_uploader hands the section
        name = "harbour.txt"

        def getvalue(self) -> bytes:
            return data

    add_uploads(DocQA(index), [Upload()])


def delete_through_the_page(index: str, name: str) -> None:
    """Script: ask DocQA to delete a document, the way a section does, under the page's mapping."""
    from docqa import DocQA
    from docqa.app.ui.errors import page_errors

    with page_errors(f"{name} could not be removed"):
        DocQA(index).delete(name)


def remove_through_the_sidebar(index: str, key: str) -> None:
    """Script: the sidebar's remove button for a document someone else removed meanwhile."""
    from docqa import DocQA
    from docqa.app.ui.documents import delete_document, show_notice
    from docqa.pipelines.api import SourceFile

    gone = SourceFile(key, "gone.txt", "gone", "text", "0", 1, 1, [1], ["p1"], "2026-01-01T00:00:00+00:00")
    delete_document(DocQA(index), gone)
    show_notice()


@pytest.mark.slow
def test_an_index_another_process_writes_is_a_warning_and_the_upload_is_not_kept(tmp_path: Path) -> None:
    index = tmp_path / "index"
    holder = subprocess.Popen(  # another DocQA process holding the index's writer lock (an ingest)
        [
            sys.executable,
            "-c",
            "import sys, time; from docqa import DocQA\n"
            "with DocQA(sys.argv[1]).index.transaction(timeout=5):\n"
            "    print('locked', flush=True); time.sleep(120)",
            str(index),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        script = upload_through_the_page
        at = run(AppTest.from_function(script, args=(str(index), HARBOUR), default_timeout=TIMEOUT))
    finally:
        holder.kill()
        holder.wait()
    warning = texts(at.warning)
    assert warning.startswith("**Documents cannot be added.** The index at ")
    assert "being written by another DocQA process" in warning and "\n" not in warning
    assert not at.error
    saved = index / "uploads"
    assert not saved.exists() or list(saved.iterdir()) == [], "refused before its copy was saved"


@pytest.mark.slow
def test_an_upload_while_another_is_being_added_says_busy_try_again(tmp_path: Path) -> None:
    index = tmp_path / "index"
    holder = subprocess.Popen(  # another page or the service adding a big upload (holds the upload lock)
        [
            sys.executable,
            "-c",
            "import sys, time; from docqa.ingest.uploads import upload_lock\n"
            "with upload_lock(sys.argv[1]):\n"
            "    print('adding', flush=True); time.sleep(120)",
            str(index),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "adding"
        script = upload_through_the_page
        at = run(AppTest.from_function(script, args=(str(index), HARBOUR), default_timeout=TIMEOUT))
    finally:
        holder.kill()
        holder.wait()
    warning = texts(at.warning)
    assert warning.startswith("**Documents cannot be added.** Another upload is being added to the index")
    assert "try again" in warning and "\n" not in warning and not at.error
    saved = index / "uploads"
    assert not saved.exists() or list(saved.iterdir()) == []


def test_an_unknown_document_is_its_one_line_message(tmp_path: Path) -> None:
    at = run(AppTest.from_function(delete_through_the_page, args=(str(tmp_path / "index"), "no-such.txt")))
    assert texts(at.info).startswith(
        "**no-such.txt could not be removed.** No indexed document matches 'no-such.txt'"
    )
    assert not at.error and not at.warning


def test_a_document_removed_meanwhile_says_so(tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    at = run(AppTest.from_function(remove_through_the_sidebar, args=(index, "/docs/gone.txt")))
    assert texts(at.info) == "gone.txt was already removed."


def test_a_missing_embedding_model_on_the_page_is_a_banner_with_how_to_get_it(
    monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCQA_INDEX", str(tmp_path / "index"))
    monkeypatch.setenv("DOCQA_EMBEDDING_MODEL", str(tmp_path / "no-such-model"))
    monkeypatch.setenv("DOCQA_READER_MODEL", str(tmp_path / "no-such-reader"))
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "docqa-config.json"))
    monkeypatch.delenv("DOCQA_UI_SAMPLES", raising=False)
    at = run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    next(b for b in at.button if b.label == "Load the sample documents").click()
    run(at)
    error = texts(at.error)
    assert error.startswith("**Documents cannot be added.** The embedding model ")
    assert "no such directory" in error and "\n" not in error
    assert "huggingface-cli download" in texts(at.code), "the commands to get the model, ready to copy"
    assert "your index is empty" in texts(at.subheader), "nothing was indexed; the page still works"


def test_a_store_address_the_page_cannot_read_is_a_banner_not_a_traceback(monkeypatch, tmp_path) -> None:
    pytest.importorskip("milvus_lite")
    monkeypatch.setenv("DOCQA_INDEX", str(tmp_path / "index"))
    monkeypatch.setenv("DOCQA_STORE", "milvus-lite:///tmp/no-suffix")
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "docqa-config.json"))
    at = run(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    error = texts(at.error)
    assert error.startswith("**DocQA cannot open this index.** ") and "names a .db file" in error
    assert "start the page again" in error
