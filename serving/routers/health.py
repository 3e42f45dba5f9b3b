"""Liveness (the process answers) and readiness (model loaded, database reachable)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from serving import db
from serving.errors import NotReady
from serving.routers.common import error_responses
from serving.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, summary="Readiness", responses=error_responses(503))
async def readyz(request: Request) -> dict:
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise NotReady("model not loaded", details={"model": False, "database": None})
    if not await run_in_threadpool(db.ping, services.engine):
        raise NotReady("database unreachable", details={"model": True, "database": False})
    return {"status": "ready", "model_version": services.model_version, "database": "ok"}
