"""DocQA's search page: ask a question, see the answer in its passage and on its page, manage documents.

Run it with ``docqa ui`` (see app/ui/launcher.py) or ``streamlit run app/ui/page.py``. Configuration comes
from the same ``DOCQA_*`` variables as the CLI (see docqa/config.py); ``docqa ui --samples`` sets
``DOCQA_UI_SAMPLES=1``, which indexes the bundled samples when the index is empty.

This script only puts the sections in order; each lives in its own module under app/ui/. The page holds
no retrieval or reading logic: everything goes through one cached :class:`docqa.pipelines.api.DocQA`
(app/ui/state.py). Anything a user can run into (no reader model, an empty index, an ingest running in
another process, a bad upload) is a plain-language banner, never a traceback: DocQA's errors through the
page's one error mapping (app/ui/errors.py), by kind.
"""

from __future__ import annotations

import streamlit as st

from docqa.app.ui import answers, gate, onboarding, quality, questions, sidebar, state
from docqa.app.ui.collections import chosen_collection, collection_switcher, visible_collections
from docqa.app.ui.errors import show_error
from docqa.app.ui.framing import refuse_framing
from docqa.app.ui.styles import apply_styles
from docqa.errors import DocQAError
from docqa.pipelines.api import Role

VIEWS = ["Ask", "Quality"]
LOCKED_BANNER = (
    "**This index is being updated by another DocQA process** (an ingest is running). You can ask questions "
    "about the documents already indexed; adding and removing documents is paused until it finishes."
)


def main() -> None:
    st.set_page_config(
        page_title="DocQA — ask your documents", page_icon=":material/quick_reference_all:", layout="wide"
    )
    apply_styles()
    refuse_framing()  # before the key box or any button: a framed page shows nothing to click
    grant = gate.page_grant()  # a key exists: nothing is shown, read or written before it is given
    if grant is None:
        return
    try:
        visible = visible_collections(str(state.page_settings().index_dir), grant.collections)
        if chosen_collection(visible) is None:
            st.title("DocQA")
            st.info("Your key gives access to no collection of this index.", icon=":material/lock:")
            return
        collection_switcher(visible)
        qa = state.current_docqa()
        locked = qa.index.is_locked()
        overview = state.index_overview(str(qa.root_dir), qa.collection, qa.index.current_name())
        if overview["stats"]["documents"]:
            qa.store.warm_up()  # a Milvus store (DOCQA_STORE): reachable? (cheap once connected)
    except DocQAError as err:  # a bad setting, a corrupt index, a Milvus store out of reach, ...
        st.title("DocQA")
        show_error(err, "DocQA cannot open this index")
        return
    empty = overview["stats"]["documents"] == 0
    may_load = empty and not locked and grant.may(Role.WRITE, qa.collection)
    if may_load and onboarding.autoload_requested() and onboarding.autoload_samples(qa):
        st.rerun()

    questions.question_from_link()
    can_write = grant.may(Role.WRITE, qa.collection)
    settings = sidebar.sidebar(qa, overview, locked, can_write=can_write)
    st.title("DocQA")
    st.caption("Ask questions of your own documents — answers come with the passage and page they are from.")
    if locked:
        st.warning(LOCKED_BANNER, icon=":material/lock_clock:")
        st.button("Check again", key="check-lock")
    if empty:
        onboarding.onboarding(qa, locked or not can_write)
        return
    view = st.segmented_control("View", VIEWS, default=VIEWS[0], key="view", label_visibility="collapsed")
    if view == "Quality":
        quality.quality_view(qa, can_admin=grant.may(Role.ADMIN, qa.collection))
        return

    questions.question_box(overview["documents"])
    asked = questions.asked_question()
    if asked:
        result = questions.ask(qa, asked, settings)
        if result is not None:
            answers.show_result(result, {d.key: d for d in overview["documents"]})


if __name__ == "__main__":
    main()
