"""GET /v1/matrix (JSON, or HTML with Accept: text/html), GET /v1/matrix.html and the page GET /matrix."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from serving.db import store
from serving.deps import MatrixCaller, ServicesDep
from serving.http.errors import InvalidRequest
from serving.http.contract import CategoryQ, ChannelQ, FromQ, ToQ, aware, error_responses
from serving.insights.schemas import MatrixResponse
from serving.services import Services
from serving.insights.matrix_page import render_matrix, render_matrix_page

router = APIRouter(prefix="/v1", tags=["matrix"])
page_router = APIRouter(tags=["pages"])


async def _payload(services: Services, start, end, channel, category) -> dict[str, Any]:  # noqa: ANN001
    start, end = aware(services.matrix.tz, start, "from"), aware(services.matrix.tz, end, "to")
    if start and end and start > end:
        raise InvalidRequest("'from' is after 'to'", details=[{"loc": ["query", "from"], "type": "range"}])
    query = store.MatrixQuery(start=start, end=end, channel=channel, category=category)
    counts, by_urgency = await run_in_threadpool(store.matrix_counts, services.sessions, query)
    return {
        "filters": {
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
            "channel": channel,
            "category": category,
        },
        **counts.to_dict(),
        "by_urgency": by_urgency,
        "quadrant_levels": dict(services.matrix.quadrant_levels),
    }


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get(
    "/matrix",
    response_model=MatrixResponse,
    summary="Priority matrix over stored results",
    description="Counts per urgent × important cell, per category and per urgency × importance, "
    "filtered by time range, channel and category. Role: supervisor or admin. "
    "Send `Accept: text/html` (or use /v1/matrix.html) for the heatmap page.",
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}},
               **error_responses(401, 403, 422, 429, 503)},
)
async def get_matrix(
    request: Request, services: ServicesDep, caller: MatrixCaller,
    start: FromQ = None, end: ToQ = None, channel: ChannelQ = None, category: CategoryQ = None,
):
    payload = await _payload(services, start, end, channel, category)
    if _wants_html(request):
        return HTMLResponse(render_matrix(payload))
    return JSONResponse(payload)


@router.get(
    "/matrix.html",
    response_class=HTMLResponse,
    summary="Priority matrix heatmap (HTML)",
    responses=error_responses(401, 403, 422, 429, 503, html_route=True),
)
async def get_matrix_html(
    services: ServicesDep, caller: MatrixCaller,
    start: FromQ = None, end: ToQ = None, channel: ChannelQ = None, category: CategoryQ = None,
) -> HTMLResponse:
    return HTMLResponse(render_matrix(await _payload(services, start, end, channel, category)))


@page_router.get(
    "/matrix", response_class=HTMLResponse, summary="Priority-matrix page (HTML)",
    description="A page for people: enter a supervisor or admin key and filters; it shows GET /v1/matrix.html.",
)
async def matrix_page() -> HTMLResponse:
    return HTMLResponse(render_matrix_page())
