"""The page's key gate: with ``DOCQA_API_KEY`` set or scoped keys created (`docqa keys create`), the page
asks for a key before it shows anything, and then shows only what that key may see.

Why: `docqa ui --host 0.0.0.0` used to open upload and delete to the whole network with no authentication
(issue 27), and one page in front of several teams' collections must not show HR's documents to the billing
team (issue 22). The key is checked as `docqa serve` checks ``X-API-Key``: ``DOCQA_API_KEY`` is an admin of
every collection (constant-time comparison); a scoped key is resolved by
:class:`docqa.pipelines.api.KeyStore` (salted scrypt hash, constant time) to its role and collections. The
page asks whenever a key exists, on loopback too, as the service does: one rule for both front ends.

A Streamlit session is one browser tab's WebSocket connection. The key stays in that session's server-side
state and is resolved again on every run, so a revoked key locks the tab at its next click. A wrong key
costs a second before the page answers, so guessing is slow. Nothing is logged.
"""

from __future__ import annotations

import time

import streamlit as st

from docqa.app.access import configured_key, key_matches
from docqa.app.ui.state import page_settings
from docqa.pipelines.api import Grant, KeyStore, Role

SENT_KEY = "docqa-sent-key"
KEY_INPUT = "docqa-key"
WRONG_KEY_DELAY_S = 1.0
OPEN = Grant("open", Role.ADMIN, None)


@st.cache_resource(show_spinner=False)
def key_store(root: str) -> KeyStore:
    """One store per index per page process: its memory of verified keys spares a scrypt (~40 ms) on every
    click, and it still re-reads keys.json whenever the file changes (a revoke)."""
    return KeyStore(root)


def _resolve(sent: str, main_key: str | None, store: KeyStore) -> Grant | None:
    if main_key is not None and key_matches(sent, main_key):
        return Grant("DOCQA_API_KEY", Role.ADMIN, None)
    return store.resolve(sent)


def page_grant() -> Grant | None:
    """What this tab may see and do, or None (the key form is shown; the caller shows nothing else)."""
    main_key = configured_key()
    store = key_store(str(page_settings().index_dir))
    if main_key is None and not store.configured():
        return OPEN
    sent = st.session_state.get(SENT_KEY)
    if sent:
        grant = _resolve(sent, main_key, store)
        if grant is not None:
            return grant
        st.session_state.pop(SENT_KEY, None)  # revoked since: ask again
    st.title("DocQA")
    with st.form("key-form", border=False, clear_on_submit=True):
        typed = st.text_input(
            "This page is protected: enter your API key",
            type="password",
            key=KEY_INPUT,
            autocomplete="current-password",
        )
        submitted = st.form_submit_button("Unlock", type="primary")
    if submitted:
        typed = (typed or "").strip()
        if typed and _resolve(typed, main_key, store) is not None:
            st.session_state[SENT_KEY] = typed
            st.rerun()
        time.sleep(WRONG_KEY_DELAY_S)
        st.error("That is not a key of this page.", icon=":material/lock:")
    return None
