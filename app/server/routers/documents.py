"""``/documents``: list what is indexed, upload files into the index, delete a document.

Uploads are stored by :mod:`docqa.ingest.uploads`, the module the Streamlit page uses too: one layout
(``<index>/uploads/<safe name>``), so a name uploaded again — from either front end — replaces the
earlier upload, and deleting an uploaded document deletes its saved copy. A client's file name is never
used as a path. Every file of a request is checked with the ingest's own loader before anything is
ingested, so a failed upload never changes the index (the earlier copies are put back).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, File, HTTPException, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from docqa.app.server.deps import Context, ServiceContext
from docqa.app.server.errors import RequestRejected
from docqa.app.server.limits import MAX_FILES_PER_UPLOAD
from docqa.app.server.schemas import (
    DeleteResponse,
    DocumentOut,
    DocumentsResponse,
    ErrorOut,
    UploadedFileOut,
    UploadResponse,
)
from docqa.ingest import uploads
from docqa.ingest.loaders import supported_list

if TYPE_CHECKING:
    from docqa.ingest.ingestor import FileResult, IngestReport
    from docqa.ingest.records import SourceFile

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


def document_out(source: SourceFile, index_dir: Path) -> DocumentOut:
    uploaded = uploads.is_upload(source.key, index_dir)
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
    )


@router.get("/documents", response_model=DocumentsResponse, summary="What is indexed.")
def list_documents(ctx: Context):
    return {"documents": [document_out(s, ctx.index_dir) for s in ctx.docqa.documents()]}


def _check_request(ctx: ServiceContext, files: list[UploadFile]) -> None:
    """Refuse the whole request, before anything is written, for unsupported types or too many bytes."""
    from docqa.ingest.loaders import is_supported, unsupported_reason

    if len(files) > MAX_FILES_PER_UPLOAD:
        raise HTTPException(422, f"At most {MAX_FILES_PER_UPLOAD} files per upload; got {len(files)}.")
    unsupported = [
        {"name": f.filename, "reason": unsupported_reason(Path(name))}
        for f in files
        if not is_supported(Path(name := uploads.safe_upload_name(f.filename)))
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


def _file_out(
    item: uploads.StagedUpload, result: FileResult | None, indexed: SourceFile | None
) -> UploadedFileOut:
    if result is None and item.unchanged and indexed is not None:  # same bytes as the indexed upload
        return UploadedFileOut(
            name=item.client_name,
            stored_as=item.name,
            status="unchanged",
            document_id=document_id(indexed.key),
            passages=len(indexed.passage_ids),
            pages=indexed.pages,
        )
    status = result.status if result else "failed"
    return UploadedFileOut(
        name=item.client_name,
        stored_as=item.name,
        status=status,
        document_id=document_id(str(item.path)) if status != "failed" else None,
        passages=result.passages if result else 0,
        pages=result.pages if result else 0,
        reason=result.reason if result else "not ingested",
        notes=list(result.notes) if result else [],
    )


@router.post(
    "/documents",
    response_model=UploadResponse,
    summary="Upload and index one or more documents (PDF, Word, HTML, images, text, Markdown).",
    responses={
        400: {"model": ErrorOut, "description": "A file is corrupt, encrypted, scanned or empty."},
        413: {"model": ErrorOut, "description": "The upload is larger than the limit."},
        415: {"model": ErrorOut, "description": "A file type DocQA does not read."},
        423: {"model": ErrorOut, "description": "Another process is writing the index."},
    },
)
def upload_documents(
    files: Annotated[list[UploadFile], File(description=f"One or more files: {supported_list()}.")],
    ctx: Context,
):
    _check_request(ctx, files)
    docqa, index_dir = ctx.docqa, ctx.index_dir
    with uploads.upload_lock(index_dir):  # one upload at a time decides what replaces what
        indexed = {s.key: s for s in docqa.documents()}
        staged = uploads.stage_uploads(index_dir, [(f.filename, f.file) for f in files])
        report: IngestReport | None = None
        try:
            problems = uploads.unreadable(staged)
            if problems:
                reasons = [{"name": item.client_name, "reason": reason} for item, reason in problems]
                detail = "; ".join(f"{p['name']}: {p['reason']}" for p in reasons)
                raise RequestRejected(400, f"{detail}. Nothing was indexed.", files=reasons)
            # Identical bytes of an indexed upload need no ingest (and so no writer lock).
            to_ingest = [s.path for s in staged if not (s.unchanged and str(s.path) in indexed)]
            if to_ingest:
                report = docqa.ingest(to_ingest, lock_timeout=ctx.lock_timeout)
        finally:
            results = uploads.settle_uploads(staged, report)  # restores the earlier copies on any failure
        files_out = [
            _file_out(item, result, indexed.get(str(item.path)))
            for item, result in zip(staged, results, strict=True)
        ]
        # Uploads kept by the older service layout (uploads/<id>/<name>) that these replace.
        older = uploads.superseded(staged, results, indexed, index_dir)
        for key in older:
            docqa.delete(key, lock_timeout=ctx.lock_timeout)
            uploads.remove_upload(key, index_dir)
        replaced = {uploads.upload_name(key, index_dir) for key in older}
        for out in files_out:
            if out.status == "added" and out.stored_as in replaced:
                out.status = "updated"
    ok = all(f.status != "failed" for f in files_out)
    body = {
        "ok": ok,
        "files": [f.model_dump() for f in files_out],
        "seconds": round(report.seconds, 3) if report else 0.0,
    }
    if not ok:
        body["detail"] = "Some files could not be indexed."
        return JSONResponse(status_code=400, content=body)
    return body


@router.delete(
    "/documents/{doc_id}",
    response_model=DeleteResponse,
    summary="Remove a document from the index (an uploaded file is deleted too).",
    responses={404: {"model": ErrorOut}, 423: {"model": ErrorOut}},
)
def delete_document(
    doc_id: Annotated[str, PathParam(min_length=1, max_length=64, description="An id from GET /documents.")],
    ctx: Context,
):
    matches = [s for s in ctx.docqa.documents() if document_id(s.key) == doc_id]
    if not matches:
        raise HTTPException(404, f"No indexed document has the id '{doc_id}' (see GET /documents).")
    removed = ctx.docqa.delete(matches[0].key, lock_timeout=ctx.lock_timeout)
    for source in removed:
        uploads.remove_upload(source.key, ctx.index_dir)
    return {"deleted": [document_out(s, ctx.index_dir) for s in removed]}
