"""The search page (app/ui/page.py) driven by Streamlit's AppTest: the real page script, the real DocQA API,
the packaged embedder and the test reader in ../shared/models/minilm-squad2-test (the page's PDF preview
on its own: ``test_preview.py``).

Each test configures the page the way ``docqa ui`` does (environment variables) and asserts what a user
would see: the answer, its highlight in the passage, the file and page, the banners of the degraded modes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docqa.app.ui.formatting import highlight_html
from docqa.app.ui.questions import example_questions
from docqa.app.ui.sidebar import threshold_for
from docqa.ingest.uploads import safe_upload_name
from tests.conftest import REPO, SAMPLES, SHARED, make_pdf

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

READER = SHARED / "models" / "minilm-squad2-test"
PAGE = str(REPO / "app" / "ui" / "page.py")
ANSWER_RE = re.compile(r'<div class="docqa-answer[^"]*">(.*?)</div>')
MARK_RE = re.compile(r'<mark class="docqa-hit">(.*?)</mark>')
TIMEOUT = 240  # seconds for one script run: the first loads models, an ingest embeds passages


@pytest.fixture
def reader_dir() -> Path:
    if not (READER / "config.json").exists():
        pytest.skip(f"the test reader {READER} is not present")
    return READER


@pytest.fixture
def page_env(monkeypatch, tmp_path):
    """Configure the page through the environment, as ``docqa ui`` does; no user config leaks in."""
    monkeypatch.setenv("DOCQA_CONFIG", str(tmp_path / "docqa-config.json"))
    monkeypatch.delenv("DOCQA_UI_SAMPLES", raising=False)
    monkeypatch.delenv("DOCQA_EMBEDDING_MODEL", raising=False)
    monkeypatch.delenv("DOCQA_READER_BACKEND", raising=False)
    monkeypatch.delenv("DOCQA_API_KEY", raising=False)  # set: the page asks for it first (test_key_gate...)

    def configure(index: Path, reader: Path | str) -> None:
        monkeypatch.setenv("DOCQA_INDEX", str(index))
        monkeypatch.setenv("DOCQA_READER_MODEL", str(reader))

    return configure


@pytest.fixture
def samples_copy(sample_index: Path, tmp_path: Path) -> Path:
    """A private copy of the session's sample index, for tests that change it."""
    target = tmp_path / "index"
    shutil.copytree(sample_index, target)
    return target


def start() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.text_input(key="question").set_value(question)
    at.button(key="FormSubmitter:ask-form-Ask").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def htmls(at: AppTest) -> list[str]:
    return [element.value for element in at.get("html")]


def answers_shown(at: AppTest) -> list[str]:
    return [m.group(1) for body in htmls(at) for m in ANSWER_RE.finditer(body)]


def marked(at: AppTest) -> list[str]:
    return [m.group(1) for body in htmls(at) for m in MARK_RE.finditer(body)]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def set_sensitivity(at: AppTest, value: float) -> AppTest:
    at.sidebar.toggle(key="auto_threshold").set_value(False).run()
    at.sidebar.slider(key="sensitivity").set_value(value).run()
    return at


# ------------------------------------------------------------------------------------------ the page
def test_question_shows_the_answer_highlighted_with_file_page_and_preview(page_env, sample_index, reader_dir):
    page_env(sample_index, reader_dir)
    at = start()
    assert "3 documents" in texts(at.sidebar.markdown)
    # Example questions come from data/example_questions.json for the indexed samples.
    labels = [b.label for b in at.button]
    assert "Who invented packet switching?" in labels
    assert "Who founded the Duchy of Normandy?" in labels

    # Answer more readily than the (uncalibrated) default: the test reader's no-answer signal is weak.
    set_sensitivity(at, -5.0)
    ask(at, "Who invented packet switching?")

    shown = answers_shown(at)
    assert shown and shown[0] == "Paul Baran"
    assert "Paul Baran" in marked(at)
    page_html = "\n".join(htmls(at))
    assert "packet_switching.pdf, page 1 of 6" in page_html
    assert "Not found in your documents" not in texts(at.warning)
    assert any("Confidence" in p.proto.text for p in at.get("progress"))
    # The PDF page is rendered with the answer's region marked, and the file can be downloaded.
    captions = [c for image in at.get("image") for c in image.captions]
    assert any(c.startswith("Page 1 of 6") and "answer is marked" in c for c in captions), captions
    downloads = [b.proto.label for b in at.get("download_button")]
    assert "Download packet_switching.pdf" in downloads
    # Timings in small print.
    assert any("retrieval" in c and "reading" in c and " ms" in c for c in (x.value for x in at.caption))


def test_example_question_button_asks_it(page_env, sample_index, reader_dir):
    page_env(sample_index, reader_dir)
    at = start()
    set_sensitivity(at, -5.0)
    next(b for b in at.button if b.label == "What is the efficiency of a steam engine limited by?").click()
    at.run()
    assert at.text_input(key="question").value == "What is the efficiency of a steam engine limited by?"
    assert answers_shown(at), "an example question is answered straight away"
    assert "steam_engine.md" in "\n".join(htmls(at))


def test_no_answer_state_says_not_found_and_still_shows_candidates_and_passages(
    page_env, sample_index, reader_dir
):
    page_env(sample_index, reader_dir)
    at = ask(start(), "What colour is a giraffe's tongue?")
    warnings = texts(at.warning)
    assert "Not found in your documents" in warnings
    # Candidates are still there, marked unsure, and the retrieved passages are open for inspection.
    assert answers_shown(at)
    assert any('class="docqa-badge unsure"' in body for body in htmls(at))
    expander = next(e for e in at.expander if "passages DocQA read" in e.label)
    assert expander.proto.expanded
    assert len([b for b in htmls(at) if 'class="docqa-passage"' in b]) >= 5 + 1


def test_reader_unavailable_shows_banner_and_passages(page_env, sample_index, tmp_path):
    page_env(sample_index, tmp_path / "no-such-reader")
    at = ask(start(), "Who founded the Duchy of Normandy?")
    assert "The answer reader isn't available" in texts(at.warning)
    assert not at.exception
    how_to = texts(at.code)
    assert "DOCQA_READER_MODEL" in how_to and "huggingface-cli download" in how_to
    passages = [b for b in htmls(at) if 'class="docqa-passage"' in b]
    assert len(passages) == 5
    assert any("Rollo" in b for b in passages), "the passages that match are shown without a reader"
    assert not answers_shown(at)


def test_compact_fallback_answers_are_labelled(page_env, sample_index, tmp_path, monkeypatch):
    page_env(sample_index, tmp_path / "no-such-reader")
    monkeypatch.setenv("DOCQA_READER_FALLBACK", "1")
    at = ask(start(), "When was the Duchy of Normandy founded?")
    assert "compact offline reader — lower accuracy" in texts(at.info)
    assert answers_shown(at), "the compact reader answers"


def test_faq_match_shows_the_curated_answer(page_env, samples_copy, reader_dir, tmp_path):
    from docqa.pipelines.api import DocQA

    faq_file = tmp_path / "faq.csv"
    faq_file.write_text(
        'question,answer\nHow do I add documents?,"Use the Upload button in the sidebar."\n', encoding="utf-8"
    )
    DocQA(samples_copy).load_faq(faq_file)
    page_env(samples_copy, reader_dir)
    at = ask(start(), "How do I add documents?")
    assert "Use the Upload button in the sidebar." in "\n".join(htmls(at))
    assert "Matched FAQ question" in texts(at.caption)


def rendered(markdown_text: str) -> str:
    """Markdown as a CommonMark renderer (like the browser's) turns it into HTML."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown_text)


def test_faq_questions_are_shown_as_text_never_as_markdown(page_env, samples_copy, reader_dir, tmp_path):
    """Issue 27, finding 7: an FAQ question holding a Markdown image made the browser fetch its URL."""
    from docqa.pipelines.api import DocQA

    question = (
        "![pixel](http://127.0.0.1:9/track.png) How do I **add** [documents](http://evil.example)? "
        "<img src=x> :red[now] $x^2$"
    )
    answer = "Use the ![img](http://127.0.0.1:9/a.png) Upload button."
    faq_file = tmp_path / "faq.json"
    faq_file.write_text(json.dumps([{"question": question, "answer": answer}]), encoding="utf-8")
    DocQA(samples_copy).load_faq(faq_file)
    page_env(samples_copy, reader_dir)
    at = ask(start(), question)
    caption = next(c.value for c in at.caption if "Matched FAQ question" in c.value)
    html_out = rendered(caption)
    assert "<img" not in html_out and "<a " not in html_out and "<strong>" not in html_out, html_out
    assert "![pixel](http" in html_out and "**add**" in html_out and ":red[now]" in html_out
    body = "\n".join(htmls(at))
    assert "Use the ![img](http://127.0.0.1:9/a.png) Upload button." in body  # HTML-escaped text, no image
    assert "<img" not in body


def test_html_in_documents_and_questions_is_escaped(page_env, tmp_path, reader_dir):
    from docqa.pipelines.api import DocQA

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tricky.txt").write_text(
        "The <script>alert(1)</script> tag & the <b>bold</b> tag. The lighthouse keeper lit the lamp at "
        "dusk every day, and the ship arrived in the harbour on Tuesday morning.\n",
        encoding="utf-8",
    )
    index = tmp_path / "index"
    assert DocQA(index).ingest([docs]).ok
    page_env(index, reader_dir)
    at = start()
    set_sensitivity(at, -5.0)
    ask(at, "When did the keeper light the <b>lamp</b>?")
    body = "\n".join(htmls(at))
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<b>bold</b>" not in body
    assert any("dusk" in m for m in marked(at))


# ------------------------------------------------------------------------------------------ uploads
def test_upload_indexes_the_file_reports_each_file_and_lists_it(page_env, samples_copy, reader_dir, tmp_path):
    page_env(samples_copy, reader_dir)
    at = start()
    (tmp_path / "src").mkdir()
    pdf = make_pdf(tmp_path / "src" / "lighthouse.pdf", ["The lighthouse keeper lit the lamp at dusk."])
    uploader = at.sidebar.get("file_uploader")[0]
    uploader.upload("../../lighthouse.pdf", pdf.read_bytes(), "application/pdf")
    uploader.upload("broken.pdf", b"%PDF-1.7\nthis is not really a pdf\n%%EOF\n", "application/pdf")
    at.button(key="FormSubmitter:upload-form-Add to index").click()
    at.run()
    assert not at.exception

    report = texts(at.sidebar.markdown)
    assert "**added** `lighthouse.pdf`" in report
    failed_line = next(line for line in report.splitlines() if "**failed** `broken.pdf`" in line)
    assert " — " in failed_line and "PDF" in failed_line, "the report says why the file failed"
    assert "4 documents" in report
    assert "lighthouse.pdf" in [e.label for e in at.sidebar.expander]
    # Saved under the index's uploads folder with a safe name; the failed file is not kept.
    uploads = samples_copy / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["lighthouse.pdf"]
    assert not (samples_copy.parent / "lighthouse.pdf").exists()

    # The upload is searchable at once.
    set_sensitivity(at, -5.0)
    ask(at, "When did the lighthouse keeper light the lamp?")
    assert any("dusk" in m for m in marked(at))
    assert "lighthouse.pdf, page 1 of 1" in "\n".join(htmls(at))

    # Removing an uploaded document also removes the page's own copy of the file.
    next(e for e in at.sidebar.expander if e.label == "lighthouse.pdf").button[0].click()
    at.run()
    next(b for b in at.sidebar.button if b.label == "Remove").click()
    at.run()
    assert "3 documents" in texts(at.sidebar.markdown)
    assert list(uploads.iterdir()) == []


def test_failed_reupload_keeps_the_indexed_version(page_env, samples_copy, reader_dir):
    page_env(samples_copy, reader_dir)
    at = start()
    good = b"The harbour master rang the bell at noon.\n"
    at.sidebar.get("file_uploader")[0].upload("notes.txt", good, "text/plain")
    at.button(key="FormSubmitter:upload-form-Add to index").click()
    at.run()
    assert "**added** `notes.txt`" in texts(at.sidebar.markdown)
    at.sidebar.get("file_uploader")[0].upload("notes.txt", b"", "text/plain")  # empty: fails to load
    at.button(key="FormSubmitter:upload-form-Add to index").click()
    at.run()
    assert "**failed** `notes.txt`" in texts(at.sidebar.markdown)
    assert (samples_copy / "uploads" / "notes.txt").read_bytes() == good
    assert [p.name for p in (samples_copy / "uploads").iterdir()] == ["notes.txt"]


def test_delete_asks_for_confirmation_then_removes_the_document(page_env, samples_copy, reader_dir):
    page_env(samples_copy, reader_dir)
    at = start()
    expander = next(e for e in at.sidebar.expander if e.label == "normans.txt")
    expander.button[0].click()
    at.run()
    assert "Remove normans.txt from the index?" in texts(at.sidebar.warning)
    next(b for b in at.sidebar.button if b.label == "Remove").click()
    at.run()
    assert not at.exception
    assert "Removed normans.txt" in texts(at.sidebar.success)
    assert "normans.txt" not in [e.label for e in at.sidebar.expander]
    assert "2 documents" in texts(at.sidebar.markdown)
    assert (SAMPLES / "normans.txt").exists(), "deleting from the index never deletes the user's file"
    labels = [b.label for b in at.button]
    assert "Who founded the Duchy of Normandy?" not in labels, "examples follow the indexed documents"


# ------------------------------------------------------------------------------------------ degraded modes
@pytest.mark.slow  # embeds the samples into a new index
def test_empty_index_offers_the_samples_and_loads_them_in_one_click(page_env, tmp_path, reader_dir):
    page_env(tmp_path / "fresh-index", reader_dir)
    at = start()
    assert "your index is empty" in texts(at.subheader)
    assert "question" not in [t.key for t in at.text_input], "no question box before there is anything to ask"
    next(b for b in at.button if b.label == "Load the sample documents").click()
    at.run()
    assert not at.exception
    assert "3 documents" in texts(at.sidebar.markdown)
    assert "Sample documents report" in texts(at.sidebar.markdown)
    assert at.text_input(key="question")


@pytest.mark.slow  # embeds the samples into a new index
def test_samples_env_loads_the_samples_into_an_empty_index(page_env, tmp_path, reader_dir, monkeypatch):
    page_env(tmp_path / "fresh-index", reader_dir)
    monkeypatch.setenv("DOCQA_UI_SAMPLES", "1")
    at = start()
    assert "3 documents" in texts(at.sidebar.markdown)
    assert at.text_input(key="question")


def test_locked_index_shows_banner_and_pauses_writes(page_env, samples_copy, reader_dir):
    from docqa.pipelines.document_stores.local.index import LOCK_NAME

    page_env(samples_copy, reader_dir)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
            "print('locked', flush=True); time.sleep(120)",
            str(samples_copy / LOCK_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        at = start()
        assert "being updated by another DocQA process" in texts(at.warning)
        assert at.sidebar.get("file_uploader")[0].proto.disabled
        assert all(b.disabled for b in at.sidebar.button if b.label in ("Add to index", "Remove from index"))
        # Reading still works while an ingest runs.
        set_sensitivity(at, -5.0)
        ask(at, "Who invented packet switching?")
        assert answers_shown(at)
    finally:
        holder.kill()
        holder.wait()
    at.run()
    assert "being updated by another DocQA process" not in texts(at.warning)


# ------------------------------------------------------------------------------------------ helpers
def test_highlight_escapes_html_and_marks_only_valid_spans():
    text = "a <b>x</b> & y"
    expected = 'a <mark class="docqa-hit">&lt;b&gt;</mark>x&lt;/b&gt; &amp; y'
    assert highlight_html(text, [(2, 5)]) == expected
    assert highlight_html(text, [(5, 99), (-1, 2)]) == "a &lt;b&gt;x&lt;/b&gt; &amp; y"


@pytest.mark.parametrize(
    ("client_name", "safe"),
    [
        ("report.PDF", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\notes.md", "notes.md"),
        (".hidden.txt", "hidden.txt"),
        ("a<b>|c?.txt", "a_b_c.txt"),
        ("..", "upload"),
    ],
)
def test_upload_names_never_leave_the_uploads_folder(client_name, safe):
    assert safe_upload_name(client_name) == safe


def test_example_questions_follow_the_indexed_files():
    mapping = {"a.txt": ["A1", "A2"], "b.pdf": ["B1"], "_about": "x"}
    assert example_questions(["b.pdf", "a.txt"], mapping) == ["A1", "B1", "A2"]
    assert example_questions(["other.txt"], mapping) == []


def test_sensitivity_maps_to_the_reader_threshold():
    assert threshold_for(None) is None
    assert threshold_for(2.0) == -2.0  # more sensitive: says "not found" more readily, i.e. lower τ


# ------------------------------------------------------------------------------------------ key gate
def test_key_gate_shows_nothing_until_the_key_is_given(page_env, sample_index, reader_dir, monkeypatch):
    page_env(sample_index, reader_dir)
    monkeypatch.setenv("DOCQA_API_KEY", "s3cret-key")
    at = start()
    assert [t.key for t in at.text_input] == ["docqa-key"], "only the key box: no question box"
    assert [b.key for b in at.button] == ["FormSubmitter:key-form-Unlock"], "no example, document or delete"
    assert not at.sidebar.markdown and not at.get("file_uploader"), "no index statistics, no upload"
    at.text_input(key="docqa-key").set_value("s3cret-kez")
    at.button(key="FormSubmitter:key-form-Unlock").click()
    at.run()
    assert "not a key of this page" in texts(at.error)
    assert [t.key for t in at.text_input] == ["docqa-key"]
    at.text_input(key="docqa-key").set_value("s3cret-key")
    at.button(key="FormSubmitter:key-form-Unlock").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "question" in [t.key for t in at.text_input]
    assert "3 documents" in texts(at.sidebar.markdown)
    assert "s3cret-key" not in texts(at.markdown) + texts(at.caption) + texts(at.error)


def test_without_a_key_the_page_opens_at_once(page_env, sample_index, reader_dir):
    page_env(sample_index, reader_dir)
    assert "question" in [t.key for t in start().text_input]


# ------------------------------------------------------------------------------------------ launcher
def test_launcher_configures_the_page_through_the_environment(tmp_path, monkeypatch):
    from docqa.app.ui.launcher import UI_SCRIPT, streamlit_command, ui_environment

    monkeypatch.chdir(tmp_path)
    env = ui_environment(Path("rel-index"), samples=True, base={"PATH": "/usr/bin"})
    assert env["DOCQA_INDEX"] == str(tmp_path / "rel-index"), "relative to where the user ran docqa"
    assert env["DOCQA_UI_SAMPLES"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO)
    assert "DOCQA_UI_SAMPLES" not in ui_environment(Path("x"), samples=False, base={})
    command = streamlit_command(8600, "127.0.0.1", headless=True)
    assert command[1:5] == ["-m", "streamlit", "run", str(UI_SCRIPT)]
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8600"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"


def test_launcher_refuses_a_port_in_use(capsys):
    import socket

    from docqa.app.ui.launcher import run_ui

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert run_ui(None, taken.getsockname()[1]) == 2
    assert "already in use" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ feedback
def feedback_records(index: Path) -> list:
    from docqa.pipelines.api import DocQA

    return DocQA(index).feedback_records(limit=50).records


def ask_packet_switching(page_env, index: Path, reader_dir: Path) -> AppTest:
    page_env(index, reader_dir)
    at = set_sensitivity(start(), -5.0)
    ask(at, "Who invented packet switching?")
    assert answers_shown(at)[0] == "Paul Baran"
    return at


def test_correct_button_stores_the_answer_shown_and_confirms(page_env, samples_copy, reader_dir):
    at = ask_packet_switching(page_env, samples_copy, reader_dir)
    assert [b.label for b in at.button if b.label in ("Correct", "Wrong")][:2] == ["Correct", "Wrong"]
    # One pair of buttons per answer card.
    assert sum(b.label == "Correct" for b in at.button) == len(answers_shown(at))
    next(b for b in at.button if b.label == "Correct").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Thanks — saved: “Paul Baran” is right." in texts(at.success)
    [record] = feedback_records(samples_copy)
    assert record.verdict.value == "correct" and record.question == "Who invented packet switching?"
    assert record.answer == "Paul Baran"
    assert record.passage[record.answer_start : record.answer_end] == "Paul Baran"
    assert "packet_switching.pdf" in record.file


def test_wrong_then_selected_span_stores_the_correction_with_its_offsets(page_env, samples_copy, reader_dir):
    from docqa.app.ui.feedback import tokens

    at = ask_packet_switching(page_env, samples_copy, reader_dir)
    next(b for b in at.button if b.label == "Wrong").click()
    at.run()
    assert "What is the right answer?" in texts(at.markdown)
    result = at.session_state["last_result"][1]
    passage = result.answers[0].source.passage
    # The slider starts on the answer given, marked in the passage below it.
    assert '<mark class="docqa-pick"' in "\n".join(htmls(at))
    assert "Selected: “Paul Baran”" in texts(at.caption)
    spans = tokens(passage)
    start_at = passage.index("RAND Corporation")
    first = next(i for i, (s, _) in enumerate(spans) if s == start_at)
    slider = at.select_slider[0]
    slider.set_range(first, first + 1).run()
    assert "Selected: “RAND Corporation”" in texts(at.caption)
    next(b for b in at.button if b.label == "Send").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Thanks — saved your correction: “RAND Corporation”." in texts(at.success)
    [record] = feedback_records(samples_copy)
    assert record.verdict.value == "wrong" and record.answer == "RAND Corporation"
    assert (record.answer_start, record.answer_end) == (start_at, start_at + len("RAND Corporation"))
    assert record.passage == passage


def test_wrong_then_not_in_documents_or_a_typed_answer(page_env, samples_copy, reader_dir):
    at = ask_packet_switching(page_env, samples_copy, reader_dir)
    next(b for b in at.button if b.label == "Wrong").click()
    at.run()
    [how] = [r for r in at.radio if r.label == "How you give the right answer"]
    how.set_value("Type it").run()
    box = next(t for t in at.text_input if t.label == "The right answer, as it is written in the passage")
    box.set_value("Leonard Kleinrock of Mars").run()
    next(b for b in at.button if b.label == "Send").click()
    at.run()
    # A typed answer that is not in the passage is refused with the reason, and nothing is stored.
    assert "Your feedback was not saved." in texts(at.error) and "correct_answer" in texts(at.error)
    assert feedback_records(samples_copy) == []

    box = next(t for t in at.text_input if t.label == "The right answer, as it is written in the passage")
    box.set_value("rand corporation").run()
    next(b for b in at.button if b.label == "Send").click()
    at.run()
    assert "Thanks — saved your correction" in texts(at.success)
    [typed] = feedback_records(samples_copy)
    assert typed.answer == "RAND Corporation"  # found in the passage, as it is written there

    next(b for b in at.button if b.label == "Wrong").click()  # the second answer: not in the documents
    at.run()
    [how] = [r for r in at.radio if r.label == "How you give the right answer"]  # only this answer's panel
    how.set_value("Not in these documents").run()
    next(b for b in at.button if b.label == "Send").click()
    at.run()
    assert "Thanks — saved: the answer is not in these documents." in texts(at.success)
    records = feedback_records(samples_copy)
    assert [r.verdict.value for r in records] == ["wrong", "not_in_documents"]
    assert records[1].answer is None and records[1].answer_start is None


def test_selection_tokens_split_punctuation_but_keep_numbers_whole():
    from docqa.app.ui.feedback import token_range, tokens

    text = "In 1,000.5 tons, Baran's idea (RAND) won."
    words = [text[s:e] for s, e in tokens(text)]
    assert words == ["In", "1,000.5", "tons", ",", "Baran's", "idea", "(", "RAND", ")", "won", "."]
    spans = tokens(text)
    assert token_range(spans, text.index("Baran"), text.index(" idea")) == (4, 4)
    assert token_range(spans, 1000, 1001) == (0, 0)
