"""GET /metrics in the Prometheus text format.

Without a key only from the addresses in TRIAGE_METRICS_ALLOW_FROM (default ``loopback``: a
scraper or sidecar on the same host); from anywhere else any valid key is required (metrics
show volumes, labels and versions: not for the internet). With TRIAGE_METRICS_REQUIRE_AUTH=true
a key is always required, and only then does the OpenAPI document a security requirement.
"""
from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from serving.deps import ServicesDep, api_key_scheme, bearer_scheme, require
from serving.http.contract import error_responses
from serving.settings import Settings


def allowed_address(host: str | None, allow_from: str) -> bool:
    """True when ``host`` is one of ``allow_from``'s comma-separated addresses or networks
    (CIDR), or ``loopback`` and a loopback address."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in (e.strip() for e in allow_from.split(",")):
        if not entry:
            continue
        if entry == "loopback":
            if address.is_loopback:
                return True
            continue
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _gate(settings: Settings):
    keyed = require("metrics")

    async def gate(
        request: Request, services: ServicesDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        header_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> None:
        if allowed_address(request.client.host if request.client else None, settings.metrics_allow_from):
            return
        await keyed(request, services, bearer, header_key)

    return gate


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["metrics"])
    secured = settings.metrics_require_auth
    responses = {200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}}
    responses.update(error_responses(401, 403, 429))

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses=responses,
        dependencies=[Depends(require("metrics"))] if secured else [Depends(_gate(settings))],
    )
    async def metrics(services: ServicesDep) -> Response:
        # Rendering reads the review-queue depth from the database: keep it off the event loop.
        body = await run_in_threadpool(services.metrics.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
