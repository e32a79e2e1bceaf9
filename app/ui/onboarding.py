"""An empty index: say what DocQA does and offer the bundled sample documents in one click.

Why: a first-time user with nothing indexed should reach a first answer without finding files to
upload. ``docqa ui --samples`` (``DOCQA_UI_SAMPLES=1``) loads the samples without the click, once per
server process and index, so reloading the page never indexes them twice.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from docqa import config
from docqa.app.ui.ingesting import remember_report, run_ingest
from docqa.app.ui.state import process_state
from docqa.pipelines.api import DocQA
from docqa.resources import data_path

SAMPLES_DIR = data_path("samples")


def autoload_requested() -> bool:
    """Whether the page was started with ``--samples``."""
    return config.env_flag(config.UI_SAMPLES, False)


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
    """Index the samples with a progress bar in ``container``; ``True`` when the ingest ran."""
    report = run_ingest(qa, [SAMPLES_DIR], container, "the sample documents")
    if report is None:
        return False
    remember_report("Sample documents", report)
    return True


def onboarding(qa: DocQA, locked: bool) -> None:
    """The welcome shown instead of the question box while the index is empty."""
    st.subheader("Welcome — your index is empty")
    st.markdown(
        "DocQA answers questions from **your own documents**: it finds the passages that match your "
        "question and points to the exact answer, with the page it is on.\n\n"
        "Add PDF, Word, HTML, image, text or Markdown files under **Add documents** in the sidebar, or "
        "start with three short "
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
