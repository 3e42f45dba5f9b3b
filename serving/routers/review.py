"""The human-review queue: items whose confidence fell under a head's threshold.

GET lists them oldest first (masked text, predictions, priority); POST closes one's review with the
labels the supervisor confirmed or corrected, which takes it out of the queue (and out of the
triage_review_queue_depth gauge) and makes it a training example (`triage review export`). The
page for people is GET /review (serving/routers/pages.py).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from classifier.labels import LABELLED_FIELDS
from classifier.batch.tables import jsonl_line
from serving import store
from serving.deps import ReviewCaller, ServicesDep
from serving.errors import InvalidRequest, NotFound, UnknownLabel
from serving.routers.common import error_responses
from serving.schemas import IsoOnlyQuery, ReviewDecision, ReviewOutcome, ReviewQueue

router = APIRouter(prefix="/v1/review", tags=["review"])


def _item(row: Any, tz: Any) -> dict[str, Any]:
    def local(dt: Any) -> str:
        return store.from_storage(dt).astimezone(tz).isoformat(timespec="seconds")

    return {
        "id": row.id,
        "item_id": row.item_id,
        "request_id": row.request_id,
        "text": row.text_masked,
        "metadata": row.metadata_masked,
        "predictions": row.predictions,
        "model_version": row.model_version,
        "priority": {"quadrant": row.quadrant, "level": row.level,
                     "respond_by": local(row.respond_by), "resolve_by": local(row.resolve_by)},
        "route": row.route,
        "received_at": local(row.received_at),
    }


@router.get("", summary="Items awaiting human review", response_model=ReviewQueue,
            responses=error_responses(401, 403, 422, 429, 503))
async def list_review(
    services: ServicesDep, caller: ReviewCaller,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    rows = await run_in_threadpool(store.review_queue, services.sessions, limit, offset)
    depth = await run_in_threadpool(store.review_queue_depth, services.sessions)
    return JSONResponse({"total": depth, "items": [_item(r, services.matrix.tz) for r in rows]})


@router.get(
    "/export", summary="Reviewed items as labelled training rows (JSON Lines)",
    description=(
        "One JSON object per line in the labelled-data schema (id, text, category, category_secondary, sentiment, "
        "urgency, source): the stored, PII-masked text with the reviewer's final labels, oldest review first. "
        "Save it as a .jsonl file and list it under `extra_train_files` of a training config. The same as "
        "`triage review export`, for whoever has a key but no database access. Role: supervisor or admin."
    ),
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}, "example": (
        '{"id": "review-7", "text": "催收电话打到我单位", "category": "contract_legal", "category_secondary": null, '
        '"sentiment": "negative", "urgency": "high", "source": "review:default-2026-11-23-d3fdf701"}\n')}}},
               **error_responses(401, 403, 422, 429, 503)},
)
async def export_reviewed(
    services: ServicesDep, caller: ReviewCaller,
    since: Annotated[Optional[datetime], IsoOnlyQuery,
                     Query(description="Only items reviewed at or after this time (ISO 8601; no offset = UTC)")] = None,
) -> Response:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    try:
        rows, _ = await run_in_threadpool(store.reviewed_training_rows, services.sessions, since)
    except OverflowError:  # a year near 1 or 9999 cannot be shifted to UTC
        raise InvalidRequest("since is out of range", details=[{"loc": ["query", "since"], "type": "out_of_range"}]) from None
    body = "".join(jsonl_line(r, LABELLED_FIELDS) for r in rows)
    return Response(body.encode("utf-8"), media_type="application/x-ndjson",
                    headers={"Content-Disposition": 'attachment; filename="reviewed.jsonl"'})


@router.post(
    "/{item}", summary="Close a queued item's review: confirm or correct its labels",
    description=(
        "Labels given in the body replace the predicted ones; heads left out are confirmed as predicted "
        "(an empty or absent body confirms all). The item leaves the queue; its final labels are what "
        "`triage review export` writes as training data. Role: supervisor or admin."
    ),
    response_model=ReviewOutcome,
    responses=error_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
)
async def review_item(
    services: ServicesDep, caller: ReviewCaller,
    item: Annotated[int, Path(ge=1, le=2**31 - 1, description="The `id` from GET /v1/review")],
    decision: Annotated[Optional[ReviewDecision], Body()] = None,
) -> JSONResponse:
    decision = decision or ReviewDecision()
    try:
        outcome = await run_in_threadpool(
            store.record_review, services.sessions, item, decision.labels(), datetime.now(timezone.utc),
            caller.key_id, decision.note,
        )
    except ValueError as exc:  # the final secondary category equals the primary one
        raise UnknownLabel(str(exc), details=[{"loc": ["body", "category_secondary"], "type": "same_as_category"}]) from None
    if outcome is None:
        raise NotFound(f"no item {item} is waiting for review", details={"id": item})
    services.metrics.reviews.inc()
    for field in outcome["corrected"]:
        services.metrics.review_corrections.labels(field).inc()
    return JSONResponse({"id": item, "reviewed": True, **outcome})
