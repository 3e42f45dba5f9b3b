"""GET /review: the review-queue page for supervisors (the data comes from /v1/review)."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from serving.views import render_review_page

router = APIRouter(tags=["review"])


@router.get(
    "/review", response_class=HTMLResponse, summary="Review-queue page (HTML)",
    description="A page for supervisors: enter a supervisor or admin key, then confirm or correct each queued "
                "item's labels. The page itself holds no data; it calls GET /v1/review and POST /v1/review/{id}.",
)
async def review_page() -> HTMLResponse:
    return HTMLResponse(render_review_page())
