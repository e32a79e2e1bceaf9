"""The page's key gate: with ``DOCQA_API_KEY`` set, the page asks for the key before it shows anything.

Why: `docqa ui --host 0.0.0.0` used to open upload and delete to the whole network with no authentication
(issue 27). Now the launcher refuses to listen beyond loopback without a key, and with a key set the page
is locked until the visitor types it — the same key, compared the same way (constant time, never logged
or shown), as `docqa serve` requires in ``X-API-Key``. The page asks whenever a key is set, on loopback
too, as the service does: one rule for both front ends.

A Streamlit session is one browser tab's WebSocket connection: the tab stays unlocked until it is
reloaded or closed. A wrong key costs a second before the page answers, so guessing it is slow.
"""

from __future__ import annotations

import time

import streamlit as st

from docqa.app.access import configured_key, key_matches

UNLOCKED = "docqa-unlocked"
KEY_INPUT = "docqa-key"
WRONG_KEY_DELAY_S = 1.0


def unlocked() -> bool:
    """True when the page may be shown: no key is set, or this session gave it. Otherwise shows the
    key form (and, after a wrong key, says so) and returns False: the caller shows nothing else."""
    key = configured_key()
    if key is None or st.session_state.get(UNLOCKED):
        return True
    st.title("DocQA")
    with st.form("key-form", border=False, clear_on_submit=True):
        sent = st.text_input(
            "This page is protected: enter the API key (DOCQA_API_KEY)",
            type="password",
            key=KEY_INPUT,
            autocomplete="current-password",
        )
        submitted = st.form_submit_button("Unlock", type="primary")
    if submitted:
        if key_matches((sent or "").strip(), key):
            st.session_state[UNLOCKED] = True
            st.rerun()
        time.sleep(WRONG_KEY_DELAY_S)
        st.error("That is not the key this page was started with.", icon=":material/lock:")
    return False
