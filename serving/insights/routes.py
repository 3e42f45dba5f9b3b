"""GET /insights (page), GET /v1/insights (JSON) and GET /v1/insights.html: what stored results
say — distributions, category × sentiment, the matrix, review share, trend, top terms, quotes,
channels — under time range, channel and category filters (serving/insights/service.py)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from serving.deps import MatrixCaller, ServicesDep
from serving.http.errors import InvalidRequest
from serving.insights.service import InsightsQuery, insights, render_insights, render_insights_page
from serving.http.contract import CategoryQ, ChannelQ, FromQ, ToQ, aware, error_responses
from serving.services import Services

router = APIRouter(tags=["insights"])


async def _payload(services: Services, start, end, channel, category) -> dict[str, Any]:  # noqa: ANN001
    start, end = aware(services.matrix.tz, start, "from"), aware(services.matrix.tz, end, "to")
    if start and end and start > end:
        raise InvalidRequest("'from' is after 'to'", details=[{"loc": ["query", "from"], "type": "range"}])
    summary = await run_in_threadpool(insights, services.sessions, InsightsQuery(start, end, channel, category))
    summary["filters"] = {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
                          "channel": channel, "category": category}
    return summary


@router.get(
    "/v1/insights", summary="Insights over stored results (JSON)",
    description="Distributions per head, category × sentiment, the priority matrix, review share, trend by received "
                "time, top terms and masked quotes per category and matrix cell, and a comparison of channels, over "
                "the newest 20,000 stored results under the filters. Role: supervisor or admin.",
    responses=error_responses(401, 403, 422, 429, 503),
)
async def get_insights(services: ServicesDep, caller: MatrixCaller, start: FromQ = None, end: ToQ = None,
                       channel: ChannelQ = None, category: CategoryQ = None) -> JSONResponse:
    return JSONResponse(await _payload(services, start, end, channel, category))


@router.get(
    "/v1/insights.html", response_class=HTMLResponse, summary="Insights over stored results (HTML)",
    responses=error_responses(401, 403, 422, 429, 503, html_route=True),
)
async def get_insights_html(services: ServicesDep, caller: MatrixCaller, start: FromQ = None, end: ToQ = None,
                            channel: ChannelQ = None, category: CategoryQ = None) -> HTMLResponse:
    payload = await _payload(services, start, end, channel, category)
    return HTMLResponse(render_insights(payload, payload["filters"]))


@router.get(
    "/insights", response_class=HTMLResponse, summary="Insights page (HTML)",
    description="A page for people: enter a supervisor or admin key and filters; it shows GET /v1/insights.html.",
)
async def insights_page() -> HTMLResponse:
    return HTMLResponse(render_insights_page())
