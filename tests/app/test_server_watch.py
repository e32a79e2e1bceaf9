"""The HTTP service: Word/HTML answers cite their section; `serve --watch` keeps a folder indexed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from docqa.app.server.app import create_app
from docqa.errors import InvalidInputError
from tests.app.service_client import service_client
from tests.app.test_server import docqa, missing_reader
from tests.ingest.test_docx_html import make_docx


def test_ask_cites_the_section_of_a_word_answer(tmp_path: Path, test_reader_dir) -> None:
    qa = docqa(tmp_path / "index", test_reader_dir)
    assert qa.ingest([make_docx(tmp_path / "manual.docx")]).ok
    client = service_client(create_app(qa, api_key="", warm_up=False))

    body = client.post("/ask", json={"question": "How often does the fog horn sound?"}).json()
    source = body["answers"][0]["sources"][0]
    assert "thirty seconds" in body["answers"][0]["text"]
    assert source["file"].endswith("manual.docx") and source["page"] in (None, 1)
    assert source["section"] == "Fog horn"
    assert all("section" in passage for passage in body["passages"])
    found = client.post("/search", json={"query": "fog horn", "top_k": 1}).json()["passages"][0]
    assert found["section"] in {"Lamp", "Fog horn"}


def wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow  # waits for the watcher: ~5 s quiet
def test_serve_watch_keeps_a_folder_indexed_while_serving(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "old.txt").write_text("The old harbour crane was painted green in 1921.\n", encoding="utf-8")
    app = create_app(
        docqa(tmp_path / "index", missing_reader(tmp_path)), api_key="", warm_up=False, watch=[folder]
    )

    def files() -> set[str]:
        return {d["file_name"] for d in client.get("/documents").json()["documents"]}

    with service_client(app) as client:  # the lifespan starts the watcher: it catches up, then watches
        assert client.get("/ready").json()["watching"] == [str(folder.resolve())]
        assert wait_for(lambda: files() == {"old.txt"}), files()
        assert app.state.watcher.ready.wait(30)

        (folder / "new.txt").write_text("Ferries to Lindholm leave from pier seven.\n", encoding="utf-8")
        assert wait_for(lambda: files() == {"old.txt", "new.txt"}), files()
        hits = client.post("/search", json={"query": "ferries pier seven", "top_k": 1, "mode": "bm25"}).json()
        assert hits["passages"][0]["file"].endswith("new.txt")

        (folder / "old.txt").unlink()
        assert wait_for(lambda: files() == {"new.txt"}), files()
    thread = app.state.watcher._thread
    assert thread is not None and not thread.is_alive()  # shutdown stopped the watcher

    # After the service stopped, changes wait for the next start: nothing watches any more.
    (folder / "later.txt").write_text("The lighthouse opens to visitors on Sundays.\n", encoding="utf-8")
    time.sleep(2.5)
    restarted = create_app(docqa(tmp_path / "index", missing_reader(tmp_path)), api_key="", warm_up=False)
    with service_client(restarted) as client:
        assert files() == {"new.txt"}


def test_serve_watch_refuses_a_missing_folder(tmp_path: Path) -> None:
    qa = docqa(tmp_path / "index", missing_reader(tmp_path))
    with pytest.raises(InvalidInputError, match="no-such-folder"):
        create_app(qa, api_key="", watch=[tmp_path / "no-such-folder"])
