"""``/collections`` and ``/keys``: listing, creating and deleting collections, and managing API keys.

Listing collections needs any key and shows only the ones the key may use (with their document counts);
everything else needs an admin key over every collection (:func:`docqa.app.server.authorize.require_admin`).
A new key's secret is in the response to its ``POST /keys`` and nowhere else, ever.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from docqa.app.server.authorize import identify, require_admin
from docqa.app.server.deps import API_KEY_HEADER, Context
from docqa.pipelines.api import Grant, create_collection, delete_collection, list_collections

router = APIRouter(tags=["access"])
NameParam = Annotated[str, PathParam(min_length=1, max_length=64)]


class CollectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="Lower-case letters, digits, '_' or '-'.")


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    collections: list[str] = Field(min_length=1, max_length=100, description="Collection names, or ['*'].")
    role: str = Field(description="read, write or admin")


def any_key(request: Request) -> Grant:
    return identify(request, request.headers.get(API_KEY_HEADER))[1]


@router.get("/collections", summary="The collections this key may use, with their document counts.")
def get_collections(ctx: Context, grant: Annotated[Grant, Depends(any_key)]):
    rows = []
    for name in list_collections(ctx.docqa.root_dir):
        if grant.may_use(name):
            stats = ctx.collection_docqa(name).stats()
            rows.append({"name": name, "documents": stats["documents"], "passages": stats["passages"]})
    return {"collections": rows}


@router.post("/collections", status_code=201, dependencies=[Depends(require_admin)],
             summary="Create an empty collection (admin).")
def post_collection(body: CollectionIn, ctx: Context):
    info = create_collection(ctx.docqa.root_dir, body.name)
    return {"name": info.name, "created": True}


@router.delete("/collections/{name}", dependencies=[Depends(require_admin)],
               summary="Delete a collection with all its documents, FAQ and feedback (admin; confirm=true).")
def remove_collection(name: NameParam, ctx: Context, confirm: Annotated[bool, Query()] = False):
    if not confirm:
        raise HTTPException(400, "Deleting a collection removes all its documents: add ?confirm=true.")
    delete_collection(ctx.docqa.root_dir, name, ctx.docqa.settings.store)
    with ctx.collections_lock:
        ctx.collections.pop(name, None)
    return {"name": name, "deleted": True}


@router.get("/keys", dependencies=[Depends(require_admin)], summary="API keys: names, scopes, use (admin).")
def get_keys(ctx: Context):
    assert ctx.keys is not None
    return {"keys": [record.public() for record in ctx.keys.list()]}


@router.post("/keys", status_code=201, dependencies=[Depends(require_admin)],
             summary=f"Create an API key (admin); the response is the only place its secret appears "
                     f"(send it as {API_KEY_HEADER}).")
def post_key(body: KeyIn, ctx: Context):
    assert ctx.keys is not None
    record, secret = ctx.keys.create(body.name, body.collections, body.role)
    return {**record.public(), "key": secret}


@router.delete("/keys/{name}", dependencies=[Depends(require_admin)], summary="Revoke an API key (admin).")
def revoke_key(name: NameParam, ctx: Context):
    assert ctx.keys is not None
    record = ctx.keys.revoke(name)
    return {"name": record.name, "revoked": True}
