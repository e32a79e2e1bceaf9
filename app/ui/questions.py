"""The question box, example questions for the indexed documents, and asking through the API.

Why the last result is kept in the session: Streamlit re-runs the page on every click (a download, an
expander), and re-reading passages each time would make the page feel stuck; the result is reused until
the question, the settings or the index's snapshot change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import streamlit as st

from docqa.app.ui.errors import page_errors
from docqa.app.ui.formatting import short_id
from docqa.app.ui.state import examples_mapping, process_state
from docqa.pipelines.api import AskResult, DocQA, SourceFile

MAX_EXAMPLES = 4


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


def question_box(documents: list[SourceFile]) -> None:
    """The question form (Enter submits) and buttons that ask an example question at once."""
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

    examples = example_questions((d.file_name for d in documents), examples_mapping())
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


def question_from_link() -> None:
    """A ``?q=`` link asks its question on arrival (before any widget reads the question box)."""
    if "asked" not in st.session_state and st.query_params.get("q"):
        st.session_state["asked"] = st.session_state["question"] = st.query_params["q"]


def asked_question() -> str | None:
    """The question being answered; the address follows it (``?q=``) so an answer can be bookmarked."""
    asked = st.session_state.get("asked")
    if asked and st.query_params.get("q") != asked:
        st.query_params["q"] = asked
    return asked


def ask(qa: DocQA, question: str, settings: dict[str, Any]) -> AskResult | None:
    """Ask through the API, reusing the last result while nothing that affects it has changed."""
    key = (
        str(qa.index.directory),
        qa.index.current_name(),
        question,
        settings["top_k"],
        settings["max_answers"],
        settings["threshold"],
        settings.get("rerank", True),
        json.dumps(settings.get("filters"), sort_keys=True),
    )
    if settings.get("filters"):  # the answer's header says how much was searched
        searched, indexed = qa.filters.scope(settings["filters"])
        st.caption(f"Searched {searched} of {indexed} documents (see “Search within” in the sidebar)")
    cached = st.session_state.get("last_result")
    if cached and cached[0] == key:
        return cached[1]
    state = process_state()
    message = (
        "Finding the answer…"
        if state["asked_once"]
        else ("Finding the answer… (the first question also loads the models; this takes a few seconds)")
    )
    # A missing embedding model, an index that cannot be searched, a Milvus store out of reach: a banner.
    with page_errors("This question cannot be answered") as caught, st.spinner(message), state["ask_lock"]:
        result = qa.ask(
            question,
            top_k=settings["top_k"],
            max_answers=settings["max_answers"],
            no_answer_threshold=settings["threshold"],
            rerank=None if settings.get("rerank", True) else False,
            filters=settings.get("filters"),
        )
    if caught.error is not None:
        return None
    state["asked_once"] = True
    st.session_state["last_result"] = (key, result)
    return result
