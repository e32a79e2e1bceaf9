"""The page's look: the few CSS rules Streamlit's own widgets do not cover (answer cards, highlights).

Why hand-written CSS: the answer must stand out as *the* thing on the page, in large type, with the
words it came from marked inside their passage; Streamlit offers no element for that. Every class here
is prefixed ``docqa-`` so it cannot collide with Streamlit's own, and the tests find answers by them.
"""

from __future__ import annotations

import streamlit as st

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

# Material icons, not emoji: they render the same in every browser (emoji fonts are often missing).
STATUS_ICONS = {
    "added": ":green[:material/check_circle:]",
    "updated": ":blue[:material/sync:]",
    "unchanged": ":gray[:material/remove:]",
    "skipped": ":orange[:material/skip_next:]",
    "failed": ":red[:material/error:]",
    "removed": ":gray[:material/delete:]",
}


def apply_styles() -> None:
    """Add the page's CSS; called once per script run, before anything that uses the classes."""
    st.html(CSS)
