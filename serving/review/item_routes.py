"""/v1/items/{id}: any stored item, for supervisors — read it with its history, claim it while
working on it, decide (or revise a decision), undo, and ask why the model decided.

The `{id}` is the `id` of the queue's entries (GET /v1/review). E540: no such item; E541: not
reviewable (nothing to undo, labels of another build); E542: changed since you loaded it (the body
carries the current item); E543: open with another supervisor.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Body, Depends, Header, Path, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from classifier.labels import HEADS
from serving.deps import ReviewCaller, ServicesDep
from serving.http import idempotency
from serving.http.errors import RevisionRequired, StaleRevision
from serving.review import store as items
from serving.review.explain import Explainer
from serving.review.schemas import (ClaimRequest, DecisionOutcome, Explanation, History, ItemDecision, ItemList, ItemWithHistory,
                                   UndoRequest)
from serving.http.contract import error_responses, no_unknown_query
from serving.services import Services
from serving.settings import Settings

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The stored item's `id` (as in GET /v1/review)")]


def rules(services: Services) -> items.Rules:
    return items.Rules(services.matrix, services.router)


def count_decision(services: Services, outcome: dict) -> None:
    """Metrics count what a decision changed and the labels and level now in force."""
    metrics = services.metrics
    metrics.reviews.inc()
    for field in outcome["changed"]:
        metrics.review_corrections.labels(field).inc()
    for head in HEADS:
        metrics.reviewed_labels.labels(head, outcome["labels"][head]).inc()
    metrics.reviewed_levels.labels(outcome["priority"]["level"]).inc()


def _require_revision(revision: int | None) -> int:
    if revision is None:
        raise RevisionRequired("send the item's `revision` you decided on (from GET /v1/items/{id} or the queue): "
                               "without it a change made meanwhile by someone else would be overwritten",
                               details=[{"loc": ["body", "revision"], "type": "missing"}])
    return revision


IdempotencyKeyHeader = Annotated[Optional[str], Header(
    alias=idempotency.HEADER, description="Optional, 1-128 printable ASCII characters: a retry with the same key and "
    "body within TRIAGE_IDEMPOTENCY_WINDOW_SECONDS answers the stored result of the committed change "
    "(`Idempotent-Replayed: true`) instead of 409 E542; the same key with another body or item is 409 E524")]


@dataclass(frozen=True)
class Once:
    """An ``Idempotency-Key`` on a decision or undo (serving/http/idempotency.py, as on classify): the
    answer is stored in the decision's transaction, so a retry after a lost answer gets it back
    instead of E542 for its own committed change. The digest covers the route and item as well as
    the body, so one key cannot stand for two different changes."""

    services: Services
    key_id: int
    key: str
    digest: str

    @classmethod
    def of(cls, services: Services, key_id: int | None, header: str | None, path: str, body: Any) -> "Once | None":
        key = idempotency.parse_key(header)
        if key is None or key_id is None:
            return None
        return cls(services, key_id, key, idempotency.body_digest({"path": path, "body": body}))

    def window(self) -> timedelta:
        return timedelta(seconds=self.services.settings.idempotency_window_seconds)

    def part(self, name: str) -> "Once":
        """A record of its own for one part of the request (an item of a bulk confirm), stored in that
        part's own decision transaction, so a retry of a request cut off half-way skips the parts
        already committed. The derived key holds a space, which no client key can (parse_key), so it
        never meets one; the digest carries the whole request's."""
        key = f"{hashlib.sha256(self.key.encode()).hexdigest()} {name}"
        return Once(self.services, self.key_id, key, idempotency.body_digest({"request": self.digest, "part": name}))

    async def begin(self) -> None:
        """Mark the request as started under its key, in a transaction of its own, before any part
        commits (a bulk confirm). A retry of an attempt cut off half-way is then checked against the
        first attempt's body (409 E524 before anything changes), even when the two share no item: the
        parts' own records only meet a retry that names the same items. Two concurrent first attempts
        of one body both go on (the parts decide once)."""
        marker = self.part("*")  # item ids are numbers: "*" never names one
        if await marker.stored() is not None:  # E524 when it was another body
            return
        try:
            await run_in_threadpool(marker.save, {})
        except IntegrityError:  # a concurrent attempt marked it first: compare with its body
            await marker.stored()

    async def stored(self) -> dict[str, Any] | None:
        """The stored answer of this key within the window; 409 E524 when it was for another body."""
        since = datetime.now(timezone.utc).replace(tzinfo=None) - self.window()
        record = await run_in_threadpool(idempotency.find, self.services.sessions, self.key_id, self.key, since)
        return None if record is None else idempotency.replay(record, self.digest)

    async def replayed(self) -> JSONResponse | None:
        answer = await self.stored()
        return None if answer is None else JSONResponse(answer, headers={"Idempotent-Replayed": "true"})

    def remember(self, session: Any, answer: dict[str, Any]) -> None:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        idempotency.store(session.connection(), [idempotency.Entry(self.key_id, self.key, self.digest, answer, now,
                                                                    self.window())])

    def save(self, answer: dict[str, Any]) -> None:
        """Store ``answer`` in a transaction of its own (IntegrityError: a concurrent attempt stored first)."""
        with self.services.sessions.begin() as session:
            self.remember(session, answer)


def make_explainer(settings: Settings) -> Explainer:
    return Explainer(settings.explain_cache_items, settings.explain_max_segments, settings.explain_poll_seconds,
                     settings.explain_backlog_items, settings.explain_budget_chars, settings.explain_persist,
                     timedelta(days=settings.explain_stale_days))


def build_router(settings: Settings, explainer: Explainer | None = None) -> APIRouter:
    router = APIRouter(prefix="/v1/items", tags=["items"])
    explainer = explainer or make_explainer(settings)
    lease = timedelta(seconds=settings.claim_lease_seconds)

    @router.get("", summary="Stored items of a caller's item id, newest first (how a ticket system finds its ticket)",
                description="`item_id` is the id the caller sent to /v1/classify (kept as sent). A ticket classified "
                            "more than once has several stored items: the newest is first. Unknown query "
                            "parameters are 422 E513 naming them. Role: supervisor or admin.",
                response_model=ItemList, responses=error_responses(401, 403, 422, 429, 503),
                dependencies=[Depends(no_unknown_query)])
    async def find_items(services: ServicesDep, caller: ReviewCaller,
                         item_id: Annotated[str, Query(min_length=1, max_length=256,
                                                       description="The caller's item id")],
                         limit: Annotated[int, Query(ge=1, le=100)] = 20) -> JSONResponse:
        found = await run_in_threadpool(items.find_items, services.sessions, item_id, limit, services.matrix.tz,
                                        datetime.now(timezone.utc).replace(tzinfo=None))
        return JSONResponse({"items": found})

    @router.get("/{item}", summary="A stored item: prediction, labels in force, priority, route, history",
                response_model=ItemWithHistory, responses=error_responses(401, 403, 404, 422, 429, 503))
    async def get_item(services: ServicesDep, caller: ReviewCaller, item: ItemId) -> JSONResponse:
        now = datetime.now(timezone.utc)
        return JSONResponse(await run_in_threadpool(items.get_item, services.sessions, item, services.matrix.tz,
                                                    now.replace(tzinfo=None)))

    @router.get("/{item}/history", summary="Every state of an item, oldest first (append-only)",
                response_model=History, responses=error_responses(401, 403, 404, 422, 429, 503))
    async def get_history(services: ServicesDep, caller: ReviewCaller, item: ItemId) -> JSONResponse:
        view = await run_in_threadpool(items.get_item, services.sessions, item, services.matrix.tz,
                                       datetime.now(timezone.utc).replace(tzinfo=None))
        return JSONResponse({"id": view["id"], "revision": view["revision"], "history": view["history"],
                             "takeovers": view["takeovers"]})

    @router.post(
        "/{item}/review", summary="Decide an item's labels (or revise a decision): priority and route are re-run",
        description="Labels given replace the ones in force, heads left out are confirmed; the priority matrix "
                    "and routing are re-run on the result with the item's metadata and received time, and the "
                    "previous state stays in the history. Send the `revision` you saw: if someone else decided "
                    "since, the answer is 409 E542 with the current item. Any item can be reviewed, queued or "
                    "not. Role: supervisor or admin.",
        response_model=DecisionOutcome, responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503))
    async def review(services: ServicesDep, caller: ReviewCaller, item: ItemId,
                     decision: Annotated[Optional[ItemDecision], Body()] = None,
                     idempotency_key: IdempotencyKeyHeader = None) -> JSONResponse:
        decision = decision or ItemDecision()
        _require_revision(decision.revision)
        once = Once.of(services, caller.key_id, idempotency_key, f"/v1/items/{item}/review", decision.model_dump(mode="json"))
        if once and (replayed := await once.replayed()):
            return replayed
        try:
            outcome = await run_in_threadpool(
                lambda: items.decide(services.sessions, item, decision.labels(), rules=rules(services),
                                     at=datetime.now(timezone.utc), by=caller.key_id, note=decision.note,
                                     expected_revision=decision.revision, tz=services.matrix.tz,
                                     remember=once.remember if once else None))
        except (StaleRevision, IntegrityError):  # a concurrent attempt with the same key committed first
            if once and (replayed := await once.replayed()):
                return replayed
            raise
        count_decision(services, outcome)
        return JSONResponse(outcome)

    @router.post(
        "/{item}/undo", summary="Take back the latest decision (a new revision restoring the state before it)",
        description="Undoing an item's only decision puts it back where the model left it (in the queue if it was "
                    "queued). Nothing is deleted: the undo is a revision of its own. E541 when there is nothing to undo.",
        response_model=ItemWithHistory, responses=error_responses(400, 401, 403, 404, 409, 415, 422, 429, 503))
    async def undo(services: ServicesDep, caller: ReviewCaller, item: ItemId,
                   body: Annotated[Optional[UndoRequest], Body()] = None,
                   idempotency_key: IdempotencyKeyHeader = None) -> JSONResponse:
        expected = _require_revision(body.revision if body else None)
        once = Once.of(services, caller.key_id, idempotency_key, f"/v1/items/{item}/undo", {"revision": expected})
        if once and (replayed := await once.replayed()):
            return replayed
        try:
            view = await run_in_threadpool(
                lambda: items.undo(services.sessions, item, at=datetime.now(timezone.utc), by=caller.key_id,
                                   expected_revision=expected, tz=services.matrix.tz, rules=rules(services),
                                   remember=once.remember if once else None))
        except (StaleRevision, IntegrityError):
            if once and (replayed := await once.replayed()):
                return replayed
            raise
        return JSONResponse(view)

    @router.post(
        "/{item}/claim", summary="Hold an item: other supervisors' queues skip it for the lease",
        description=f"Claims (or renews the caller's claim on) the item for TRIAGE_CLAIM_LEASE_SECONDS "
                    f"(now {settings.claim_lease_seconds:g} s) and returns it with its history. 409 E543 while "
                    "another supervisor's claim is live, unless the body says `take_over` with a `note`: the claim "
                    "then passes to the caller and the take-over is kept with the item (`takeovers`). A decision "
                    "or DELETE releases the claim, and so does revoking the holder's key. The review page claims "
                    "on the first action on an item, renews while it stays open and releases on leaving.",
        response_model=ItemWithHistory, responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503))
    async def claim(services: ServicesDep, caller: ReviewCaller, item: ItemId,
                    body: Annotated[Optional[ClaimRequest], Body()] = None) -> JSONResponse:
        take_over = body.note if body is not None and body.take_over else None
        return JSONResponse(await run_in_threadpool(
            lambda: items.claim(services.sessions, item, by=caller.key_id, lease=lease,
                                at=datetime.now(timezone.utc), tz=services.matrix.tz, take_over=take_over)))

    @router.delete("/{item}/claim", status_code=204, summary="Release the caller's claim on an item",
                   response_class=Response, responses=error_responses(401, 403, 404, 422, 429, 503))
    async def release(services: ServicesDep, caller: ReviewCaller, item: ItemId) -> Response:
        await run_in_threadpool(lambda: items.release(services.sessions, item, by=caller.key_id))
        return Response(status_code=204)

    @router.get(
        "/{item}/explanation", summary="Why the model decided, and why the item is watched: the words behind each",
        description="Occlusion over the content words of the stored (masked) text: each word is removed in turn "
                    "and the text re-scored by the served model; `delta` is how much the label's probability drops "
                    "without it. Stop words and punctuation are listed in `segments` (`filler`) but never occluded "
                    "or highlighted. `watched`: for an item queued because a class may hold (possible_high_urgency, "
                    "possible_contract_legal) or a guideline rule fired (rule:<name>), the same for that class, and "
                    "the words a rule matched. Computed in the background when an item is queued (else on the "
                    "first request) and cached per model version, text, labels and reasons. When a reviewer's "
                    "label differs from the model's, `reviewed` gives the same for it.",
        response_model=Explanation, responses=error_responses(401, 403, 404, 422, 429, 503))
    async def explanation(services: ServicesDep, caller: ReviewCaller, item: ItemId) -> JSONResponse:
        view = await run_in_threadpool(items.get_item, services.sessions, item, services.matrix.tz,
                                       datetime.now(timezone.utc).replace(tzinfo=None), False)
        return JSONResponse({"id": item, **await explainer.explain(services, view)})

    return router
