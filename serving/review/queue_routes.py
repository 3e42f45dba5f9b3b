"""The human-review queue: items the review policy sends to people.

GET lists them in working order — P1 first, then the first-response deadline, the least sure, the
oldest — under filters, with cursor paging; POST /v1/review/{id} closes a queued item's review
(the older, queue-only form of POST /v1/items/{id}/review, serving/review/item_routes.py): the
decided labels re-run priority and routing, the item leaves the queue (and the
triage_review_queue_depth gauge) and becomes a training example (`triage review export`, GET
/v1/review/export). The page for people is GET /review (serving/review/page_routes.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode
from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import StringConstraints
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from classifier.labels import HEADS, LABELS
from classifier.priority import LEVELS
from classifier.io.tables import jsonl_line
from serving.db import store
from serving.deps import ReviewCaller, ServicesDep
from serving.http import idempotency
from serving.http.errors import ClaimedByOther, InvalidRequest, ItemNotFound, NotFound, NotReviewable, StaleRevision
from serving.review import figures, store as items
from serving.db.derived import REASONS
from serving.review.schemas import BULK_MAX_ITEMS, BulkConfirm, BulkOutcome, Figures, Queue
from serving.http.contract import error_responses
from serving.review.item_routes import Once, count_decision, rules
from serving.http.contract import ChannelQ, FromQ, ToQ, aware, no_unknown_query
from serving.http.schemas import ID_PATTERN, IsoOnlyQuery
from serving.review.schemas import ReviewDecision, ReviewOutcome

ALL_LABELS = tuple(label for labels in LABELS.values() for label in labels)

router = APIRouter(prefix="/v1/review", tags=["review"])
ListRoute = [Depends(no_unknown_query)]  # the list routes refuse parameters they do not take


LevelQ = Annotated[Optional[list[Literal[LEVELS]]], Query(description="Priority level (repeat for several)")]  # type: ignore[valid-type]
HeadQ = Annotated[Optional[list[Literal[HEADS]]], Query(  # type: ignore[valid-type]
    description="Items sent to review over this head (its *_uncertain or possible_* reasons); repeat for several")]
LabelQ = Annotated[Optional[list[Literal[ALL_LABELS]]], Query(  # type: ignore[valid-type]
    description="Label in force, e.g. contract_legal or high; several of one head: any; of several heads: all")]
ReasonValue = Annotated[str, StringConstraints(pattern=f"^({'|'.join(REASONS)}|rule:[A-Za-z0-9_.-]{{1,64}})$")]
ReasonQ = Annotated[Optional[list[ReasonValue]], Query(
    description=f"Review reason (repeat for several): {', '.join(REASONS)}, or rule:<name> (a guideline rule signal)")]


@router.get(
    "", summary="The review queue: P1 first, then deadline, uncertainty and age; filters and cursor paging",
    description="Items waiting for review (`status=pending`, the default) in the order a supervisor should work "
                "them: priority level (P1 first), first-response deadline, lowest margin (least sure), oldest. "
                "`status=reviewed`, `not_queued` or `all` list other items (any item can be reviewed). Items "
                "another supervisor has claimed are left out of `pending` until the claim runs out (the other "
                "statuses list them, with their `claim`). Page with `next_cursor`. "
                "Role: supervisor or admin.",
    response_model=Queue, responses=error_responses(401, 403, 422, 429, 503), dependencies=ListRoute)
async def list_review(
    services: ServicesDep, caller: ReviewCaller,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[Optional[str], Query(max_length=512, description="`next_cursor` of the previous page")] = None,
    status: Annotated[Literal[items.STATUSES], Query()] = "pending",  # type: ignore[valid-type]
    level: LevelQ = None, head: HeadQ = None, label: LabelQ = None, reason: ReasonQ = None,
    channel: ChannelQ = None, start: FromQ = None, end: ToQ = None,
    model_version: Annotated[Optional[str], Query(max_length=128, pattern=ID_PATTERN)] = None,
    q: Annotated[Optional[str], Query(min_length=1, max_length=100, description=(
        "Search: items whose (masked) text contains this, literally (no wildcards; any case); "
        "masked parts (phone numbers, card numbers) cannot be found"))] = None,
    item_id: Annotated[Optional[str], Query(min_length=1, max_length=256, description=(
        "The caller's item id, as sent to /v1/classify (exact)"))] = None,
) -> JSONResponse:
    start, end = aware(services.matrix.tz, start, "from"), aware(services.matrix.tz, end, "to")
    if start and end and start > end:
        raise InvalidRequest("'from' is after 'to'", details=[{"loc": ["query", "from"], "type": "range"}])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    q = items.QueueQuery(
        now=now, viewer=caller.key_id, status=status, levels=tuple(level or ()), heads=tuple(head or ()),
        labels=tuple(label or ()), reasons=tuple(reason or ()), channel=channel,
        start=store.to_storage(start) if start else None, end=store.to_storage(end) if end else None,
        model_version=model_version, text=(q.strip() or None) if q else None, item_id=item_id)
    page, total, next_cursor = await run_in_threadpool(items.queue_page, services.sessions, q, limit, cursor,
                                                       services.matrix.tz)
    return JSONResponse({"total": total, "items": page, "next_cursor": next_cursor})


@router.get(
    "/export", summary="Reviewed items as labelled training rows (JSON Lines)",
    description=(
        "One JSON object per line in the labelled-data schema (id, text, category, category_secondary, sentiment, "
        "urgency, source), then where the decision came from (item_id: the caller's id, request_id, metadata, "
        "model_version, revision, reviewed_at): the stored, PII-masked text with the labels in force, one row per "
        "decided item (a revised item once, with its latest decision), oldest decision first. "
        "Save it as a .jsonl file and list it under `extra_train_files` of a training config (training reads the "
        "labelled columns; for an id in several exports the later row wins). The same as "
        "`triage review export`, for whoever has a key but no database access. Pages: `limit` rows at a time in "
        "a stable order (decision time, then id); the `Link` header (rel=\"next\") gives the next page while "
        "there are more, and `X-Next-Cursor` where to resume later (poll with `cursor=` to get only newer "
        "decisions; an item decided again comes again, with its latest decision). Role: supervisor or admin."
    ),
    response_class=Response, dependencies=ListRoute,
    responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}, "example": (
        '{"id": "review-7", "text": "催收电话打到我单位", "category": "contract_legal", "category_secondary": null, '
        '"sentiment": "negative", "urgency": "high", "source": "review:default-2026-11-23-d3fdf701", "item_id": "T-1001", '
        '"request_id": "3f2a9c", "metadata": {"channel": "app"}, "model_version": "default-2026-11-23-d3fdf701", '
        '"revision": 1, "reviewed_at": "2026-12-01T02:05:00+00:00"}\n')}}},
               **error_responses(401, 403, 422, 429, 503)},
)
async def export_reviewed(
    request: Request, services: ServicesDep, caller: ReviewCaller,
    since: Annotated[Optional[datetime], IsoOnlyQuery,
                     Query(description="Only items reviewed at or after this time (ISO 8601; no offset = UTC)")] = None,
    limit: Annotated[Optional[int], Query(ge=1, le=10_000, description=(
        "At most this many rows (default: all); the `Link: <…>; rel=\"next\"` header points at the next page "
        "while there are more"))] = None,
    cursor: Annotated[Optional[str], Query(max_length=512, description=(
        "Rows after this point: the `X-Next-Cursor` of an earlier answer (E544 for anything else)"))] = None,
) -> Response:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    try:
        rows, _, (next_cursor, more) = await run_in_threadpool(items.export_page, services.sessions, since, limit,
                                                               cursor)
    except OverflowError:  # a year near 1 or 9999 cannot be shifted to UTC
        raise InvalidRequest("since is out of range", details=[{"loc": ["query", "since"], "type": "out_of_range"}]) from None
    body = "".join(jsonl_line(r, items.EXPORT_FIELDS) for r in rows)
    headers = {"Content-Disposition": 'attachment; filename="reviewed.jsonl"', "X-Row-Count": str(len(rows))}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    if more:
        query = {k: v for k, v in request.query_params.items() if k != "cursor"}
        headers["Link"] = f'<{request.url.path}?{urlencode({**query, "cursor": next_cursor})}>; rel="next"'
    return Response(body.encode("utf-8"), media_type="application/x-ndjson", headers=headers)


FIGURES_MAX_DAYS = 92
DecidedFromQ = Annotated[Optional[datetime], IsoOnlyQuery, Query(
    alias="from", description="Decisions at or after (ISO 8601; no offset = Asia/Shanghai); default: 24 h before `to`")]
DecidedToQ = Annotated[Optional[datetime], IsoOnlyQuery, Query(
    alias="to", description="Decisions before (ISO 8601; no offset = Asia/Shanghai); default: now")]


@router.get(
    "/figures", summary="Reviewer figures: pace, overturn rate per head and label, time to decision vs deadline",
    description=(
        "Per reviewer (API key) and for the team, over the decisions made in [`from`, `to`) (default the last "
        f"24 h, at most {FIGURES_MAX_DAYS} days): `decisions` and `decisions_per_active_hour` (clock hours with "
        "a decision); `overturn` per head — the share of decisions whose label differs from the model's, also "
        "`by_label` of the model's label; `time_to_decision` of first decisions — minutes from receipt "
        "(p50, p90), the share decided by the first-response deadline in force, and the median minutes left "
        "(negative: late). Also in /metrics (triage_reviewer_*, last 24 h). Role: supervisor or admin."),
    response_model=Figures, responses=error_responses(401, 403, 422, 429, 503), dependencies=ListRoute)
async def reviewer_figures(services: ServicesDep, caller: ReviewCaller, start: DecidedFromQ = None,
                           end: DecidedToQ = None) -> JSONResponse:
    tz = services.matrix.tz
    end = aware(tz, end, "to") or datetime.now(timezone.utc)
    start = aware(tz, start, "from") or end - timedelta(hours=24)
    if start >= end or end - start > timedelta(days=FIGURES_MAX_DAYS):
        raise InvalidRequest(f"'from' must be before 'to', at most {FIGURES_MAX_DAYS} days apart",
                             details=[{"loc": ["query", "from"], "type": "range"}])
    result = await run_in_threadpool(figures.reviewer_figures, services.sessions, store.to_storage(start),
                                     store.to_storage(end))
    return JSONResponse({"from": start.astimezone(tz).isoformat(timespec="seconds"),
                         "to": end.astimezone(tz).isoformat(timespec="seconds"), **result})


@router.post(
    "/confirm", summary="Bulk confirm: the model's labels on several items, one decision each",
    description=(
        f"Each listed item (at most {BULK_MAX_ITEMS}, each with the `revision` you saw) is confirmed exactly as "
        "POST /v1/items/{id}/review with no labels would confirm it: one history entry each, priority and route "
        "re-run, the item leaves the queue. Items are decided one after another, each in its own transaction, so "
        "one that fails does not hold back the others: the answer is 200 with a result per item, in the order "
        "sent — `ok` and the decided item, or the error that single decision would have had (E540 no such "
        "item, E541 not reviewable, E542 changed since you loaded it, E543 open with another supervisor). "
        "With an `Idempotency-Key` (one for the whole request), a retry after a lost answer gets the stored "
        "answer (`Idempotent-Replayed: true`) instead of E542 for the items that went through; a retry of a "
        "request cut off half-way skips the items already confirmed (each remembered in its own decision's "
        "transaction) and answers them as confirmed. Role: supervisor or admin."),
    response_model=BulkOutcome, responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
)
async def bulk_confirm(services: ServicesDep, caller: ReviewCaller, body: Annotated[BulkConfirm, Body()],
                       idempotency_key: Annotated[Optional[str], Header(
                           alias=idempotency.HEADER, description="Optional, 1-128 printable ASCII characters, one "
                           "for the whole request: a retry with the same key and body within "
                           "TRIAGE_IDEMPOTENCY_WINDOW_SECONDS answers the stored per-item results "
                           "(`Idempotent-Replayed: true`); the same key with another body is 409 E524")] = None,
                       ) -> JSONResponse:
    once = Once.of(services, caller.key_id, idempotency_key, "/v1/review/confirm", body.model_dump(mode="json"))
    if once and (replayed := await once.replayed()):
        return replayed
    if once:
        await once.begin()
    results = []
    for entry in body.items:
        part = once.part(str(entry.id)) if once else None
        if part and (done := await part.stored()) is not None:  # confirmed by an attempt cut off half-way
            results.append({"id": entry.id, "ok": True, "item": done})
            continue
        try:
            outcome = await run_in_threadpool(
                lambda: items.decide(services.sessions, entry.id, {}, rules=rules(services),
                                     at=datetime.now(timezone.utc), by=caller.key_id, note=body.note,
                                     expected_revision=entry.revision, tz=services.matrix.tz,
                                     remember=part.remember if part else None))
        except (ItemNotFound, NotReviewable, StaleRevision, ClaimedByOther, IntegrityError) as exc:
            if part and (done := await part.stored()) is not None:  # a concurrent attempt confirmed it first
                results.append({"id": entry.id, "ok": True, "item": done})
                continue
            if isinstance(exc, IntegrityError):
                raise
            results.append({"id": entry.id, "ok": False, "error": {"code": exc.code, "message": exc.message}})
            continue
        count_decision(services, outcome)
        results.append({"id": entry.id, "ok": True, "item": outcome})
    confirmed = sum(r["ok"] for r in results)
    answer = {"confirmed": confirmed, "failed": len(results) - confirmed, "results": results}
    if once:
        try:
            await run_in_threadpool(once.save, answer)
        except IntegrityError:  # a concurrent attempt answered first: one answer for the key
            if replayed := await once.replayed():
                return replayed
            raise
    return JSONResponse(answer)


@router.post(
    "/{item}", summary="Close a queued item's review: confirm or correct its labels",
    description=(
        "Labels given in the body replace the predicted ones; heads left out are confirmed as predicted "
        "(an empty or absent body confirms all). Priority and route are re-run on the decided labels; the item "
        "leaves the queue; its final labels are what `triage review export` writes as training data. "
        "POST /v1/items/{id}/review decides any item and refuses stale decisions. With an `Idempotency-Key`, "
        "a retry after a lost answer gets the stored answer (`Idempotent-Replayed: true`) instead of 404 E517 "
        "(the item has left the queue). Role: supervisor or admin."
    ),
    response_model=ReviewOutcome,
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
)
async def review_item(
    services: ServicesDep, caller: ReviewCaller,
    item: Annotated[int, Path(ge=1, le=2**31 - 1, description="The `id` from GET /v1/review")],
    decision: Annotated[Optional[ReviewDecision], Body()] = None,
    idempotency_key: Annotated[Optional[str], Header(
        alias=idempotency.HEADER, description="Optional, 1-128 printable ASCII characters: a retry with the same key "
        "and body within TRIAGE_IDEMPOTENCY_WINDOW_SECONDS answers the stored result of the committed decision "
        "(`Idempotent-Replayed: true`) instead of 404 E517; the same key with another body or item is 409 E524")] = None,
) -> JSONResponse:
    decision = decision or ReviewDecision()
    once = Once.of(services, caller.key_id, idempotency_key, f"/v1/review/{item}", decision.model_dump(mode="json"))
    if once and (replayed := await once.replayed()):
        return replayed

    def answer(outcome: dict) -> dict:
        return {"id": item, "reviewed": True, "labels": outcome["labels"], "corrected": outcome["corrected"],
                "priority": outcome["priority"], "route": outcome["route"], "revision": outcome["revision"]}

    try:
        outcome = await run_in_threadpool(
            lambda: items.decide(services.sessions, item, decision.labels(), rules=rules(services),
                                 at=datetime.now(timezone.utc), by=caller.key_id, note=decision.note,
                                 expected_revision=None, tz=services.matrix.tz, queued_only=True,
                                 remember=(lambda session, o: once.remember(session, answer(o))) if once else None))
    except (NotFound, IntegrityError):  # a concurrent attempt with the same key committed first
        if once and (replayed := await once.replayed()):
            return replayed
        raise
    count_decision(services, outcome)
    return JSONResponse(answer(outcome))
