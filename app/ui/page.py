"""DocQA's search page: ask a question, see the answer in its passage and on its page, manage documents.

Run it with ``docqa ui`` (see app/ui/launcher.py) or ``streamlit run app/ui/page.py``.
Configuration comes from the same environment variables as the CLI (``DOCQA_INDEX``, ``DOCQA_READER_MODEL``, ...); the launcher sets
``DOCQA_UI_SAMPLES=1`` for ``--samples``, which indexes the bundled samples when the index is empty.

The page holds no retrieval or reading logic: everything goes through :class:`pipelines.api.DocQA`, which
is built once per server process (``st.cache_resource``) so models load once, not per question or per
browser tab. Anything a user can run into (no reader model, an empty index, an ingest running in another
process, a bad upload) is explained in a plain-language banner instead of a traceback.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from docqa.config import Settings
from docqa.resources import data_path
from ingest.ingestor import FAILED, SKIPPED, FileResult, IngestProgress, IngestReport
from pipelines.answers import Answer, AskResult, Passage
from pipelines.api import DocQA, DocumentNotFoundError
from pipelines.document_stores.snapshots import IndexLockedError, IndexStoreError, SourceFile
from pipelines.model_loading import ModelUnavailableError

SAMPLES_DIR = data_path("samples")
EXAMPLES_FILE = data_path("example_questions.json")
SAMPLES_ENV = "DOCQA_UI_SAMPLES"
UPLOADS_DIRNAME = "uploads"
UPLOAD_TYPES = ("pdf", "txt", "md")
MIME_TYPES = {".pdf": "application/pdf", ".txt": "text/plain", ".md": "text/markdown"}
MAX_EXAMPLES = 4
# Material icons, not emoji: they render the same in every browser (emoji fonts are often missing).
STATUS_ICONS = {
    "added": ":green[:material/check_circle:]",
    "updated": ":blue[:material/sync:]",
    "unchanged": ":gray[:material/remove:]",
    "skipped": ":orange[:material/skip_next:]",
    "failed": ":red[:material/error:]",
    "removed": ":gray[:material/delete:]",
}

CSS = """
<style>
.docqa-rank { font-size: .8rem; font-weight: 600; letter-spacing: .06em; text-transform: uppercase;
              opacity: .65; }
.docqa-answer { font-size: 2.1rem; font-weight: 700; line-height: 1.2; margin: .1rem 0 .2rem 0;
                overflow-wrap: anywhere; }
.docqa-answer.long { font-size: 1.45rem; }
.docqa-answer.unsure { font-size: 1.45rem; font-weight: 600; opacity: .8; }
.docqa-badge { display: inline-block; margin-left: .6rem; padding: .05rem .55rem; border-radius: .7rem;
               font-size: .75rem; font-weight: 700; letter-spacing: .03em; text-transform: uppercase;
               vertical-align: middle; }
.docqa-badge.unsure { background: #fff3cd; color: #7a5a00; border: 1px solid #e5c76b; }
.docqa-source { font-size: .9rem; margin: .2rem 0 .4rem 0; opacity: .85; }
.docqa-passage { font-size: .95rem; line-height: 1.6; padding: .6rem .85rem; border-radius: .35rem;
                 border-left: 4px solid #8fb3ff; background: rgba(128, 128, 128, .08);
                 white-space: pre-wrap; overflow-wrap: anywhere; }
mark.docqa-hit { background: #ffd84d; color: #111; padding: .05rem .15rem; border-radius: .2rem;
                 font-weight: 700; box-shadow: 0 0 0 1px #e0a800; }
</style>
"""


# ---------------------------------------------------------------- helpers without Streamlit (tested directly)
def esc(text: object) -> str:
    """HTML-escape anything shown from documents or users: file names, passages, answers, questions."""
    return html.escape(str(text), quote=True)


def highlight_html(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` as escaped HTML with each ``[start, end)`` span wrapped in ``<mark class="docqa-hit">``.

    Spans that fall outside the text or overlap an earlier span are ignored rather than trusted.
    """
    out: list[str] = []
    position = 0
    for start, end in sorted(set(spans)):
        if start < position or not 0 <= start < end <= len(text):
            continue
        out.append(esc(text[position:start]))
        out.append(f'<mark class="docqa-hit">{esc(text[start:end])}</mark>')
        position = end
    out.append(esc(text[position:]))
    return "".join(out)


def safe_upload_name(client_name: str) -> str:
    """A file name that is safe to create inside the uploads folder, derived from the browser's name.

    The browser's name is untrusted: directory parts (``../``, ``C:\\``) are dropped, anything but letters,
    digits, ``.``, ``-``, ``_`` and spaces becomes ``_``, leading dots go (no hidden files), the extension is
    lower-cased, and the length is bounded.
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", client_name))[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^\w.\- ]+", "_", stem).strip(" ._-")[:100] or "upload"
    ext = re.sub(r"[^A-Za-z0-9]", "", ext).lower()[:10]
    return f"{stem}.{ext}" if ext else stem


def example_questions(
    file_names: Iterable[str], mapping: dict[str, Any], limit: int = MAX_EXAMPLES
) -> list[str]:
    """Example questions for the indexed files, taking one per document in turn so each gets a say."""
    per_document = [
        [q for q in mapping.get(name, []) if isinstance(q, str)]
        for name in sorted(set(file_names))
        if not name.startswith("_")
    ]
    chosen: list[str] = []
    for round_ in range(max((len(q) for q in per_document), default=0)):
        for questions in per_document:
            if round_ < len(questions) and questions[round_] not in chosen:
                chosen.append(questions[round_])
    return chosen[:limit]


def threshold_for(sensitivity: float | None) -> float | None:
    """The reader's no-answer threshold τ for a sensitivity setting; ``None`` keeps the calibrated value.

    The reader says "no answer" when ``null_score − best_score > τ``, so a *higher* sensitivity (say
    "not found" more readily) is a *lower* τ.
    """
    return None if sensitivity is None else -float(sensitivity)


def when(iso: str | None) -> str:
    """``2026-11-27T06:47:14+00:00`` → ``2026-11-27 06:47 UTC`` (or the text itself if it is not ISO)."""
    if not iso:
        return "never"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def short_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------- process-wide resources
@st.cache_resource(show_spinner=False)
def open_docqa(index_dir: str, embedding_model: str, reader_model: str, reader_backend: str) -> DocQA:
    """One DocQA per configuration per server process: its models load once and are shared by all tabs."""
    return DocQA(
        index_dir,
        embedding_model=embedding_model,
        reader_model=reader_model,
        reader_backend=reader_backend,
    )


@st.cache_resource(show_spinner=False)
def process_state() -> dict[str, Any]:
    """State shared by every session of this server: the question lock and the samples autoload record."""
    return {
        "ask_lock": threading.Lock(),
        "autoload_lock": threading.Lock(),
        "autoloaded": set(),
        "asked_once": False,
    }


@st.cache_data(show_spinner=False, max_entries=16)
def index_overview(index_dir: str, snapshot: str | None) -> dict[str, Any]:
    """Statistics and documents of one snapshot. ``snapshot`` (the CURRENT name) is the cache key: a commit
    by anyone makes a new key, so the page never shows a stale list, and never re-reads an unchanged one."""
    qa = DocQA(index_dir)
    return {"stats": qa.stats(), "documents": qa.documents()}


@st.cache_data(show_spinner=False)
def load_examples(path: str, mtime_ns: int) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@st.cache_data(show_spinner=False, max_entries=64)
def page_preview(
    path: str, mtime_ns: int, page: int, answer: str | None, passage: str | None, fraction: float | None
) -> tuple[bytes, bytes | None, str, int]:
    """A PDF page with the answer marked (see app/ui/preview.py): whole page, detail, what was marked,
    page count. Cached per file version (``mtime_ns``)."""
    from app.ui.preview import render_marked_page

    marked = render_marked_page(path, page, answer=answer, passage=passage, expected_fraction=fraction)
    return marked.png, marked.detail_png, marked.mark, marked.page_count


# ---------------------------------------------------------------- ingest with progress
class PageIngestProgress(IngestProgress):
    """Shows an ingest on the page: a progress bar whose caption says which phase it is in."""

    def __init__(self, container: Any, what: str) -> None:
        self.what = what
        self.total = 0
        self.done = 0
        self.value = 0.0
        self.bar = container.progress(0.0, text=f"Adding {what}…")

    def _show(self, value: float, text: str) -> None:
        self.value = max(self.value, min(max(value, 0.0), 1.0))  # never moves backwards
        self.bar.progress(self.value, text=text)

    def discovered(self, total_files: int) -> None:
        self.total = total_files
        self._show(0.0, f"Reading {plural(total_files, 'file')}…")

    def embedding(self, done: int, total: int) -> None:
        self._show(0.9 * done / total if total else 0.9, f"Embedding passages: {done} of {total}")

    def file_done(self, result: FileResult) -> None:
        self.done += 1
        name = Path(result.path).name
        self._show(
            self.done / max(self.total, 1), f"{self.done} of {self.total} done — {name}: {result.status}"
        )

    def close(self) -> None:
        self.bar.empty()


def report_entry(title: str, report: IngestReport) -> dict[str, Any]:
    """What the sidebar shows about the last ingest; plain data so it survives reruns in session state."""
    return {
        "title": title,
        "seconds": report.seconds,
        "results": [
            {
                "name": Path(r.path).name,
                "status": r.status,
                "passages": r.passages,
                "reason": r.reason,
                "notes": list(r.notes),
            }
            for r in report.results
        ],
    }


def run_ingest(qa: DocQA, paths: Sequence[Path], container: Any, what: str) -> IngestReport | None:
    """Ingest with a progress bar; ``None`` (and a banner in ``container``) when it could not run."""
    progress = PageIngestProgress(container, what)
    try:
        return qa.ingest(list(paths), progress=progress, lock_timeout=2.0)
    except IndexLockedError:
        container.error(
            "Another DocQA process is adding documents to this index right now, so these could not be "
            "added. Try again when it has finished."
        )
    except ModelUnavailableError as err:
        container.error(f"Documents cannot be added: the embedding model is missing.\n\n{err}")
    except IndexStoreError as err:
        container.error(f"Documents cannot be added to this index: {err}")
    finally:
        progress.close()
    return None


def uploads_dir(qa: DocQA) -> Path:
    return qa.index.directory.resolve() / UPLOADS_DIRNAME


def save_uploads(folder: Path, files: Sequence[Any]) -> list[tuple[Path, Path | None]]:
    """Write uploaded files into ``folder`` under safe names; return ``(saved path, previous copy)``.

    A file uploaded again under the same name replaces the earlier upload (so the index updates that
    document); the earlier copy is kept aside until the ingest has succeeded.
    """
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[tuple[Path, Path | None]] = []
    taken: set[str] = set()
    for upload in files:
        name = safe_upload_name(upload.name)
        stem, suffix = os.path.splitext(name)
        counter = 2
        while name in taken:  # two files of one batch that map to the same safe name
            name = f"{stem}-{counter}{suffix}"
            counter += 1
        taken.add(name)
        target = folder / name
        previous = None
        if target.exists():
            previous = folder / f".{name}.previous"
            os.replace(target, previous)
        partial = folder / f".{name}.partial"
        partial.write_bytes(upload.getvalue())
        os.replace(partial, target)
        saved.append((target, previous))
    return saved


def settle_uploads(saved: list[tuple[Path, Path | None]], report: IngestReport | None) -> None:
    """Keep uploads the index now holds; for a failed or skipped file (or no ingest at all) put back what
    was there before, so the file on disk always matches what the index says about it."""
    outcome = {}
    if report is not None:
        for result in report.results:
            outcome[str(Path(result.path).resolve())] = result.status
    for target, previous in saved:
        status = outcome.get(str(target.resolve()))
        keep = status is not None and status not in (FAILED, SKIPPED)
        if keep:
            if previous is not None:
                previous.unlink(missing_ok=True)
        elif previous is not None:
            os.replace(previous, target)
        else:
            target.unlink(missing_ok=True)


# ---------------------------------------------------------------- sidebar
def sidebar(qa: DocQA, overview: dict[str, Any], locked: bool) -> dict[str, Any]:
    """Index statistics, upload, the document list with delete, and the settings; returns the settings."""
    stats, documents = overview["stats"], overview["documents"]
    with st.sidebar:
        notice = st.session_state.pop("notice", None)
        if notice:
            getattr(st, notice[0])(notice[1])

        st.header("Your documents")
        st.markdown(
            f"**{plural(stats['documents'], 'document')}** · {plural(stats['passages'], 'passage')} · "
            f"{plural(stats['pages'], 'page')}"
        )
        st.caption(f"Last added: {when(stats.get('last_ingest'))}  \nIndex: `{stats['index']}`")

        upload_section(qa, locked)
        document_list(qa, documents, locked)

        st.divider()
        st.subheader("Settings")
        top_k = st.slider(
            "Passages to read",
            1,
            20,
            5,
            key="top_k",
            help="How many of the best-matching passages the reader reads. More can find more, but "
            "each answer takes longer.",
        )
        max_answers = st.slider("Answers to show", 1, 5, 3, key="max_answers")
        automatic = st.toggle(
            "Decide 'not found' automatically",
            value=True,
            key="auto_threshold",
            help="Use the reader's calibrated no-answer threshold. Turn off to set the sensitivity yourself.",
        )
        sensitivity = None
        if not automatic:
            sensitivity = st.slider(
                "No-answer sensitivity",
                -5.0,
                5.0,
                0.0,
                0.5,
                key="sensitivity",
                help="Higher: DocQA says 'not found in your documents' more readily. Lower: it answers more "
                "often, even when the documents barely support the answer.",
            )
            st.caption(f"Reader threshold τ = {threshold_for(sensitivity):+.1f}")
    return {"top_k": top_k, "max_answers": max_answers, "threshold": threshold_for(sensitivity)}


def upload_section(qa: DocQA, locked: bool) -> None:
    st.subheader("Add documents")
    with st.form("upload-form", clear_on_submit=True, border=False):
        files = st.file_uploader(
            "PDF, TXT or Markdown files",
            type=list(UPLOAD_TYPES),
            accept_multiple_files=True,
            disabled=locked,
            key="upload_files",
        )
        submitted = st.form_submit_button("Add to index", disabled=locked, icon=":material/upload_file:")
    if submitted:
        if not files:
            st.warning("Choose one or more files first.")
        else:
            saved = save_uploads(uploads_dir(qa), files)
            report = run_ingest(qa, [path for path, _ in saved], st.container(), plural(len(saved), "file"))
            settle_uploads(saved, report)
            if report is not None:
                st.session_state["ingest_report"] = report_entry("Upload", report)
                st.rerun()
    ingest_report_view()


def ingest_report_view() -> None:
    entry = st.session_state.get("ingest_report")
    if not entry:
        return
    with st.container(border=True):
        st.markdown(f"**{entry['title']} report** · {entry['seconds']:.1f} s")
        for row in entry["results"]:
            icon = STATUS_ICONS.get(row["status"], "•")
            detail = row["reason"] or (plural(row["passages"], "passage") if row["passages"] else "")
            notes = "; ".join(row["notes"])
            text = f"{icon} **{row['status']}** `{row['name'].replace('`', '')}`"
            if detail:
                text += f" — {md_escape(detail)}"
            if notes:
                text += f" ({md_escape(notes)})"
            st.markdown(text)
        st.button(
            "Dismiss", key="dismiss-report", on_click=lambda: st.session_state.pop("ingest_report", None)
        )


def md_escape(text: str) -> str:
    """Escape text for st.markdown: no emphasis, links, HTML, LaTeX or colour directives from file content."""
    return re.sub(r"([\\`*_\[\]<>$:~|])", r"\\\1", text)


def document_list(qa: DocQA, documents: list[SourceFile], locked: bool) -> None:
    if not documents:
        return
    st.subheader(f"Indexed ({len(documents)})")
    confirm = st.session_state.get("confirm_delete")
    for doc in documents:
        with st.expander(doc.file_name, expanded=confirm == doc.key):
            st.caption(
                f"{md_escape(doc.title)}  \n{plural(doc.pages, 'page')} · "
                f"{plural(len(doc.passage_ids), 'passage')}  \nAdded {when(doc.ingested_at)}"
            )
            ident = short_id(doc.key)
            if confirm == doc.key:
                st.warning(f"Remove {md_escape(doc.file_name)} from the index?")
                yes, no = st.columns(2)
                if yes.button("Remove", key=f"confirm-delete-{ident}", type="primary", disabled=locked):
                    delete_document(qa, doc)
                    st.rerun()
                no.button(
                    "Cancel",
                    key=f"cancel-delete-{ident}",
                    on_click=lambda: st.session_state.pop("confirm_delete", None),
                )
            else:
                st.button(
                    "Remove from index",
                    key=f"delete-{ident}",
                    disabled=locked,
                    icon=":material/delete:",
                    on_click=lambda key=doc.key: st.session_state.__setitem__("confirm_delete", key),
                )


def delete_document(qa: DocQA, doc: SourceFile) -> None:
    st.session_state.pop("confirm_delete", None)
    try:
        with st.spinner(f"Removing {doc.file_name}…"):
            removed = qa.delete(doc.key, lock_timeout=2.0)
    except IndexLockedError:
        st.session_state["notice"] = (
            "error",
            "Another DocQA process is writing to this index; try again when it has finished.",
        )
        return
    except DocumentNotFoundError:
        st.session_state["notice"] = ("info", f"{md_escape(doc.file_name)} was already removed.")
        return
    except (ModelUnavailableError, IndexStoreError) as err:
        st.session_state["notice"] = (
            "error",
            f"{md_escape(doc.file_name)} could not be removed: {md_escape(str(err))}",
        )
        return
    # Our own copy of an uploaded file goes too; files elsewhere on disk are never touched.
    path = Path(doc.key)
    if path.parent == uploads_dir(qa) and path.is_file():
        path.unlink()
    count = sum(len(s.passage_ids) for s in removed)
    st.session_state["notice"] = (
        "success",
        f"Removed {md_escape(doc.file_name)} ({plural(count, 'passage')}).",
    )


# ---------------------------------------------------------------- empty index and samples
def autoload_requested() -> bool:
    return os.environ.get(SAMPLES_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def autoload_samples(qa: DocQA) -> bool:
    """``docqa ui --samples``: index the samples into an empty index, once per server process."""
    state = process_state()
    key = str(qa.index.directory.resolve())
    with state["autoload_lock"]:
        if key in state["autoloaded"] or not SAMPLES_DIR.is_dir():
            return False
        state["autoloaded"].add(key)
    st.info("Loading the sample documents into your empty index (started with --samples)…")
    return load_samples(qa, st.container())


def load_samples(qa: DocQA, container: Any) -> bool:
    report = run_ingest(qa, [SAMPLES_DIR], container, "the sample documents")
    if report is None:
        return False
    st.session_state["ingest_report"] = report_entry("Sample documents", report)
    return True


def onboarding(qa: DocQA, locked: bool) -> None:
    st.subheader("Welcome — your index is empty")
    st.markdown(
        "DocQA answers questions from **your own documents**: it finds the passages that match your "
        "question and points to the exact answer, with the page it is on.\n\n"
        "Add PDF, TXT or Markdown files under **Add documents** in the sidebar, or start with three short "
        "sample articles (the Normans, the steam engine, packet switching) and ask your first question."
    )
    if locked:
        st.info(
            "Documents are being added by another DocQA process right now. Click **Check again** in a "
            "moment to see them."
        )
    if SAMPLES_DIR.is_dir():
        clicked = st.button(
            "Load the sample documents", type="primary", disabled=locked, icon=":material/library_add:"
        )
        if clicked and load_samples(qa, st.container()):
            st.rerun()
    else:
        st.caption("The sample documents are not included in this installation.")


# ---------------------------------------------------------------- asking
def question_box(documents: list[SourceFile]) -> None:
    with st.form("ask-form", border=False):
        left, right = st.columns([7, 1], vertical_alignment="bottom")
        left.text_input(
            "Ask a question about your documents",
            key="question",
            placeholder="e.g. Who invented packet switching?",
        )
        submitted = right.form_submit_button("Ask", type="primary", width="stretch")
    if submitted:
        question = (st.session_state.get("question") or "").strip()
        if question:
            st.session_state["asked"] = question
        else:
            st.warning("Type a question first.")

    examples_path = EXAMPLES_FILE
    mtime = examples_path.stat().st_mtime_ns if examples_path.exists() else 0
    examples = example_questions((d.file_name for d in documents), load_examples(str(examples_path), mtime))
    if examples:
        st.caption("Try one of these:")
        with st.container(horizontal=True, wrap=True, gap="small"):
            for example in examples:
                st.button(
                    example,
                    key=f"example-{short_id(example)}",
                    icon=":material/help:",
                    on_click=use_example,
                    args=(example,),
                )


def use_example(question: str) -> None:
    st.session_state["question"] = question
    st.session_state["asked"] = question


def ask(qa: DocQA, question: str, settings: dict[str, Any]) -> AskResult | None:
    """Ask through the API, reusing the last result while nothing that affects it has changed."""
    key = (
        str(qa.index.directory),
        qa.index.current_name(),
        question,
        settings["top_k"],
        settings["max_answers"],
        settings["threshold"],
    )
    cached = st.session_state.get("last_result")
    if cached and cached[0] == key:
        return cached[1]
    state = process_state()
    message = (
        "Finding the answer…"
        if state["asked_once"]
        else ("Finding the answer… (the first question also loads the models; this takes a few seconds)")
    )
    try:
        with st.spinner(message), state["ask_lock"]:
            result = qa.ask(
                question,
                top_k=settings["top_k"],
                max_answers=settings["max_answers"],
                no_answer_threshold=settings["threshold"],
            )
    except ModelUnavailableError as err:
        st.error("**Search is unavailable**: the embedding model that searches your documents is missing.")
        st.code(str(err), language=None)
        return None
    except IndexStoreError as err:
        st.error(f"**This index cannot be searched.** {err}")
        return None
    state["asked_once"] = True
    st.session_state["last_result"] = (key, result)
    return result


def show_result(result: AskResult, documents: dict[str, SourceFile]) -> None:
    passages = {p.id: p for p in result.passages}
    if result.reader_error:
        st.warning(
            "**The answer reader isn't available**, so DocQA can't point to exact answers right now. "
            "The passages that best match your question are shown below.",
            icon=":material/warning:",
        )
        with st.expander("How to install the reader model"):
            st.code(result.reader_error, language=None)
        show_passages(result, expanded=True)
    elif getattr(result, "from_faq", False):
        faq_card(result)
    elif not result.passages:
        st.info("Nothing in your documents matches this question.")
    else:
        if result.reader_notice:
            # The compact offline reader answers: every answer it gives carries this label.
            st.info(f"**Answers from the {md_escape(result.reader_notice)}**", icon=":material/info:")
        if result.no_answer:
            st.warning(
                "**Not found in your documents.** DocQA read the "
                f"{plural(len(result.passages), 'passage')} that best match your question and none of them "
                f"seems to answer it (chance of no answer: {result.no_answer_score:.0%}). "
                "The closest candidates are shown below, marked *unsure*, with the passages they come from, "
                "so you can judge for yourself.",
                icon=":material/search_off:",
            )
        for rank, answer in enumerate(result.answers, start=1):
            answer_card(rank, answer, passages, documents)
        show_passages(result, expanded=result.no_answer)
    timings = result.timings_ms
    parts = [f"retrieval {timings.get('retrieval', 0):.0f} ms"]
    if "reading" in timings:
        parts.append(f"reading {timings['reading']:.0f} ms")
    parts.append(f"total {timings.get('total', 0):.0f} ms")
    reader = f" · reader {Path(result.reader).name}" if result.reader else ""
    st.caption(" · ".join(parts) + f" · {plural(len(result.passages), 'passage')} read{reader}")


def faq_card(result: AskResult) -> None:
    """A curated FAQ answer: the answer text and the FAQ question it was matched to."""
    match = result.faq
    with st.container(border=True):
        st.html(
            '<div class="docqa-rank">From your FAQ</div>'
            f'<div class="docqa-answer">{esc(result.answers[0].text)}</div>'
        )
        st.caption(f"Matched FAQ question: “{match.entry.question}” (similarity {match.similarity:.2f})")


def source_path(passage: Passage | None) -> Path | None:
    key = passage.meta.get("source_key") if passage else None
    return Path(key) if key else None


def where(file_name: str, page: int | None, doc: SourceFile | None, kind: str | None) -> str:
    paged = kind == "pdf" or (doc is not None and doc.pages > 1)
    if page and paged:
        return f"{file_name}, page {page}" + (f" of {doc.pages}" if doc else "")
    return file_name


def answer_card(
    rank: int, answer: Answer, passages: dict[str, Passage], documents: dict[str, SourceFile]
) -> None:
    if not answer.sources:
        return
    src = answer.source
    passage = passages.get(src.document_id)
    path = source_path(passage)
    doc = documents.get(str(path)) if path else None
    kind = (passage.meta.get("kind") if passage else None) or (path.suffix.lstrip(".") if path else None)
    file_name = doc.file_name if doc else Path(src.file).name
    badge = '<span class="docqa-badge unsure">unsure</span>' if answer.unsure else ""
    # Unsure candidates and long spans in smaller type: the big type is for a confident, crisp answer.
    answer_class = "docqa-answer" + (" unsure" if answer.unsure else " long" if len(answer.text) > 60 else "")
    with st.container(border=True):
        st.html(
            f'<div class="docqa-rank">Answer {rank}{badge}</div>'
            f'<div class="{answer_class}">{esc(answer.text)}</div>'
        )
        st.progress(min(max(answer.score, 0.0), 1.0), text=f"Confidence {answer.score:.0%}")
        source_line = f"<b>{esc(where(file_name, src.page, doc, kind))}</b>"
        if doc and doc.title and doc.title != Path(file_name).stem:
            source_line += f" · {esc(doc.title)}"
        marked = highlight_html(src.passage, [(src.passage_start, src.passage_end)])
        st.html(f'<div class="docqa-source">{source_line}</div><div class="docqa-passage">{marked}</div>')
        if len(answer.sources) > 1:
            others = ", ".join(where(Path(s.file).name, s.page, None, None) for s in answer.sources[1:])
            st.caption(f"Also found in: {md_escape(others)}")
        if kind == "pdf" and path is not None and path.is_file() and src.page:
            if rank == 1:
                page_images(path, src, passage, doc, answer.text)
            else:
                with st.expander(f"See it on page {src.page}"):
                    page_images(path, src, passage, doc, answer.text)
        download_button(path, file_name, key=f"download-{rank}-{short_id(src.document_id)}")


def page_images(path: Path, src: Any, passage: Passage | None, doc: SourceFile | None, answer: str) -> None:
    """The answer on its PDF page: a readable detail around it, and the whole page for orientation."""
    fraction = None
    if doc and src.page_start is not None and 0 < src.page <= len(doc.page_lengths):
        length = doc.page_lengths[src.page - 1]
        fraction = src.page_start / length if length else None
    try:
        png, detail, mark, page_count = page_preview(
            str(path),
            path.stat().st_mtime_ns,
            int(src.page),
            answer,
            passage.content if passage else None,
            fraction,
        )
    except Exception as err:  # noqa: BLE001 - any PDF problem only costs the preview, never the answer
        st.caption(f"No page preview: {md_escape(str(err))}")
        return
    caption = {
        "answer": f"Page {src.page} of {page_count} — the answer is marked in yellow",
        "passage": f"Page {src.page} of {page_count} — the passage is marked in blue (the answer's exact "
        "position could not be found on the page)",
        "page": f"Page {src.page} of {page_count} (the answer's position could not be found on the page)",
    }[mark]
    if detail is None:
        st.image(png, caption=caption, width=420)
        return
    left, right = st.columns([5, 2], vertical_alignment="center")
    left.image(detail, caption=caption, width="stretch")
    right.image(png, caption=f"Whole page {src.page}", width="stretch")


def download_button(path: Path | None, file_name: str, key: str) -> None:
    if path is None:
        return
    if not path.is_file():
        st.caption(f"The source file is no longer at {path}.")
        return
    st.download_button(
        f"Download {file_name}",
        data=lambda: path.read_bytes(),
        file_name=file_name,
        mime=MIME_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


def show_passages(result: AskResult, expanded: bool) -> None:
    spans: dict[str, list[tuple[int, int]]] = {}
    for answer in result.answers:
        for s in answer.sources:
            spans.setdefault(s.document_id, []).append((s.passage_start, s.passage_end))
    with st.expander(f"The {plural(len(result.passages), 'passage')} DocQA read", expanded=expanded):
        for number, passage in enumerate(result.passages, start=1):
            name = Path(passage.file).name
            kind = passage.meta.get("kind")
            label = where(name, passage.page, None, kind)
            marked = highlight_html(passage.content, spans.get(passage.id, []))
            st.html(
                f'<div class="docqa-source">{number}. <b>{esc(label)}</b> · match {passage.score:.3f}</div>'
                f'<div class="docqa-passage">{marked}</div>'
            )


# ---------------------------------------------------------------- the page
def main() -> None:
    st.set_page_config(
        page_title="DocQA — ask your documents", page_icon=":material/quick_reference_all:", layout="wide"
    )
    st.html(CSS)
    settings = Settings.from_env()
    qa = open_docqa(
        str(settings.index_dir.expanduser().resolve()),
        settings.embedding_model,
        settings.reader_model,
        settings.reader_backend,
    )
    locked = qa.index.is_locked()
    try:
        overview = index_overview(str(qa.index.directory), qa.index.current_name())
    except IndexStoreError as err:
        st.title("DocQA")
        st.error(f"**The index cannot be opened.** {err}")
        return
    empty = overview["stats"]["documents"] == 0
    if empty and not locked and autoload_requested() and autoload_samples(qa):
        st.rerun()

    if "asked" not in st.session_state and st.query_params.get("q"):
        st.session_state["asked"] = st.session_state["question"] = st.query_params["q"]

    page_settings = sidebar(qa, overview, locked)
    st.title("DocQA")
    st.caption("Ask questions of your own documents — answers come with the passage and page they are from.")
    if locked:
        st.warning(
            "**This index is being updated by another DocQA process** (an ingest is running). You can ask "
            "questions about the documents already indexed; adding and removing documents is paused until "
            "it finishes.",
            icon=":material/lock_clock:",
        )
        st.button("Check again", key="check-lock")
    if empty:
        onboarding(qa, locked)
        return

    question_box(overview["documents"])
    asked = st.session_state.get("asked")
    if not asked:
        return
    if st.query_params.get("q") != asked:
        st.query_params["q"] = asked
    result = ask(qa, asked, page_settings)
    if result is not None:
        show_result(result, {d.key: d for d in overview["documents"]})


if __name__ == "__main__":
    main()
