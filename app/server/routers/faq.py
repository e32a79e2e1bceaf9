"""``/faq``: upload the curated FAQ file (replacing the FAQ) and list its entries.

The file is parsed and stored by :meth:`docqa.pipelines.api.DocQA.load_faq`; a bad file raises
``FaqFileError`` (an ``InvalidInputError`` with ``problems``), which :mod:`docqa.app.server.errors` answers
with 400 and one line per bad row or field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from docqa.app.server.deps import Context
from docqa.app.server.errors import RequestRejected
from docqa.app.server.routers.documents import upload_size
from docqa.app.server.schemas import CROSS_SITE_REFUSED, ErrorOut, FaqListResponse, FaqLoadResponse
from docqa.pipelines.api import FAQ_SUFFIXES, safe_upload_name

router = APIRouter(tags=["faq"])


@router.post(
    "/faq",
    response_model=FaqLoadResponse,
    summary="Upload an FAQ file (CSV with question,answer columns, JSON or YAML list); replaces the FAQ.",
    responses={
        **CROSS_SITE_REFUSED,
        400: {"model": ErrorOut, "description": "Invalid FAQ file; `errors` names each bad row/field."},
        413: {"model": ErrorOut},
        415: {"model": ErrorOut},
        423: {"model": ErrorOut},
    },
)
def upload_faq(
    file: Annotated[UploadFile, File(description="question,answer CSV, or JSON/YAML list.")], ctx: Context
):
    name = safe_upload_name(file.filename, default_stem="faq")
    if Path(name).suffix.lower() not in FAQ_SUFFIXES:
        raise RequestRejected(
            415,
            f"Unsupported FAQ file type '{Path(name).suffix or name}': "
            f"use .csv (question,answer columns), .json or .yaml.",
        )
    if upload_size(file) > ctx.max_upload_bytes:
        raise RequestRejected(413, f"The FAQ file is larger than the limit of {ctx.max_upload_bytes} bytes.")
    file.file.seek(0)
    data = file.file.read()
    return ctx.docqa.load_faq(data, name=name, lock_timeout=ctx.lock_timeout).to_dict()


@router.get("/faq", response_model=FaqListResponse, summary="The FAQ entries of the index.")
def list_faq(ctx: Context):
    return {"entries": [e.to_dict() for e in ctx.docqa.faq_entries()]}
