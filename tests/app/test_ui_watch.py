"""The page with Word files and watched folders: a .docx answer cites its section; `docqa ui --watch`
starts `docqa ingest --watch` on the page's index beside Streamlit, stops it with it; the sidebar says so."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from docqa import config
from docqa.app.ui import launcher
from tests.app import test_ui
from tests.app.test_ui import ask, htmls, set_sensitivity, start, texts
from tests.ingest.test_docx_html import make_docx

page_env = test_ui.page_env  # the page configured through the environment, as `docqa ui` does


def test_a_word_answer_shows_its_section_and_downloads_as_word(page_env, tmp_path, test_reader_dir) -> None:
    from docqa.pipelines.api import DocQA

    index = tmp_path / "index"
    assert DocQA(index).ingest([make_docx(tmp_path / "manual.docx")]).ok
    page_env(index, test_reader_dir)
    at = start()
    set_sensitivity(at, -5.0)
    ask(at, "How often does the fog horn sound?")

    page_html = "\n".join(htmls(at))
    assert "manual.docx › Fog horn" in page_html, page_html[:2000]
    assert "page 1" not in page_html
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert "Download manual.docx" in buttons


def test_sidebar_says_which_folders_are_watched(page_env, monkeypatch, tmp_path, test_reader_dir) -> None:
    page_env(tmp_path / "index", test_reader_dir)
    watched = [tmp_path / "manuals", tmp_path / "notes"]
    monkeypatch.setenv(config.UI_WATCH, os.pathsep.join(map(str, watched)))
    at = start()
    assert f"Watching {watched[0]}, {watched[1]}" in texts(at.sidebar.caption).replace("\\", "")


def test_mime_types_cover_every_supported_file_type() -> None:
    from docqa.app.ui.answers import MIME_TYPES
    from docqa.ingest.loaders import SUPPORTED_SUFFIXES

    assert set(MIME_TYPES) == SUPPORTED_SUFFIXES
    assert MIME_TYPES[".docx"].endswith("wordprocessingml.document")
    assert MIME_TYPES[".htm"] == "text/html" and MIME_TYPES[".jpg"] == "image/jpeg"


def test_watch_command_and_environment(tmp_path: Path) -> None:
    folder = tmp_path / "manuals"
    env = launcher.ui_environment(Path("rel-index"), samples=False, base={}, watch=[folder])
    assert env[config.UI_WATCH] == str(folder.resolve())
    command = launcher.watch_command([folder], env[config.INDEX])
    assert command == [sys.executable, "-m", "docqa.app.cli", "ingest", str(folder), "--watch",
                       "--index", str(Path("rel-index").resolve())]
    assert launcher.watch_command([folder], "ix", ocr=False)[-1] == "--no-ocr"
    assert config.UI_WATCH not in launcher.ui_environment(Path("x"), samples=False, base={})


class FakeProcess:
    """Stands in for a child process: records how it was started and how it was stopped."""

    def __init__(self, command, env, log, exits: bool) -> None:
        self.command, self.env, self.log, self.exits = command, env, log, exits
        self.returncode = 0 if exits else None
        log.append(("start", command[2] if command[1] == "-m" else command[1]))

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        return self.returncode

    def send_signal(self, sig) -> None:
        self.log.append(("signal", sig))
        self.returncode = -sig

    def terminate(self) -> None:
        self.log.append(("terminate", None))
        self.returncode = -15

    kill = terminate


def test_ui_watch_runs_the_watcher_beside_the_page_and_stops_it_with_it(monkeypatch, tmp_path) -> None:
    folder = tmp_path / "manuals"
    folder.mkdir()
    log: list = []
    children: list[FakeProcess] = []

    def popen(command, env):
        # The page (streamlit) stops at once, as if its user pressed Ctrl-C; the watcher keeps running.
        children.append(FakeProcess(command, env, log, exits="streamlit" in command))
        return children[-1]

    monkeypatch.setattr(launcher.subprocess, "Popen", popen)
    monkeypatch.setattr(launcher, "wait_until_ready", lambda process, url: False)
    assert launcher.run_ui(tmp_path / "index", 0, watch=[folder], ocr=False) == 0

    watcher, page = children
    assert watcher.command[2:5] == ["docqa.app.cli", "ingest", str(folder)] and "--no-ocr" in watcher.command
    index_arg = watcher.command[watcher.command.index("--index") + 1]
    assert index_arg == page.env[config.INDEX] == str((tmp_path / "index").resolve())
    assert page.env[config.UI_WATCH] == str(folder.resolve())
    assert log == [("start", "docqa.app.cli"), ("start", "streamlit"), ("signal", signal.SIGINT)]


def test_ui_watch_refuses_a_missing_folder(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(launcher.subprocess, "Popen", lambda *a, **k: pytest.fail("nothing may start"))
    assert launcher.run_ui(tmp_path / "index", 0, watch=[tmp_path / "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    # The arguments are checked before the port: with the port taken, the user still learns what is wrong
    # with the folder (the busy port would be their next error, once the folder is fixed).
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert launcher.run_ui(tmp_path / "index", busy, watch=[tmp_path / "nope"]) == 2
        err = capsys.readouterr().err
        assert "nope" in err and "already in use" not in err, err
        assert launcher.run_ui(tmp_path / "index", 65536, watch=[tmp_path]) == 2
        assert "port must be between 0 and 65535, got 65536" in capsys.readouterr().err
        assert launcher.run_ui(tmp_path / "index", busy, watch=[tmp_path]) == 2
        assert "already in use" in capsys.readouterr().err
