"""POST /v1/admin/reload: swap the serving model without a restart (role admin).

Loads and verifies the bundle beside the serving one and swaps between batches
(serving/inference/slot.py); a bundle that cannot be used is refused with E560 and the cause's own code
(E101 missing file, E102 altered file, E104 other labels, …) while the old model keeps serving. A
``bundle_dir`` outside the model roots (TRIAGE_MODEL_ROOTS), missing, or without a manifest gets one
and the same E560 message, whichever it was. SIGHUP does the same for the configured bundle. Each replica (pod, worker process) holds its own
model: reload every one of them (a rolling restart does too).
"""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from serving.deps import AdminCaller, ServicesDep
from serving.http.contract import error_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle_dir: Optional[str] = Field(
        None, min_length=1, max_length=4096, pattern=r"^[^\x00]*$",
        description="Bundle directory on the server to serve from now on, under one of the model roots "
                    "(TRIAGE_MODEL_ROOTS); left out: the one in use, re-read (after its files were replaced)")


class ReloadResult(BaseModel):
    ok: bool
    bundle: str
    model_version: str
    previous_model_version: str
    seconds: float


@router.post(
    "/reload",
    summary="Reload the model bundle",
    response_model=ReloadResult,
    responses=error_responses(400, 401, 403, 409, 415, 422, 429),
)
async def reload_model(
    services: ServicesDep,
    caller: AdminCaller,
    body: Annotated[Optional[ReloadRequest], Body()] = None,
) -> JSONResponse:
    path = body.bundle_dir if body else None
    result = await run_in_threadpool(services.model.reload, path, "api")
    return JSONResponse(result)
