"""``/documents``: list what is indexed, upload files into the index, delete a document.

Uploads are stored by :meth:`docqa.pipelines.api.DocQA.add_uploads`, the method the Streamlit page uses
too: one layout (``<index>/uploads/<safe name>``), so a name uploaded again — from either front end —
replaces the earlier upload, and deleting an uploaded document deletes its saved copy. A client's file
name is never used as a path. Every file of a request is checked with the ingest's own loader before
anything is ingested, so a failed upload never changes the index (the earlier copies are put back).

A client that goes away cancels its upload: the ingest checks between its batches (seconds apart) whether
the connection is still there and stops, freeing the writer, instead of embedding for an hour for nobody.
What it committed stays consistent: files done are kept, a big file stopped in its parts stays partially
indexed (listed ``partial``; uploading it again finishes it), files not reached are not kept.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import anyio.from_thread
from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from docqa.app.server.deps import Context, ServiceContext
from docqa.app.server.errors import RequestRejected
from docqa.app.server.limits import MAX_FILES_PER_UPLOAD
from docqa.app.server.schemas import (
    CROSS_SITE_REFUSED,
    DeleteResponse,
    DocumentOut,
    DocumentsResponse,
    ErrorOut,
    UploadedFileOut,
    UploadResponse,
)
from docqa.pipelines.api import (
    DocQA,
    SourceFile,
    UnreadableUploadsError,
    UploadedFile,
    is_supported,
    parse_tags,
    safe_upload_name,
    supported_list,
    unsupported_reason,
)

router = APIRouter(tags=["documents"])


def document_id(source_key: str) -> str:
    """A stable, URL-safe id for an indexed file: its key is an absolute path, unfit for a URL."""
    return hashlib.sha256(source_key.encode("utf-8")).hexdigest()[:16]


def upload_size(upload: UploadFile) -> int:
    """Bytes in an uploaded file (the multipart parser does not always know it)."""
    if upload.size is not None:
        return int(upload.size)
    handle = upload.file
    position = handle.tell()
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(position)
    return size


def document_out(source: SourceFile, docqa: DocQA) -> DocumentOut:
    uploaded = docqa.is_upload(source.key)
    return DocumentOut(
        id=document_id(source.key),
        file_name=source.file_name,
        file=source.file_name if uploaded else source.key,
        uploaded=uploaded,
        title=source.title,
        kind=source.kind,
        pages=source.pages,
        passages=len(source.passage_ids),
        ingested_at=source.ingested_at,
        sha256=source.sha256,
        partial=source.partial,
        pending_passages=source.pending_passages,
        tables=source.tables,
        folder=source.folder,
        file_type=source.file_type,
        size=source.size,
        modified=source.metadata()["modified"],
        tags=source.tags,
    )


@router.get("/documents", response_model=DocumentsResponse, summary="What is indexed.")
def list_documents(ctx: Context):
    return {"documents": [document_out(s, ctx.docqa) for s in ctx.docqa.documents()]}


def client_gone(request: Request) -> Callable[[], bool]:
    """For the ingest's ``cancel``, called from this endpoint's worker thread: has the client hung up?
    (The event loop is asked; once gone, always gone; a loop that is shutting down counts as gone.)"""
    gone = False

    def check() -> bool:
        nonlocal gone
        try:
            gone = gone or anyio.from_thread.run(request.is_disconnected)
        except RuntimeError:  # the server is stopping: nobody will read the answer
            gone = True
        return gone

    return check


def _check_request(ctx: ServiceContext, files: list[UploadFile]) -> None:
    """Refuse the whole request, before anything is written, for unsupported types or too many bytes."""
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise HTTPException(422, f"At most {MAX_FILES_PER_UPLOAD} files per upload; got {len(files)}.")
    unsupported = [
        {"name": f.filename, "reason": unsupported_reason(Path(name))}
        for f in files
        if not is_supported(Path(name := safe_upload_name(f.filename)))
    ]
    if unsupported:
        raise RequestRejected(
            415,
            f"Unsupported file type: DocQA reads {supported_list()}. Nothing was indexed.",
            files=unsupported,
        )
    total = sum(upload_size(f) for f in files)
    if total > ctx.max_upload_bytes:
        raise RequestRejected(
            413,
            f"The upload holds {total} bytes of files; the limit is {ctx.max_upload_bytes}. "
            f"Nothing was indexed.",
        )


def _file_out(item: UploadedFile) -> UploadedFileOut:
    result = item.result
    failed = result.status == "failed"
    return UploadedFileOut(
        name=item.client_name,
        stored_as=item.stored_as,
        status=result.status,
        document_id=None if failed else document_id(item.key),
        passages=result.passages,
        pages=result.pages,
        reason=result.reason,
        notes=list(result.notes),
    )


@router.post(
    "/documents",
    response_model=UploadResponse,
    summary="Upload and index one or more documents (PDF, Word, HTML, images, text, Markdown).",
    responses={
        **CROSS_SITE_REFUSED,
        400: {"model": ErrorOut, "description": "A file is corrupt, encrypted, scanned or empty."},
        413: {"model": ErrorOut, "description": "The upload is larger than the limit."},
        415: {"model": ErrorOut, "description": "A file type DocQA does not read."},
        423: {
            "model": ErrorOut,
            "description": "Another upload or process is writing the index (`Retry-After`: seconds).",
        },
    },
)
def upload_documents(
    files: Annotated[list[UploadFile], File(description=f"One or more files: {supported_list()}.")],
    ctx: Context,
    request: Request,
    tags: Annotated[
        list[str] | None,
        Form(description="Tags for these files, key=value (repeat the field): team=legal, year=2024."),
    ] = None,
):
    _check_request(ctx, files)
    parsed = parse_tags(tags) if tags else None  # a bad tag: 422 naming it, before anything is stored
    try:
        report = ctx.docqa.add_uploads(
            [(f.filename, f.file) for f in files],
            lock_timeout=ctx.lock_timeout,
            refuse_unreadable=True,
            cancel=client_gone(request),
            tags=parsed,
        )
    except UnreadableUploadsError as err:
        reasons = [{"name": name, "reason": reason} for name, reason in err.files]
        raise RequestRejected(400, str(err), files=reasons) from None
    files_out = [_file_out(item) for item in report.files]
    ok = all(f.status != "failed" for f in files_out)
    body = {
        "ok": ok,
        "files": [f.model_dump() for f in files_out],
        "seconds": round(report.seconds, 3),
    }
    if not ok:
        body["detail"] = "Some files could not be indexed."
        return JSONResponse(status_code=400, content=body)
    return body


@router.delete(
    "/documents/{doc_id}",
    response_model=DeleteResponse,
    summary="Remove a document from the index (an uploaded file is deleted too).",
    responses={**CROSS_SITE_REFUSED, 404: {"model": ErrorOut}, 423: {"model": ErrorOut}},
)
def delete_document(
    doc_id: Annotated[str, PathParam(min_length=1, max_length=64, description="An id from GET /documents.")],
    ctx: Context,
):
    matches = [s for s in ctx.docqa.documents() if document_id(s.key) == doc_id]
    if not matches:
        raise HTTPException(404, f"No indexed document has the id '{doc_id}' (see GET /documents).")
    removed = ctx.docqa.delete(matches[0].key, lock_timeout=ctx.lock_timeout, remove_upload=True)
    return {"deleted": [document_out(s, ctx.docqa) for s in removed]}
