"""Liveness (the process answers) and readiness (model loaded, database reachable; the working-day
calendar's coverage is reported alongside but never makes the service unready)."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from serving import calendar_watch, db
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
    # In a thread of its own and bounded: a frozen database must not hold the probe (nor a
    # worker of the shared pool) past the database timeout.
    probe = asyncio.get_running_loop().run_in_executor(None, db.ping, services.engine)
    done, _ = await asyncio.wait({probe}, timeout=services.settings.db_timeout_seconds)
    if not done or not probe.result():
        raise NotReady("database unreachable", details={"model": True, "database": False})
    # A year without holiday data is reported, never unready (serving/calendar_watch.py).
    calendar = calendar_watch.readiness(services.matrix, services.settings.calendar_window_days)
    return {"status": "ready", "model_version": services.model_version, "database": "ok", "calendar": calendar}
