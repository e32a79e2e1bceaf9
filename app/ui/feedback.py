"""Feedback under each answer: "correct" / "wrong", and after "wrong" the right answer — selected in a
passage, typed, or "not in these documents" — stored through ``DocQA.feedback``.

Why here and in this shape: a user who sees a wrong answer usually sees the right one in the passage
next to it; one click and a selection turn that into a training example (``docqa feedback export`` →
``docqa train-reader``). The selection is a range slider over the passage's words: it works with mouse,
keyboard and touch, the chosen words are marked live in the passage, and its two ends become exact
character offsets in the passage ``content`` as ``/ask`` returns it — no custom JavaScript to break.
Typing the answer instead lets the store find it in the passage. The page is local: no API key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import streamlit as st

from docqa.app.ui.errors import ERROR_ICON, Banner, banner_for, show
from docqa.app.ui.formatting import esc, md_escape, short_id
from docqa.app.ui.state import current_docqa
from docqa.errors import DocQAError
from docqa.pipelines.api import Answer, AskResult, Passage

# Words (with inner hyphens, apostrophes, decimal points and thousands separators) and single punctuation
# marks: the units a selection starts and ends on, so "Baran," can be selected without its comma.
TOKEN = re.compile(r"\w+(?:[-'’.,/]\w+)*|[^\w\s]")
SELECT, TYPE, NOT_IN_DOCUMENTS = "Select it in a passage", "Type it", "Not in these documents"
NOT_SAVED = "Your feedback was not saved"
PICK_STYLE = "background:#b9f0c4;color:#111;padding:.05rem .15rem;border-radius:.2rem;font-weight:700"


def tokens(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the words and punctuation marks of ``text``."""
    return [(m.start(), m.end()) for m in TOKEN.finditer(text)]


def token_range(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The first and last token overlapping ``[start, end)`` (the answer given), else the first token."""
    inside = [i for i, (s, e) in enumerate(spans) if s < end and e > start]
    return (inside[0], inside[-1]) if inside else (0, 0)


def picked_html(text: str, start: int, end: int) -> str:
    """The passage with the selected words marked (a colour of its own: not the answer's yellow)."""
    return (
        f'{esc(text[:start])}<mark class="docqa-pick" style="{PICK_STYLE}">{esc(text[start:end])}</mark>'
        f"{esc(text[end:])}"
    )


def passage_label(number: int, passage: Passage) -> str:
    start = " ".join(passage.content.split()[:8])
    page = f", page {passage.page}" if passage.page and passage.meta.get("kind") == "pdf" else ""
    return f"{number}. {Path(passage.file).name}{page} — {start}…"


def feedback_controls(result: AskResult, rank: int, answer: Answer) -> None:
    """ "Is this answer right?" with the two buttons; the correction panel once "wrong" was clicked; the
    confirmation once feedback was stored (per question and answer, kept across re-runs)."""
    src = answer.source
    key = short_id(f"{result.question}\x00{rank}\x00{src.document_id}")
    done = st.session_state.get(f"fb-done-{key}")
    if done:
        st.success(done, icon=":material/task_alt:")
        return
    context = {
        "key": key,
        "question": result.question,
        "reader": result.reader,
        "answer": (src.document_id, src.passage_start, src.passage_end, answer.text),
        "passages": [(p.id, p.content) for p in result.passages],
    }
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        st.markdown("Is this answer right?")
        st.button(
            "Correct",
            key=f"fb-correct-{key}",
            icon=":material/thumb_up:",
            on_click=_send_correct,
            args=(context,),
        )
        st.button("Wrong", key=f"fb-wrong-{key}", icon=":material/thumb_down:", on_click=_open, args=(key,))
    if st.session_state.get(f"fb-open-{key}"):
        correction_panel(result, answer, context)
    error = st.session_state.get(f"fb-error-{key}")
    if error:
        show(error)


def correction_panel(result: AskResult, answer: Answer, context: dict[str, Any]) -> None:
    """What the right answer is: selected in a passage (default: this answer's), typed, or not there."""
    key = context["key"]
    with st.container(border=True):
        st.markdown("**What is the right answer?**")
        how = st.radio(
            "How you give the right answer",
            [SELECT, TYPE, NOT_IN_DOCUMENTS],
            key=f"fb-how-{key}",
            horizontal=True,
            label_visibility="collapsed",
        )
        if how != NOT_IN_DOCUMENTS:
            ids = [p.id for p in result.passages]
            default = ids.index(answer.source.document_id) if answer.source.document_id in ids else 0
            numbered = {p.id: passage_label(n, p) for n, p in enumerate(result.passages, start=1)}
            chosen = st.selectbox(
                "In the passage",
                ids,
                index=default,
                key=f"fb-passage-{key}",
                format_func=numbered.__getitem__,
            )
            passage = next(p for p in result.passages if p.id == chosen)
            if how == SELECT:
                select_span(passage, answer, key)
            else:
                st.text_input(
                    "The right answer, as it is written in the passage", key=f"fb-typed-{key}", max_chars=1000
                )
        else:
            st.caption("The documents do not answer this question: DocQA will learn to say “not found”.")
        with st.container(horizontal=True, gap="small"):
            st.button(
                "Send",
                key=f"fb-send-{key}",
                type="primary",
                icon=":material/send:",
                on_click=_send_correction,
                args=(context,),
            )
            st.button(
                "Just mark it wrong",
                key=f"fb-plain-{key}",
                icon=":material/close:",
                on_click=_send_plain_wrong,
                args=(context,),
            )


def select_span(passage: Passage, answer: Answer, key: str) -> None:
    """The range slider over the passage's words, and the passage with the selection marked."""
    spans = tokens(passage.content)
    if not spans:
        st.caption("This passage has no words to select.")
        return
    src = answer.source
    same = passage.id == src.document_id
    default = token_range(spans, src.passage_start, src.passage_end) if same else (0, 0)
    first, last = st.select_slider(
        "Drag the two ends onto the first and last word of the right answer",
        options=list(range(len(spans))),
        value=default,
        format_func=lambda i: passage.content[spans[i][0] : spans[i][1]],
        key=f"fb-range-{key}-{short_id(passage.id)}",
    )
    start, end = spans[first][0], spans[last][1]
    st.html(f'<div class="docqa-passage docqa-pick-passage">{picked_html(passage.content, start, end)}</div>')
    st.caption(f"Selected: “{md_escape(' '.join(passage.content[start:end].split()))}”")


# ----- callbacks (run before the next script run, so the confirmation shows at once) -----
def _open(key: str) -> None:
    st.session_state[f"fb-open-{key}"] = True
    st.session_state.pop(f"fb-error-{key}", None)


def _store(context: dict[str, Any], verdict: str, message: str, **span: Any) -> None:
    key = context["key"]
    try:
        current_docqa().feedback(
            context["question"], span.pop("passage_id"), verdict, **span, reader=context["reader"]
        )
    except DocQAError as err:  # a field the store refuses, a busy or unwritable index: say so, keep the panel
        st.session_state[f"fb-error-{key}"] = banner_for(err, NOT_SAVED)
        return
    st.session_state.pop(f"fb-error-{key}", None)
    st.session_state[f"fb-done-{key}"] = message


def _send_correct(context: dict[str, Any]) -> None:
    passage_id, start, end, text = context["answer"]
    _store(
        context,
        "correct",
        f"Thanks — saved: “{text}” is right.",
        passage_id=passage_id,
        answer_start=start,
        answer_end=end,
    )


def _send_plain_wrong(context: dict[str, Any]) -> None:
    _store(context, "wrong", "Thanks — saved as wrong.", passage_id=context["answer"][0])


def _send_correction(context: dict[str, Any]) -> None:
    """Read the panel's widgets (their state now, not when the button was drawn) and store the correction."""
    key, state = context["key"], st.session_state
    how = state.get(f"fb-how-{key}", SELECT)
    if how == NOT_IN_DOCUMENTS:
        _store(
            context,
            "not_in_documents",
            "Thanks — saved: the answer is not in these documents.",
            passage_id=context["answer"][0],
        )
        return
    passage_id = state.get(f"fb-passage-{key}", context["answer"][0])
    content = dict(context["passages"]).get(passage_id, "")
    if how == TYPE:
        typed = (state.get(f"fb-typed-{key}") or "").strip()
        if not typed:
            state[f"fb-error-{key}"] = Banner(
                "error", f"**{NOT_SAVED}.** Type the right answer first (or select it in the passage).",
                icon=ERROR_ICON,
            )
            return
        _store(
            context,
            "wrong",
            f"Thanks — saved your correction: “{typed}”.",
            passage_id=passage_id,
            correct_answer=typed,
        )
        return
    spans = tokens(content)
    first, last = state.get(f"fb-range-{key}-{short_id(passage_id)}", (0, 0))
    start, end = spans[first][0], spans[last][1]
    _store(
        context,
        "wrong",
        f"Thanks — saved your correction: “{content[start:end]}”.",
        passage_id=passage_id,
        answer_start=start,
        answer_end=end,
    )
