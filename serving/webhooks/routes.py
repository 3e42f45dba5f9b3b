"""/v1/admin/webhooks: subscriptions to the service's events (role admin); docs/integrators.md "Webhooks".

Create returns the signing secret once (as `triage keys create` does for keys); list and read show its
first characters only. Rotate-secret returns a new one the same way; the previous one keeps signing beside it
for the overlap asked for (a day by default), so the receiver can be switched without refusing a delivery. Delete stops deliveries (pending ones are cancelled; the log stays readable).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from serving.db.outbox import EVENT_TYPES
from serving.deps import AdminCaller, ServicesDep
from serving.http.contract import error_responses, no_unknown_query
from serving.webhooks import store

router = APIRouter(prefix="/v1/admin/webhooks", tags=["webhooks"])

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
SubId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The subscription's `id`")]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL the service POSTs events to; it must be "
                     "reachable from where the service runs")
    events: list[EventType] = Field(default_factory=lambda: list(EVENT_TYPES), min_length=1, max_length=len(EVENT_TYPES),
                                    description="Event types to send (default: all)")
    description: Optional[str] = Field(None, max_length=256, description="Free text, e.g. the receiving system")


class DeliveryCounts(BaseModel):
    pending: int
    delivered: int
    failed: int
    cancelled: int


class Subscription(BaseModel):
    id: int
    url: str
    events: list[str]
    description: Optional[str]
    secret_prefix: str = Field(description="The secret's first characters, to tell secrets apart")
    created_at: str
    deleted_at: Optional[str]
    previous_secret_until: Optional[str] = Field(
        None, description="After a rotation: until when the previous secret also signs each delivery (a second v1)")
    deliveries: Optional[DeliveryCounts] = None


class CreatedSubscription(Subscription):
    secret: str = Field(description="Signing secret (HMAC-SHA256 key of Triage-Signature): shown only in this answer")


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int = Field(
        86400, ge=0, le=int(store.MAX_SECRET_OVERLAP.total_seconds()),
        description="How long the previous secret keeps signing each delivery beside the new one (a second v1 in "
                    "Triage-Signature), so the receiver can be switched without refusing any; 0: it stops at once "
                    "(a leaked secret). At most 7 days.")


class SubscriptionList(BaseModel):
    webhooks: list[Subscription]


class Attempt(BaseModel):
    attempt: int
    at: str
    status_code: Optional[int]
    error: Optional[str]
    duration_ms: float


class Delivery(BaseModel):
    id: int
    subscription_id: int
    event_id: str
    type: str
    event_created_at: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    next_attempt_at: Optional[str]
    finished_at: Optional[str]
    log: list[Attempt]


class DeliveryList(BaseModel):
    deliveries: list[Delivery]


@router.post("", summary="Subscribe a URL to events", status_code=201, response_model=CreatedSubscription,
             responses=error_responses(400, 401, 403, 415, 422, 429))
async def create(services: ServicesDep, caller: AdminCaller, body: SubscriptionCreate) -> JSONResponse:
    view, secret = await run_in_threadpool(store.create, services.sessions, body.url, body.events, body.description)
    return JSONResponse({**view, "secret": secret}, status_code=201)


@router.get("", summary="Webhook subscriptions", response_model=SubscriptionList,
            responses=error_responses(401, 403, 422, 429), dependencies=[Depends(no_unknown_query)])
async def list_subscriptions(services: ServicesDep, caller: AdminCaller) -> JSONResponse:
    return JSONResponse({"webhooks": await run_in_threadpool(store.list_all, services.sessions)})


@router.get("/{sub_id}", summary="One webhook subscription", response_model=Subscription,
            responses=error_responses(401, 403, 404, 422, 429), dependencies=[Depends(no_unknown_query)])
async def get_subscription(services: ServicesDep, caller: AdminCaller, sub_id: SubId) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(store.get, services.sessions, sub_id))


@router.delete("/{sub_id}", summary="Delete a webhook subscription", status_code=204,
               responses=error_responses(401, 403, 404, 422, 429))
async def delete_subscription(services: ServicesDep, caller: AdminCaller, sub_id: SubId) -> Response:
    await run_in_threadpool(store.delete, services.sessions, sub_id)
    return Response(status_code=204)


@router.post("/{sub_id}/rotate-secret", summary="Give a subscription a new signing secret",
             response_model=CreatedSubscription, responses=error_responses(400, 401, 403, 404, 415, 422, 429))
async def rotate_secret(services: ServicesDep, caller: AdminCaller, sub_id: SubId,
                        body: Annotated[Optional[SecretRotation], Body()] = None) -> JSONResponse:
    overlap = timedelta(seconds=(body or SecretRotation()).overlap_seconds)
    view, secret = await run_in_threadpool(store.rotate_secret, services.sessions, sub_id, overlap)
    return JSONResponse({**view, "secret": secret})


@router.get("/{sub_id}/deliveries", summary="Delivery log of a subscription, newest event first",
            response_model=DeliveryList, responses=error_responses(401, 403, 404, 422, 429),
            dependencies=[Depends(no_unknown_query)])
async def list_deliveries(
    services: ServicesDep, caller: AdminCaller, sub_id: SubId,
    status: Annotated[Optional[Literal["pending", "delivered", "failed", "cancelled"]], Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    rows = await run_in_threadpool(store.deliveries, services.sessions, sub_id, status=status, limit=limit)
    return JSONResponse({"deliveries": rows})
