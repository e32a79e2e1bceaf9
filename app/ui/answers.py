"""What an answer looks like: answer cards with the span marked in its passage and on its PDF page,
the curated FAQ card, the degraded-mode banners, the passages DocQA read, and under each answer the
feedback buttons (app/ui/feedback.py).

Why so much around a short answer: a user must be able to judge it, so every answer comes with the
passage and page it is from, its confidence, and the file to download; an unsure or missing answer says
so plainly and still shows the candidates and passages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from docqa.app.ui.feedback import feedback_controls
from docqa.app.ui.formatting import esc, highlight_html, md_escape, plural, short_id, where
from docqa.app.ui.state import page_preview
from docqa.pipelines.api import (
    DOCX_SUFFIXES,
    HTML_SUFFIXES,
    IMAGE_SUFFIXES,
    MARKDOWN_SUFFIXES,
    OCR_BOXES,
    PDF_SUFFIXES,
    TEXT_SUFFIXES,
    Answer,
    AskResult,
    Passage,
    SourceFile,
)

MIME_TYPES = {
    **{suffix: "application/pdf" for suffix in PDF_SUFFIXES},
    **{suffix: "text/plain" for suffix in TEXT_SUFFIXES},
    **{suffix: "text/markdown" for suffix in MARKDOWN_SUFFIXES},
    **{
        suffix: "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        for suffix in DOCX_SUFFIXES
    },
    **{suffix: "text/html" for suffix in HTML_SUFFIXES},
    **{
        suffix: "image/" + {".jpg": "jpeg", ".tif": "tiff"}.get(suffix, suffix[1:])
        for suffix in IMAGE_SUFFIXES
    },
}


def show_result(result: AskResult, documents: dict[str, SourceFile]) -> None:
    """The whole result: answers (or why there are none), the passages read, and the timings."""
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
            judged = result.answerability if result.answerability.get("not_in_documents") else None
            chance = (f"they do not seem to be about it: {judged['probability']:.0%} chance the answer is in "
                      "them" if judged else f"chance of no answer: {result.no_answer_score:.0%}")
            st.warning(
                "**Not found in your documents.** DocQA read the "
                f"{plural(len(result.passages), 'passage')} that best match your question and none of them "
                f"seems to answer it ({chance}). "
                "The closest candidates are shown below, marked *unsure*, with the passages they come from, "
                "so you can judge for yourself.",
                icon=":material/search_off:",
            )
        for rank, answer in enumerate(result.answers, start=1):
            answer_card(rank, answer, passages, documents, result)
        show_passages(result, expanded=result.no_answer)
    timings = result.timings_ms
    parts = [f"retrieval {timings.get('retrieval', 0):.0f} ms"]
    if "reading" in timings:
        parts.append(f"reading {timings['reading']:.0f} ms")
    parts.append(f"total {timings.get('total', 0):.0f} ms")
    name = result.reader if result.reader and result.reader.startswith("models/") else None  # promoted
    reader = f" · reader {name or Path(result.reader).name}" if result.reader else ""
    st.caption(" · ".join(parts) + f" · {plural(len(result.passages), 'passage')} read{reader}")


def faq_card(result: AskResult) -> None:
    """A curated FAQ answer: the answer text and the FAQ question it was matched to."""
    match = result.faq
    with st.container(border=True):
        st.html(
            '<div class="docqa-rank">From your FAQ</div>'
            f'<div class="docqa-answer">{esc(result.answers[0].text)}</div>'
        )
        # Escaped like everything from files: an FAQ file is user content (a Markdown image in a question
        # made the browser fetch its URL). One line: a newline could start a heading or a list.
        question = md_escape(" ".join(match.entry.question.split()))
        st.caption(f"Matched FAQ question: “{question}” (similarity {match.similarity:.2f})")


def source_path(passage: Passage | None) -> Path | None:
    key = passage.meta.get("source_key") if passage else None
    return Path(key) if key else None


def answer_card(
    rank: int,
    answer: Answer,
    passages: dict[str, Passage],
    documents: dict[str, SourceFile],
    result: AskResult | None = None,
) -> None:
    """One answer: large type, confidence, where it is from, the span marked in its passage, the page,
    and (given the ``result`` it belongs to) the "correct" / "wrong" feedback buttons."""
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
        source_line = f"<b>{esc(where(file_name, src.page, doc, kind, src.section))}</b>"
        if doc and doc.title and doc.title != Path(file_name).stem:
            source_line += f" · {esc(doc.title)}"
        marked = highlight_html(src.passage, [(src.passage_start, src.passage_end)])
        st.html(f'<div class="docqa-source">{source_line}</div><div class="docqa-passage">{marked}</div>')
        if len(answer.sources) > 1:
            others = ", ".join(
                where(Path(s.file).name, s.page, None, None, s.section) for s in answer.sources[1:]
            )
            st.caption(f"Also found in: {md_escape(others)}")
        if kind in ("pdf", "image") and path is not None and path.is_file() and src.page:
            if rank == 1:
                page_images(path, src, passage, doc, answer.text)
            else:
                with st.expander(f"See it on page {src.page}"):
                    page_images(path, src, passage, doc, answer.text)
        download_button(path, file_name, key=f"download-{rank}-{short_id(src.document_id)}")
        if result is not None:
            feedback_controls(result, rank, answer)


def page_images(path: Path, src: Any, passage: Passage | None, doc: SourceFile | None, answer: str) -> None:
    """The answer on its PDF page: a readable detail around it, and the whole page for orientation."""
    fraction = None
    if doc and src.page_start is not None and 0 < src.page <= len(doc.page_lengths):
        length = doc.page_lengths[src.page - 1]
        fraction = src.page_start / length if length else None
    ocr_boxes = passage.meta.get(OCR_BOXES) if passage else None
    answer_span = (src.page_start, src.page_end) if src.page_start is not None else None
    pieces = passage.page_offsets if passage else []
    passage_span = next(((start, end) for page, start, end in pieces if page == src.page), None)
    try:
        png, detail, mark, page_count = page_preview(
            str(path),
            path.stat().st_mtime_ns,
            int(src.page),
            answer,
            passage.content if passage else None,
            fraction,
            ocr_boxes,
            answer_span,
            passage_span,
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
    """Download the source file, or say where it was if it has gone since it was indexed."""
    if path is None:
        return
    if not path.is_file():
        st.caption(f"The source file is no longer at {md_escape(str(path))}.")
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
    """Every passage the reader read, best match first, with the answers' spans marked in them."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for answer in result.answers:
        for s in answer.sources:
            spans.setdefault(s.document_id, []).append((s.passage_start, s.passage_end))
    with st.expander(f"The {plural(len(result.passages), 'passage')} DocQA read", expanded=expanded):
        for number, passage in enumerate(result.passages, start=1):
            name = Path(passage.file).name
            kind = passage.meta.get("kind")
            label = where(name, passage.page, None, kind, passage.meta.get("section"))
            marked = highlight_html(passage.content, spans.get(passage.id, []))
            st.html(
                f'<div class="docqa-source">{number}. <b>{esc(label)}</b> · match {passage.score:.3f}</div>'
                f'<div class="docqa-passage">{marked}</div>'
            )
