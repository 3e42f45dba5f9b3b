"""HTML pages for people: GET /review (the review queue) and GET /matrix (the priority heatmap).

The pages hold no data and need no key to load; their scripts ask for a key and call the JSON/HTML
API with it, so a page can do exactly what its key's role may (serving/views.py).
"""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from serving.views import render_matrix_page, render_review_page

router = APIRouter(tags=["pages"])


@router.get(
    "/review", response_class=HTMLResponse, summary="Review-queue page (HTML)",
    description="A page for supervisors: enter a supervisor or admin key, then confirm or correct each queued "
                "item's labels. It calls GET /v1/review and POST /v1/review/{id}.",
)
async def review_page() -> HTMLResponse:
    return HTMLResponse(render_review_page())


@router.get(
    "/matrix", response_class=HTMLResponse, summary="Priority-matrix page (HTML)",
    description="A page for people: enter a supervisor or admin key and filters; it shows GET /v1/matrix.html.",
)
async def matrix_page() -> HTMLResponse:
    return HTMLResponse(render_matrix_page())
