"""Liveness (the process answers) and readiness (model loaded, database reachable; the working-day
calendar's coverage is reported alongside but never makes the service unready).

Readiness forgives a short database outage (``ready_database_grace_seconds``): every pod probes the
same database, so a 10 s blip used to take every pod out of the Service at once, and the callers got
connection errors instead of the service's own 503 E522 with Retry-After. Within the grace the pod
stays ready and says ``"database": "unreachable"``; after it, 503 E520."""
from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request

from serving import calendar_watch

from serving.db import engine as db
from serving.http.errors import NotReady
from serving.http.contract import error_responses
from serving.ops.schemas import Health, Readiness

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
    reachable = bool(done and probe.result())
    now = time.monotonic()
    if reachable:
        services.database_unreachable_since = None
    else:
        if services.database_unreachable_since is None:
            services.database_unreachable_since = now
        down = now - services.database_unreachable_since
        grace = services.settings.ready_database_grace_seconds
        if down >= grace:
            raise NotReady(f"database unreachable for {down:.0f} s (readiness grace {grace:g} s)",
                           details={"model": True, "database": False})
    # A year without holiday data is reported, never unready (serving/calendar_watch.py).
    calendar = calendar_watch.readiness(services.matrix, services.settings.calendar_window_days)
    return {"status": "ready", "model_version": services.model_version, "database": "ok" if reachable else "unreachable", "calendar": calendar}
