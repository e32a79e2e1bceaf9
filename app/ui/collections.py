"""The page's collection switcher: which named set of documents this browser tab reads and writes.

Why per tab (``st.session_state``) and not a process setting: two people on one page may work in two
collections at once, and a tab must only ever be offered the collections its key may reach (the grant from
:mod:`docqa.app.ui.gate`). ``DOCQA_COLLECTION`` (``docqa ui --collection NAME``) picks the one a tab opens
on when its key may use it.
"""

from __future__ import annotations

from collections.abc import Collection

import streamlit as st

from docqa import config
from docqa.pipelines.api import list_collections

CHOSEN = "docqa-collection"


def visible_collections(index_dir: str, allowed: Collection[str] | None) -> list[str]:
    """The index's collections this tab may see (``allowed`` None: all), ``default`` first."""
    return [name for name in list_collections(index_dir) if allowed is None or name in allowed]


def chosen_collection(visible: list[str]) -> str | None:
    """The tab's collection: its last choice while still visible, else ``DOCQA_COLLECTION`` when visible,
    else the first visible one; None when the tab may see none."""
    current = st.session_state.get(CHOSEN)
    if current in visible:
        return current
    preferred = config.env(config.COLLECTION, config.DEFAULT_COLLECTION)
    picked = preferred if preferred in visible else (visible[0] if visible else None)
    st.session_state[CHOSEN] = picked
    return picked


def collection_switcher(visible: list[str]) -> None:
    """A select box in the sidebar when there is more than one collection to choose from; a switch
    re-runs the page on the other collection (its documents, filters and answers)."""
    if len(visible) < 2:
        return
    st.sidebar.selectbox(
        "Collection",
        visible,
        key=CHOSEN,
        help="A collection is a separate set of documents: questions are answered from the chosen one "
        "only. `docqa collections create NAME` adds one.",
    )
