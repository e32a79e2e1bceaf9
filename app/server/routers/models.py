"""``/models`` and ``/jobs``: which reader answers, the promoted ones with their scores, an improve run in
the background, and rolling back.

Mounted with the other protected routers, so each route exists as ``/models`` (the service's collection)
and ``/collections/{name}/models``; :func:`docqa.app.server.authorize.authorize` has resolved the key and
the collection before these run. Reading needs a read key; ``POST /models/improve`` and
``POST /models/use`` need an admin key on the collection (training takes minutes of the machine, and a
rollback changes every user's answers). A job belongs to its collection: another collection's job id is a
404, as an unknown one is.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from docqa.app.server.deps import Context
from docqa.app.server.schemas import CROSS_SITE_REFUSED, ErrorOut
from docqa.pipelines.api import DEFAULT_MARGIN, DEFAULT_TOLERANCE, GateSettings, ImproveSettings, Role

router = APIRouter(tags=["models"])
JobId = Annotated[str, PathParam(min_length=1, max_length=64, pattern="^[A-Za-z0-9]+$")]
ADMIN_ONLY = {403: {"model": ErrorOut, "description": "Needs an admin key on this collection."}}


class ImproveIn(BaseModel):
    dry_run: bool = Field(False, description="Train and judge, never promote.")
    margin: float = Field(DEFAULT_MARGIN, ge=-100, le=100, description="F1 points held-out F1 must rise.")
    tolerance: float = Field(
        DEFAULT_TOLERANCE, ge=0, le=100, description="F1 points HasAns F1 and regression F1 may drop."
    )
    holdout: float = Field(0.3, gt=0, lt=1, description="Share of the feedback questions held out.")
    epochs: int = Field(2, ge=1, le=10)
    learning_rate: float = Field(3e-5, gt=0, le=1e-3)
    seed: int = Field(0, ge=0, le=2**31)


class UseIn(BaseModel):
    number: int = Field(
        ge=0, le=10**6, description="Model number from GET /models (0: the configured reader)."
    )


def require_collection_admin(request: Request) -> None:
    grant = getattr(request.state, "grant", None)
    if grant is None or grant.role is not Role.ADMIN:
        raise HTTPException(status_code=403, detail="Needs an admin key on this collection.")


@router.get("/models", summary="The readers this collection promoted, their scores, and which one answers.")
def get_models(ctx: Context):
    return {**ctx.docqa.models(), "jobs": ctx.docqa.improve_jobs().recent(5)}


@router.post(
    "/models/improve",
    status_code=202,
    responses={**CROSS_SITE_REFUSED, **ADMIN_ONLY},
    summary="Start an improve run (admin): train on the feedback, promote only through the gate.",
)
def post_improve(body: ImproveIn, ctx: Context, request: Request):
    require_collection_admin(request)
    settings = ImproveSettings(
        holdout=body.holdout,
        seed=body.seed,
        epochs=body.epochs,
        learning_rate=body.learning_rate,
        dry_run=body.dry_run,
        gate=GateSettings(
            margin=body.margin, has_ans_tolerance=body.tolerance, regression_tolerance=body.tolerance
        ),
    )
    settings.validate()
    job = ctx.docqa.start_improve(settings)
    return {"job": job["id"], "status_url": f"jobs/{job['id']}", **job}


@router.get(
    "/jobs/{job_id}",
    summary="An improve run's progress, and its decision when done.",
    responses={404: {"model": ErrorOut}},
)
def get_job(job_id: JobId, ctx: Context):
    return ctx.docqa.improve_jobs().get(job_id)


@router.post(
    "/models/use",
    responses={**CROSS_SITE_REFUSED, **ADMIN_ONLY},
    summary="Answer with promoted model N from the next question on (admin; 0: the configured reader).",
)
def post_use(body: UseIn, ctx: Context, request: Request):
    require_collection_admin(request)
    ctx.docqa.use_model(body.number)
    return {"active": body.number, "active_name": ctx.docqa.answering_model()[1]}
