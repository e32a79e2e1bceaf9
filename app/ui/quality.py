"""The page's Quality view: how good the answers of this collection are, how that changed with each
promoted reader, how much feedback came in, and a button that runs ``docqa improve`` in the background.

Why on the page: the people who click Correct/Wrong are the ones who want to see whether it helped, and a
rollback after a bad week should not need a terminal. Training is minutes of CPU on the page's machine;
``DOCQA_UI_IMPROVE=0`` shows the CLI command instead of the button. Only an admin key on the collection
(or a page without keys, which is loopback-only) may start a run or switch models; anyone may look.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import streamlit as st

from docqa import config
from docqa.app.ui.errors import page_errors
from docqa.app.ui.formatting import md_escape
from docqa.pipelines.api import DocQA

SCORES = (("f1", "F1"), ("HasAns_f1", "HasAns F1"), ("NoAns_f1", "NoAns F1"))
POLL_S = 2.0


def score_history(listing: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per reader that answered in turn: the configured one (scored as the first promotion's
    "current"), then each promoted model as scored when it was promoted (held-out questions, end to end)."""
    rows: list[dict[str, Any]] = []
    for model in listing["models"]:
        scores = model.get("scores") or {}
        if not rows and scores.get("current"):
            rows.append(
                {
                    "model": str(model.get("parent") or "configured"),
                    **{label: scores["current"].get(key, {}).get("mean") for key, label in SCORES},
                }
            )
        rows.append(
            {
                "model": model["name"],
                **{label: scores.get("candidate", {}).get(key, {}).get("mean") for key, label in SCORES},
            }
        )
    return rows


def feedback_per_day(records: list[Any]) -> list[dict[str, Any]]:
    """Feedback records per day and verdict, oldest day first."""
    counts = Counter((r.created[:10], r.verdict.value) for r in records)
    days = sorted({day for day, _ in counts})
    verdicts = sorted({verdict for _, verdict in counts})
    return [{"day": day, **{v: counts.get((day, v), 0) for v in verdicts}} for day in days]


def quality_view(qa: DocQA, *, can_admin: bool) -> None:
    listing = qa.models()
    st.subheader("Quality of the answers")
    st.markdown(
        f"Answering now: **{md_escape(listing['active_name'])}** · "
        f"{len(listing['models'])} promoted reader(s) in this collection"
    )
    history = score_history(listing)
    if history:
        import pandas as pd

        frame = pd.DataFrame(history).set_index("model")
        st.caption(
            "Held-out scores (0–100) of each reader when it was promoted, on the held-out feedback "
            "questions, end to end"
        )
        st.line_chart(frame, y=[label for _, label in SCORES], height=260)
    else:
        st.info(
            "No reader has been promoted yet: after some feedback, **Improve the reader** trains a "
            "candidate and keeps it only if it answers the held-out questions better.",
            icon=":material/insights:",
        )
    records = qa.all_feedback()
    st.markdown(f"**Feedback:** {len(records)} record(s)")
    per_day = feedback_per_day(records)
    if per_day:
        import pandas as pd

        st.bar_chart(pd.DataFrame(per_day).set_index("day"), height=200)
    if listing["models"]:
        model_table(listing)
    improve_panel(qa, listing, can_admin=can_admin)


def model_table(listing: dict[str, Any]) -> None:
    rows = []
    for model in listing["models"]:
        cand = (model.get("scores") or {}).get("candidate", {})
        cur = (model.get("scores") or {}).get("current", {})
        rows.append(
            {
                "#": model["number"],
                "active": "✓" if model["active"] else "",
                "created": model.get("created"),
                "parent": model.get("parent"),
                "feedback": model.get("feedback_records"),
                "held-out F1": cand.get("f1", {}).get("mean"),
                "before": cur.get("f1", {}).get("mean"),
                "regression F1": cand.get("regression_f1", {}).get("mean"),
            }
        )
    st.dataframe(rows, hide_index=True, use_container_width=True)


def improve_panel(qa: DocQA, listing: dict[str, Any], *, can_admin: bool) -> None:
    st.divider()
    if not can_admin:
        st.caption(":material/lock: Improving the reader and switching models needs an admin key.")
        return
    if config.env(config.UI_IMPROVE, "1") == "0":
        st.markdown(
            "Training on this machine is switched off (`DOCQA_UI_IMPROVE=0`). Run it where you train models:"
        )
        st.code(f"docqa improve --index {qa.root_dir} --collection {qa.collection}", language="bash")
    else:
        job_panel(qa)
    numbers = [0, *[m["number"] for m in listing["models"]]]
    with st.form("use-model"):
        chosen = st.selectbox(
            "Answer with",
            numbers,
            index=numbers.index(listing["active"]),
            format_func=lambda n: "the configured reader" if n == 0 else f"models/{n}",
        )
        if st.form_submit_button("Switch"):
            qa.use_model(int(chosen))
            st.rerun()


def job_panel(qa: DocQA) -> None:
    jobs = qa.improve_jobs()
    latest = next(iter(jobs.recent(1)), None)
    running = latest is not None and latest.get("state") == "running"
    if st.button(
        "Improve the reader",
        key="improve-start",
        disabled=running,
        type="primary",
        help="Train on this collection's feedback; promote only if it measures better.",
    ):
        with page_errors("Could not start an improve run") as caught:
            latest = qa.start_improve()
            running = True
        if caught.error is not None:
            return
    if latest is not None:
        job_status(qa, latest["id"], live=running)


def job_status(qa: DocQA, job_id: str, *, live: bool) -> None:
    @st.fragment(run_every=POLL_S if live else None)
    def status() -> None:
        job = qa.improve_jobs().get(job_id)
        if job["state"] == "running":
            st.progress(float(job.get("progress") or 0.0), text=job.get("stage") or "starting")
            return
        if job["state"] == "failed":
            st.error(f"The last improve run stopped: {job['error']}", icon=":material/error:")
            return
        result = job["result"] or {}
        icon = ":material/check_circle:" if result.get("promoted") else ":material/info:"
        (st.success if result.get("promoted") else st.info)(result.get("reason", "done"), icon=icon)
        if live:  # the run just ended: redraw the charts with the new model
            st.rerun()

    status()
