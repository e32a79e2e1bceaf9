"""The sidebar's document management: upload files into the index, list what it holds, remove a document.

Why through one API method: the page and the HTTP service save uploads the same way
(:meth:`docqa.pipelines.api.DocQA.add_uploads`), so a file uploaded in one front end is recognised, and its
saved copy removed, by the other. Removing a document never touches a file outside the index's uploads
folder. What goes wrong is shown through the page's one error mapping (app/ui/errors.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from docqa.app.ui.errors import Banner, banner_for, page_errors, show
from docqa.app.ui.formatting import md_escape, plural, short_id, when
from docqa.app.ui.ingesting import CANNOT_ADD, PageIngestProgress, remember_report, show_report
from docqa.errors import DocQAError, NotFoundError
from docqa.pipelines.api import (
    PDF_SUFFIXES,
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    DocQA,
    SourceFile,
    UploadReport,
    parse_tags,
)

# Whatever the ingest reads, PDFs first, then plain text, then Markdown (the order the uploader lists them).
UPLOAD_TYPES = [
    suffix.lstrip(".")
    for suffix in sorted(
        SUPPORTED_SUFFIXES, key=lambda s: (s not in PDF_SUFFIXES, s not in TEXT_SUFFIXES, len(s), s)
    )
]
CONFIRM_KEY = "confirm_delete"


def upload_section(qa: DocQA, locked: bool) -> None:
    """The upload form; a submitted batch is saved, ingested with progress, and reported file by file."""
    st.subheader("Add documents")
    with st.form("upload-form", clear_on_submit=True, border=False):
        files = st.file_uploader(
            "PDF (text or scanned), Word, HTML, image, text or Markdown files",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            disabled=locked,
            key="upload_files",
        )
        tags = st.text_input(
            "Tags (optional)",
            key="upload_tags",
            placeholder="team=legal, year=2024",
            disabled=locked,
            help="Tags for these files, to search within them later (Search within). A file uploaded again "
            "with other tags gets the new ones without being read again.",
        )
        submitted = st.form_submit_button("Add to index", disabled=locked, icon=":material/upload_file:")
    if submitted:
        if not files:
            st.warning("Choose one or more files first.")
        else:
            report = add_uploads(qa, files, tags)
            if report is not None:
                remember_report("Upload", report)
                st.rerun()
    show_report()


def add_uploads(qa: DocQA, files: Sequence[Any], tags: str = "") -> UploadReport | None:
    """Save the browser's files through the API and ingest them, with a progress bar; a file that fails (or
    an ingest that cannot run: then a banner and ``None``) leaves the earlier upload of that name, and the
    index, as they were."""
    container = st.container()
    progress = PageIngestProgress(container, plural(len(files), "file"))
    try:
        with page_errors(CANNOT_ADD, container):  # a bad tag is a banner naming it
            parsed = parse_tags(t for t in tags.split(",") if t.strip()) if tags.strip() else None
            return qa.add_uploads(
                [(upload.name, upload.getvalue()) for upload in files],
                progress=progress,
                lock_timeout=2.0,
                tags=parsed,
            )
    finally:
        progress.close()
    return None


def _tags(doc: SourceFile) -> str:
    return ", ".join(f"{key}={value}" for key, value in doc.tags.items())


def document_list(qa: DocQA, documents: list[SourceFile], locked: bool) -> None:
    """Every indexed document with its title, size and date; removing one asks for confirmation first."""
    if not documents:
        return
    st.subheader(f"Indexed ({len(documents)})")
    confirm = st.session_state.get(CONFIRM_KEY)
    for doc in documents:
        with st.expander(doc.file_name, expanded=confirm == doc.key):
            st.caption(
                f"{md_escape(doc.title)}  \n{plural(doc.pages, 'page')} · "
                f"{plural(len(doc.passage_ids), 'passage')}  \nAdded {when(doc.ingested_at)}"
                + (f"  \nTags: {md_escape(tag_text)}" if (tag_text := _tags(doc)) else "")
            )
            ident = short_id(doc.key)
            if confirm == doc.key:
                st.warning(f"Remove {md_escape(doc.file_name)} from the index?")
                yes, no = st.columns(2)
                if yes.button("Remove", key=f"confirm-delete-{ident}", type="primary", disabled=locked):
                    delete_document(qa, doc)
                    st.rerun()
                no.button(
                    "Cancel",
                    key=f"cancel-delete-{ident}",
                    on_click=lambda: st.session_state.pop(CONFIRM_KEY, None),
                )
            else:
                st.button(
                    "Remove from index",
                    key=f"delete-{ident}",
                    disabled=locked,
                    icon=":material/delete:",
                    on_click=lambda key=doc.key: st.session_state.__setitem__(CONFIRM_KEY, key),
                )


def delete_document(qa: DocQA, doc: SourceFile) -> None:
    """Remove ``doc`` from the index (and our saved copy if it was uploaded); the outcome is a notice."""
    st.session_state.pop(CONFIRM_KEY, None)
    name = md_escape(doc.file_name)
    try:
        with st.spinner(f"Removing {doc.file_name}…"):
            # Our own copy of an uploaded file goes too; files elsewhere on disk are never touched.
            removed = qa.delete(doc.key, lock_timeout=2.0, remove_upload=True)
    except NotFoundError:
        notify(Banner("info", f"{name} was already removed."))
        return
    except DocQAError as err:
        notify(banner_for(err, f"{name} could not be removed"))
        return
    count = sum(len(s.passage_ids) for s in removed)
    notify(Banner("success", f"Removed {name} ({plural(count, 'passage')})."))


def notify(banner: Banner) -> None:
    """A banner for the next run: the run that deletes reruns at once, so the message must survive it."""
    st.session_state["notice"] = banner


def show_notice() -> None:
    """The banner left by :func:`notify`, shown once."""
    notice = st.session_state.pop("notice", None)
    if notice:
        show(notice)
