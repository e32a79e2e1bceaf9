"""The page's one error mapping: every DocQA error a section meets becomes one banner, chosen by its kind.

Why one place, as the CLI (``app/cli/errors.py``) and the service (``app/server/errors.py``) have: each
section used to catch the store classes it knew (the local index's lock and corrupt-index errors, the
model error) and let everything else through as a traceback — a busy Milvus store, a setting DocQA cannot
read, an error class added later. Now a section says what it was doing ("Documents cannot be added") and
:func:`banner_for` does the rest by kind (:mod:`docqa.errors`): how loud the banner is, its icon, and what
the user can do on the page; the error's own message says what went wrong and how to fix it. Its first
line goes in the banner; further lines (a missing model's download commands) go in a code block under it,
ready to copy. Never a traceback.

Callbacks (a button's ``on_click``) run before the page is drawn, so they keep the :class:`Banner` in the
session state and the section draws it with :func:`show` on the next run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st

from docqa.app.ui.formatting import md_escape
from docqa.errors import (
    BusyError,
    ConfigError,
    ConflictError,
    DocQAError,
    InvalidInputError,
    NotFoundError,
    StorageError,
    UnavailableError,
)

ERROR_ICON = ":material/error:"


@dataclass(frozen=True)
class Banner:
    """One message on the page: ``level`` is the Streamlit call (error, warning, info, success), ``text``
    one Markdown paragraph, ``details`` a code block under it (commands to copy)."""

    level: str
    text: str
    details: str = ""
    icon: str | None = None


# Kind → (level, icon, what the user can do on the page). Checked in order, first match wins: an error
# may belong to two kinds (a locked index is a StorageError *and* a BusyError: the index is fine, only
# busy), so the more actionable kind comes first — the same order as the service's KIND_STATUS.
KIND_BANNERS: tuple[tuple[type[DocQAError], str, str, str], ...] = (
    (BusyError, "warning", ":material/lock_clock:", ""),  # the message says to wait and try again
    (UnavailableError, "error", ":material/cloud_off:", ""),  # the message says how to get it
    (NotFoundError, "info", ":material/info:", "The sidebar shows what the index holds now."),
    (InvalidInputError, "error", ERROR_ICON, ""),
    (ConflictError, "warning", ":material/sync_problem:", ""),  # the message says to re-ingest
    (ConfigError, "error", ":material/settings:", "Fix the setting, then start the page again (`docqa ui`)."),
    (StorageError, "error", ERROR_ICON, ""),
)
FALLBACK = ("error", ERROR_ICON, "")  # a DocQAError of no known kind


def _message(text: str) -> str:
    """An error's text for st.markdown: escaped like everything from files (:func:`md_escape`: a path may
    hold ``*``, ``$`` or ``[``), except an underscore inside a word (``correct_answer``, ``DOCQA_INDEX``),
    which Markdown never reads as emphasis and which must stay copyable."""
    return re.sub(r"(?<=\w)\\_(?=\w)", "_", md_escape(text))


def banner_for(err: DocQAError, action: str) -> Banner:
    """The banner for ``err`` met while doing ``action`` (Markdown, escaped by the caller), e.g.
    ``**Documents cannot be added.** The index at … is being written by another DocQA process …``."""
    level, icon, hint = next(
        ((lvl, ic, h) for kind, lvl, ic, h in KIND_BANNERS if isinstance(err, kind)), FALLBACK
    )
    first, _, rest = str(err).strip().partition("\n")
    text = f"**{action}.** {_message(first)}" + (f" {hint}" if hint else "")
    return Banner(level, text, rest.strip("\n"), icon)


def show(banner: Banner, where: Any = None) -> None:
    """Draw ``banner`` in ``where`` (a container; default: the current place on the page)."""
    target = where if where is not None else st
    getattr(target, banner.level)(banner.text, icon=banner.icon)
    if banner.details:
        target.code(banner.details, language=None)


def show_error(err: DocQAError, action: str, where: Any = None) -> None:
    """:func:`show` the banner of ``err`` (for a section that must draw something first, e.g. a title)."""
    show(banner_for(err, action), where)


class Caught:
    """What :func:`page_errors` caught: ``error`` stays None when the block ran through."""

    error: DocQAError | None = None


@contextmanager
def page_errors(action: str, where: Any = None) -> Iterator[Caught]:
    """Run a call into DocQA; a DocQA error becomes its banner in ``where`` instead of a traceback.

    ``with page_errors("Documents cannot be added", container) as caught: report = qa.ingest(...)``;
    afterwards ``caught.error`` says whether it failed. Errors that are not DocQA's are bugs: they pass.
    """
    caught = Caught()
    try:
        yield caught
    except DocQAError as err:
        caught.error = err
        show_error(err, action, where)
