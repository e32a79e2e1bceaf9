"""The sidebar: what the index holds, adding and removing documents, and the answer settings.

Why the settings live here and come back as a plain dict: the question and the answers depend on them,
and the cached last result is keyed by them, so a changed slider asks again and an unchanged one does not.
"""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from docqa import config
from docqa.app.ui.documents import document_list, show_notice, upload_section
from docqa.app.ui.filters import filter_panel
from docqa.app.ui.formatting import md_escape, plural, when
from docqa.pipelines.api import DocQA


def threshold_for(sensitivity: float | None) -> float | None:
    """The reader's no-answer threshold τ for a sensitivity setting; ``None`` keeps the calibrated value.

    The reader says "no answer" when ``null_score − best_score > τ``, so a *higher* sensitivity (say
    "not found" more readily) is a *lower* τ.
    """
    return None if sensitivity is None else -float(sensitivity)


def sidebar(qa: DocQA, overview: dict[str, Any], locked: bool, *, can_write: bool = True) -> dict[str, Any]:
    """Index statistics, upload, the document list with delete, and the settings; returns the settings.
    ``can_write`` False (a read-only key): no upload, and removing is switched off."""
    stats = overview["stats"]
    with st.sidebar:
        show_notice()
        st.header("Your documents")
        st.markdown(
            f"**{plural(stats['documents'], 'document')}** · {plural(stats['passages'], 'passage')} · "
            f"{plural(stats['pages'], 'page')}"
        )
        st.caption(f"Last added: {when(stats.get('last_ingest'))}  \nIndex: `{stats['index']}`")
        watched = config.env(config.UI_WATCH)
        if watched:  # `docqa ui --watch`: a child process keeps these folders indexed
            st.caption(f":material/sync: Watching {md_escape(', '.join(watched.split(os.pathsep)))}")
        if can_write:
            upload_section(qa, locked)
        else:
            st.caption(":material/visibility: Your key may read this collection, not change it.")
        document_list(qa, overview["documents"], locked or not can_write)
        st.divider()
        settings = answer_settings()
        settings["filters"] = filter_panel(overview["documents"])
        reader_runtime(qa)
        return settings


def reader_runtime(qa: DocQA) -> None:
    """Which runtime reads (``auto`` measures torch / ONNX fp32 / ONNX int8 on this CPU, and the CUDA
    runtimes on a GPU, once)."""
    try:
        choice = qa.reader().backend_choice
    except Exception:  # noqa: BLE001 - no reader: the answers section says why
        return
    if choice is None:
        return
    machine = f"{choice.cpu} with {choice.gpu}" if choice.gpu else choice.cpu
    how = {"setting": "as configured"}.get(choice.chosen_by, f"fastest measured on {machine}")
    st.caption(f"Reader runtime: `{choice.backend}` ({how})")


def answer_settings() -> dict[str, Any]:
    """How many passages to read, how many answers to show, and when to say "not found"."""
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
    rerank = st.toggle(
        "Rerank passages",
        value=True,
        key="rerank",
        help="A cross-encoder reads the question with each retrieved passage and reorders them before the "
        "reader reads the best ones (the bundled reranker in data/reranker; DOCQA_RERANK=0 turns it off).",
    )
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
    return {"top_k": top_k, "max_answers": max_answers, "threshold": threshold_for(sensitivity),
            "rerank": rerank}
