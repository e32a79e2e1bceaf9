"""End to end in a real browser: start the search page server the way a user does (``docqa ui``, or the
launcher it calls while the command is not registered yet) on a free loopback port, drive Debian's
Chromium with Playwright, and check what a person sees. Screenshots go to test-artifacts/.

Run with ``pytest -m browser``. Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the
``playwright`` Python package (never ``playwright install``: we use the system browser).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES, SHARED

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
READER = SHARED / "models" / "minilm-squad2-test"
ARTIFACTS = REPO / "test-artifacts"
SERVER_START_S = 120
FIRST_LOAD_MS = 240_000  # the first page view may index the samples and load the models
ANSWER_MS = 120_000
READY_URL = re.compile(r"DocQA is ready: open (http://127\.0\.0\.1:[1-9]\d*) ")  # what the launcher prints
TIMINGS = re.compile(r"^retrieval \d+ ms · reading \d+ ms · total \d+ ms")
TIMINGS_NO_READER = re.compile(r"^retrieval \d+ ms · total \d+ ms")


def docqa_has_ui_command() -> bool:
    from docqa.app.cli import app

    return any(
        (command.name or getattr(command.callback, "__name__", "")) == "ui"
        for command in app.registered_commands
    )


def server_command(index: Path, samples: bool) -> list[str]:
    """``docqa ui`` when the CLI has it, else the launcher module that ``docqa ui`` calls."""
    docqa = Path(sys.executable).with_name("docqa")
    if docqa.exists() and docqa_has_ui_command():
        base = [str(docqa), "ui"]
    else:
        base = [sys.executable, "-m", "docqa.app.ui.launcher"]
    return [*base, "--index", str(index), "--port", "0", "--host", "127.0.0.1"] + (
        ["--samples"] if samples else []
    )


class Server:
    """One page server in its own process group, so stopping it stops Streamlit too."""

    def __init__(self, index: Path, reader: Path, samples: bool, log: Path, config: Path) -> None:
        self.index = index
        self.url = ""  # the launcher picks a free port (--port 0) and prints the URL once the page is up
        self.log = log
        env = dict(os.environ, DOCQA_READER_MODEL=str(reader), DOCQA_CONFIG=str(config))
        env.pop("DOCQA_UI_SAMPLES", None)
        self.command = server_command(index, samples)
        self.process = subprocess.Popen(
            self.command, env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the page server exited: {self.log.read_text()}")
            if not self.url:
                printed = READY_URL.search(self.log.read_text())
                if printed is None:
                    time.sleep(0.5)
                    continue
                self.url = printed.group(1)
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError(
            f"the page server did not answer within {SERVER_START_S} s: {self.log.read_text()}"
        )

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing: pip install playwright"
    )
    if not (READER / "config.json").exists():
        pytest.skip(f"the test reader {READER} is not present")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def samples_server(browser, tmp_path_factory) -> Iterator[Server]:
    """``docqa ui --samples`` on a new, empty index with the test reader."""
    folder = tmp_path_factory.mktemp("ui-browser")
    server = Server(folder / "index", READER, True, folder / "server.log", folder / "config.json")
    yield server
    server.stop()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    failures_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failures_before:  # keep what the browser showed when it failed
        shot(page, f"FAILED-{request.node.name}.png")
    context.close()


def shot(page, name: str) -> Path:
    """Screenshot once the page has finished its run (Streamlit keeps stale elements while it redraws)."""
    try:
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=30_000)
        page.get_by_test_id("stSidebar").get_by_text("Settings", exact=True).wait_for(timeout=30_000)
    except Exception:  # noqa: BLE001 - a screenshot of an unsettled page still helps more than none
        pass
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def open_page(page, server: Server, documents: str | re.Pattern[str]) -> None:
    page.goto(server.url)
    page.get_by_test_id("stSidebar").get_by_text(documents).wait_for(timeout=FIRST_LOAD_MS)


def ask(page, question: str) -> None:
    """Type the question and press Enter, as a user does."""
    # The example buttons are drawn after the question form: once they show, the form is live (typing
    # into a box that is still being mounted can lose the text).
    page.get_by_text("Try one of these:").wait_for()
    box = page.get_by_label("Ask a question about your documents")
    box.fill(question)
    assert box.input_value() == question
    box.press("Enter")  # Enter submits the form
    # The page puts the question it is answering into the address (?q=...): proof that Enter submitted.
    page.wait_for_url(re.compile(r"[?&]q="), timeout=30_000)


def move_thumb(page, thumb, presses: int, reached, limit_s: float = 60.0) -> None:
    """Press ArrowRight on a range-slider thumb until the selection caption satisfies ``reached``.

    About ``presses`` presses are needed; each waits until the caption changes, and a press lost to a
    rerun is simply repeated (the caption decides, not the count)."""
    caption = page.get_by_text(re.compile(r"^Selected: “"))
    deadline = time.monotonic() + limit_s
    for _ in range(presses * 3 + 3):
        text = caption.inner_text()
        if reached(text):
            return
        assert time.monotonic() < deadline, f"the selection stopped at {text!r}"
        thumb.focus()
        thumb.press("ArrowRight")
        waited = time.monotonic()
        while caption.inner_text() == text and time.monotonic() - waited < 5.0:
            page.wait_for_timeout(100)
    raise AssertionError(f"the selection never reached the target; it shows {caption.inner_text()!r}")


def no_tracebacks(page) -> None:
    assert page.get_by_test_id("stException").count() == 0


def test_ask_shows_highlighted_answer_source_and_marked_page(page, samples_server):
    open_page(page, samples_server, "3 documents")
    page.get_by_role("button", name="Who invented packet switching?").wait_for()  # examples for the samples

    # The test reader's no-answer signal is weak: answer more readily, as a user would with the slider.
    page.get_by_text("Decide 'not found' automatically").click()
    sensitivity = page.get_by_role("slider", name="No-answer sensitivity")
    sensitivity.focus()
    sensitivity.press("Home")
    page.get_by_text("Reader threshold τ = +5.0").wait_for()

    ask(page, "Who invented packet switching?")

    # The timings caption is the last thing the page draws: once it is there, the whole answer is.
    page.get_by_text(TIMINGS).wait_for(timeout=ANSWER_MS)
    answer = page.locator(".docqa-answer").first
    assert answer.inner_text() == "Paul Baran"
    highlight = page.locator("mark.docqa-hit").first
    assert highlight.is_visible() and highlight.inner_text() == "Paul Baran"
    # The highlight sits inside the passage it came from, with the file and page above it.
    passage = page.locator(".docqa-passage").filter(has=page.locator("mark.docqa-hit")).first
    assert "American computer scientist Paul Baran developed" in passage.inner_text()
    assert page.get_by_text("packet_switching.pdf, page 1 of 6").first.is_visible()
    preview = page.get_by_text("Page 1 of 6 — the answer is marked in yellow").first
    assert preview.is_visible()
    assert page.get_by_test_id("stImage").first.locator("img").evaluate("img => img.naturalWidth") > 500
    assert page.get_by_text(re.compile(r"^Confidence \d+%$")).first.is_visible()
    no_tracebacks(page)
    shot(page, "ui-answer.png")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download packet_switching.pdf").first.click()
    assert Path(download.value.path()).read_bytes() == (SAMPLES / "packet_switching.pdf").read_bytes()


def test_question_without_answer_says_not_found_and_shows_passages(page, samples_server):
    open_page(page, samples_server, "3 documents")
    ask(page, "What colour is a giraffe's tongue?")
    page.get_by_text(TIMINGS).wait_for(timeout=ANSWER_MS)  # drawn last
    assert page.get_by_text("Not found in your documents.").is_visible()
    assert page.locator(".docqa-badge.unsure").first.is_visible()
    assert page.locator(".docqa-passage").nth(5).is_visible(), "the passages DocQA read are open to inspect"
    no_tracebacks(page)
    shot(page, "ui-not-found.png")


def test_upload_adds_the_file_and_lists_it(page, samples_server, tmp_path):
    open_page(page, samples_server, "3 documents")
    notes = tmp_path / "lighthouse_notes.txt"
    notes.write_text("The lighthouse keeper lit the lamp at dusk every day.\n", encoding="utf-8")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.locator('input[type="file"]').set_input_files(str(notes))
    sidebar.get_by_text("lighthouse_notes.txt").first.wait_for()
    sidebar.get_by_role("button", name="Add to index").click()
    sidebar.get_by_text("4 documents").wait_for(timeout=ANSWER_MS)
    listed = sidebar.get_by_test_id("stExpander").filter(has_text="lighthouse_notes.txt")
    listed.wait_for()  # the document list is drawn after the report
    assert listed.count() == 1
    report = sidebar.get_by_test_id("stVerticalBlock").filter(has_text="Upload report").last
    assert re.search(r"added\s+lighthouse_notes\.txt\s+— 1 passage", report.inner_text())
    no_tracebacks(page)
    shot(page, "ui-upload.png")


def test_empty_index_onboarding_then_reader_unavailable_banner(page, browser, tmp_path):
    """A fresh install without the reader model: one click loads the samples, search still answers."""
    server = Server(tmp_path / "index", tmp_path / "no-reader-here", False, tmp_path / "server.log",
                    tmp_path / "config.json")  # fmt: skip
    try:
        page.goto(server.url)
        page.get_by_text("Welcome — your index is empty").wait_for(timeout=FIRST_LOAD_MS)
        load = page.get_by_role("button", name="Load the sample documents")
        load.wait_for()
        page.get_by_role("slider", name="Passages to read").wait_for()  # the sidebar is drawn too
        no_tracebacks(page)
        shot(page, "ui-onboarding.png")
        load.click()
        page.get_by_test_id("stSidebar").get_by_text("3 documents").wait_for(timeout=FIRST_LOAD_MS)

        ask(page, "Who founded the Duchy of Normandy?")
        page.get_by_text(TIMINGS_NO_READER).wait_for(timeout=ANSWER_MS)  # drawn last
        assert page.get_by_text("The answer reader isn't available").is_visible()
        passages = page.locator(".docqa-passage")
        assert passages.count() == 5 and passages.first.is_visible()
        assert "Rollo" in " ".join(passages.all_inner_texts())
        no_tracebacks(page)
        shot(page, "ui-reader-unavailable.png")
    finally:
        server.stop()


def test_wrong_answer_corrected_by_selecting_the_span_reaches_the_feedback_export(
    page, samples_server, tmp_path
):
    """Click "wrong", select the right words in the passage, send; `docqa feedback export` has it."""
    import json

    from docqa.app.ui.feedback import tokens

    # The samples, plus whatever the upload test added to this shared server's index.
    open_page(page, samples_server, re.compile(r"^[3-9] documents$"))
    page.get_by_text("Decide 'not found' automatically").click()
    sensitivity = page.get_by_role("slider", name="No-answer sensitivity")
    sensitivity.focus()
    sensitivity.press("Home")
    page.get_by_text("Reader threshold τ = +5.0").wait_for()
    ask(page, "Who invented packet switching?")
    page.get_by_text(TIMINGS).wait_for(timeout=ANSWER_MS)
    assert page.locator(".docqa-answer").first.inner_text() == "Paul Baran"

    page.get_by_role("button", name="Wrong").first.click()
    page.get_by_text("What is the right answer?").wait_for()
    caption = page.get_by_text(re.compile(r"^Selected: “"))
    caption.wait_for()
    assert caption.inner_text() == "Selected: “Paul Baran”"  # the slider starts on the answer given
    passage = page.locator(".docqa-pick-passage").inner_text()
    words = [passage[s:e] for s, e in tokens(passage)]
    paul, rand = words.index("Paul"), words.index("RAND")
    assert words[rand + 1] == "Corporation"
    thumbs = page.get_by_test_id("stSlider").filter(has_text="Drag the two ends").get_by_role("slider")
    # Keyboard, as a user can: the upper end first (the lower may not pass it), one word per key press,
    # each press waiting for the page to show its result (a press sent during a rerun can be lost).
    move_thumb(page, thumbs.nth(1), rand + 1 - (paul + 1),
               lambda text: re.fullmatch(r"Selected: “Paul Baran .* RAND Corporation”", text) is not None)
    move_thumb(page, thumbs.nth(0), rand - paul, lambda text: text == "Selected: “RAND Corporation”")
    mark = page.locator("mark.docqa-pick")
    assert mark.inner_text() == "RAND Corporation" and mark.is_visible()
    no_tracebacks(page)
    shot(page, "ui-feedback-selection.png")

    page.get_by_role("button", name="Send").click()
    page.get_by_text("Thanks — saved your correction: “RAND Corporation”.").wait_for()
    page.get_by_text("What is the right answer?").wait_for(state="detached")  # the panel closes
    no_tracebacks(page)
    shot(page, "ui-feedback-saved.png")

    out = tmp_path / "feedback.json"
    docqa = Path(sys.executable).with_name("docqa")
    command = [str(docqa)] if docqa.exists() else [sys.executable, "-m", "docqa.app.cli"]
    export = [*command, "feedback", "export", "--out", str(out), "--index", str(samples_server.index)]
    done = subprocess.run(export, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    squad = json.loads(out.read_text(encoding="utf-8"))
    [(context, qa)] = [(p["context"], qa) for a in squad["data"] for p in a["paragraphs"] for qa in p["qas"]]
    assert qa["question"] == "Who invented packet switching?" and qa["is_impossible"] is False
    [answer] = qa["answers"]
    assert answer["text"] == "RAND Corporation"
    assert answer["answer_start"] == context.index("RAND Corporation")
    assert context[answer["answer_start"] :].startswith("RAND Corporation")
    assert "American computer scientist Paul Baran developed" in context  # the passage the page showed


# The example questions the page offers for the samples (four of data/example_questions.json, one per
# document in turn) with the reader users get offline, and the answer each must show first. "Who founded
# the Duchy of Normandy?" is screenshotted but not asserted: the compact reader still answers "treaty of
# Saint-Clair-sur-Epte" (a known miss, see data/compact-reader/TRAINING.md).
COMPACT_EXAMPLES = {
    "Who founded the Duchy of Normandy?": None,
    "Who invented packet switching?": "paul baran",
    "What is the efficiency of a steam engine limited by?": "working fluid",
    "When was the Duchy of Normandy founded?": "911",
}


def test_example_questions_with_the_bundled_compact_reader(page, tmp_path):
    """``docqa ui --samples`` with the compact reader, as on a machine without the Hub: every example
    question the page offers is asked from the page's address (?q=...) and its first answer checked; the
    telephone question, which the samples cannot answer, says "Not found in your documents"."""
    server = Server(
        tmp_path / "index", Path("compact"), True, tmp_path / "server.log", tmp_path / "config.json"
    )
    try:
        open_page(page, server, "3 documents")
        for question in COMPACT_EXAMPLES:  # the buttons the page offers for the three samples
            page.get_by_role("button", name=question, exact=True).wait_for()
        for number, (question, expected) in enumerate(COMPACT_EXAMPLES.items(), start=1):
            page.goto(f"{server.url}/?q={urllib.parse.quote(question)}")
            page.get_by_text(TIMINGS).wait_for(timeout=ANSWER_MS)
            assert page.get_by_text(re.compile("^Answers from the .*compact")).first.is_visible()
            first = page.locator(".docqa-answer").first.inner_text()
            no_tracebacks(page)
            shot(page, f"compact-example-{number}.png")
            if expected is not None:
                assert expected in first.lower(), (question, first)
        page.goto(f"{server.url}/?q={urllib.parse.quote('Who invented the telephone?')}")
        page.get_by_text(TIMINGS).wait_for(timeout=ANSWER_MS)
        assert page.get_by_text("Not found in your documents.").is_visible()
        no_tracebacks(page)
        shot(page, "compact-telephone-not-found.png")
    except Exception:
        shot(page, "FAILED-compact-examples-before-stop.png")
        raise
    finally:
        server.stop()


def test_the_page_framed_by_another_site_shows_nothing_to_click(page, samples_server, tmp_path) -> None:
    """Clickjacking: another origin (here a local server on another port) puts the page in an iframe
    under a decoy; the page hides itself there, while opened on its own it works (the other tests)."""
    import http.server
    import threading

    from docqa.app.ui.framing import FRAMED_MESSAGE

    decoy = (
        "<html><body><h1>Win a prize</h1>"
        f'<iframe id="docqa" src="{samples_server.url}" width="1200" height="900"></iframe></body></html>'
    )

    class Decoy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = decoy.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Decoy)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        frame = page.frame_locator("#docqa")
        frame.get_by_text(FRAMED_MESSAGE).wait_for(timeout=FIRST_LOAD_MS)
        inner = next(f for f in page.frames if f.url.startswith(samples_server.url))
        assert inner.evaluate("getComputedStyle(document.body).display") == "none"
        shot(page, "framed-by-another-site.png")
    finally:
        evil.shutdown()
