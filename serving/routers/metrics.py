"""GET /metrics in the Prometheus text format.

Open by default (scraped from inside the network); with TRIAGE_METRICS_REQUIRE_AUTH=true any
valid key is required, and only then does the OpenAPI document a security requirement.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from serving.deps import ServicesDep, require
from serving.routers.common import error_responses
from serving.settings import Settings


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["metrics"])
    secured = settings.metrics_require_auth
    responses = {200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}}
    if secured:
        responses.update(error_responses(401, 403, 429))

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses=responses,
        dependencies=[Depends(require("metrics"))] if secured else [],
    )
    async def metrics(services: ServicesDep) -> Response:
        # Rendering reads the review-queue depth from the database: keep it off the event loop.
        body = await run_in_threadpool(services.metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
