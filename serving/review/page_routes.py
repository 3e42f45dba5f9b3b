"""HTML pages for supervisors: GET /review (the workspace) and GET /guideline (the labelling guideline
the workspace links to).

The pages hold no data and need no key to load; their scripts ask for a key and call the JSON/HTML
API with it, so a page can do exactly what its key's role may (serving/insights/matrix_page.py,
serving/review/page.py).
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from serving.http.errors import NotFound
from serving.http.templates import render
from serving.review.page import render_review_page, route_names

router = APIRouter(tags=["pages"])


@router.get(
    "/review", response_class=HTMLResponse, summary="Review workspace (HTML)",
    description="A page for supervisors: enter a supervisor or admin key, filter and page the queue, open an item "
                "(highlights of the words behind each label), confirm or correct it from the keyboard, undo. It calls "
                "GET /v1/review and the /v1/items/{id} endpoints.",
)
async def review_page(request: Request) -> HTMLResponse:
    services = getattr(request.app.state, "services", None)
    names = route_names(services.router) if services is not None else ()
    channels = tuple(services.router.channels.items()) if services is not None else ()
    return HTMLResponse(render_review_page(names, channel_names=channels))


@router.get("/guideline", response_class=HTMLResponse, summary="The labelling guideline (HTML)",
            description="data/LABELING.md (TRIAGE_GUIDELINE_PATH) as text, for the review page's link.")
async def guideline(request: Request) -> HTMLResponse:
    services = getattr(request.app.state, "services", None)
    path = services.settings.guideline_path if services is not None else None
    try:
        text = path.read_text(encoding="utf-8") if path is not None else None
    except OSError:
        text = None
    if text is None:
        raise NotFound("the labelling guideline is not installed here (TRIAGE_GUIDELINE_PATH)")
    return HTMLResponse(render("guideline.html", text=text))
