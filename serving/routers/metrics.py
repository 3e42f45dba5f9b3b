"""GET /metrics in the Prometheus text format."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from serving.deps import ServicesDep, api_key_scheme, bearer_scheme, require
from serving.routers.common import error_responses

router = APIRouter(tags=["metrics"])
_check = require("metrics")


async def _maybe_auth(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(api_key_scheme)],
) -> None:
    # Open by default (scraped from inside the network); TRIAGE_METRICS_REQUIRE_AUTH=true closes it.
    if services.settings.metrics_require_auth:
        await _check(request, services, bearer, header_key)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
               **error_responses(401, 403, 429)},
    dependencies=[Depends(_maybe_auth)],
)
async def metrics(services: ServicesDep) -> Response:
    # Rendering reads the review-queue depth from the database: keep it off the event loop.
    body = await run_in_threadpool(services.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
