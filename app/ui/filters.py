"""The sidebar's filter panel: narrow the search to file types, folders, tags and a date range.

Built from what the index holds (the documents' metadata and tags, no fixed list), turned into Haystack's
filter syntax for :meth:`DocQA.ask`, and kept in the address (``?f=`` JSON) so that a filtered search can
be shared: opening the link sets the same panel and asks the same question within the same documents.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import streamlit as st

from docqa.pipelines.api import SourceFile

TOP = "(top folder)"


def _from_link() -> dict[str, Any]:
    """The panel's choices carried by a shared link (``?f=``), once, before the widgets are drawn."""
    if "filters_from_link" in st.session_state:
        return {}
    st.session_state["filters_from_link"] = True
    try:
        chosen = json.loads(st.query_params.get("f") or "{}")
    except ValueError:
        return {}
    return chosen if isinstance(chosen, dict) else {}


def _pick(label: str, options: list[str], key: str, preset: list[Any]) -> list[str]:
    if key not in st.session_state and preset:
        st.session_state[key] = [o for o in (str(p) for p in preset) if o in options]
    return st.multiselect(label, options, key=key, placeholder="all")


def filter_panel(documents: list[SourceFile]) -> dict[str, Any] | None:
    """The panel; returns the filter (Haystack syntax) or None when nothing is narrowed."""
    if not documents:
        return None
    preset = _from_link()
    chosen: dict[str, list[Any]] = {}
    with st.expander("Search within", expanded=bool(st.query_params.get("f"))):
        types = sorted({d.file_type for d in documents if d.file_type})
        chosen["file_type"] = _pick("File types", types, "filter_file_type", preset.get("file_type", []))
        folders = sorted({d.folder or TOP for d in documents})
        if len(folders) > 1:
            picked = _pick("Folders", folders, "filter_folder", preset.get("folder", []))
            chosen["folder"] = ["" if f == TOP else f for f in picked]
        tag_values: dict[str, dict[str, Any]] = {}
        for d in documents:
            for key, value in d.tags.items():
                tag_values.setdefault(key, {})[str(value)] = value
        for key in sorted(tag_values):
            picked = _pick(key, sorted(tag_values[key]), f"filter_tag_{key}", preset.get(key, []))
            chosen[key] = [tag_values[key][p] for p in picked]
        dates = _date_range(documents, preset.get("modified"))
    conditions: list[dict[str, Any]] = [
        {"field": f"meta.{field}", "operator": "in", "value": values}
        for field, values in chosen.items()
        if values
    ]
    link = {field: values for field, values in chosen.items() if values}
    if dates is not None:
        start, end = dates
        conditions.append({"field": "meta.modified", "operator": ">=", "value": start.isoformat()})
        conditions.append(
            {"field": "meta.modified", "operator": "<", "value": (end + timedelta(days=1)).isoformat()}
        )
        link["modified"] = [start.isoformat(), end.isoformat()]
    shared = json.dumps(link, separators=(",", ":"), sort_keys=True) if link else None
    if st.query_params.get("f") != shared:
        if shared:
            st.query_params["f"] = shared
        elif "f" in st.query_params:
            del st.query_params["f"]
    return {"operator": "AND", "conditions": conditions} if conditions else None


def _date_range(documents: list[SourceFile], preset: Any) -> tuple[date, date] | None:
    """A "modified between" range when the documents span more than one day; None: no date filter."""
    days = sorted({datetime.fromisoformat(d.metadata()["modified"]).date() for d in documents})
    if len(days) < 2:
        return None
    if "filter_dates_on" not in st.session_state and isinstance(preset, list) and len(preset) == 2:
        st.session_state["filter_dates_on"] = True
        st.session_state["filter_dates"] = tuple(date.fromisoformat(p) for p in preset)
    if not st.toggle("Modified between", key="filter_dates_on"):
        return None
    picked = st.date_input("Modified between", value=(days[0], days[-1]), key="filter_dates",
                           label_visibility="collapsed")  # fmt: skip
    if isinstance(picked, tuple) and len(picked) == 2:
        return picked[0], picked[1]
    return None
