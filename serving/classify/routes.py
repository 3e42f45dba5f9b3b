"""POST /v1/classify.

No ``from __future__ import annotations`` here: the body model is created per app from the
configured limits, and FastAPI must see it as a real annotation, not a string to resolve.
"""
from typing import Annotated, Optional

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse

from serving.http import idempotency

from serving.classify import pipeline
from serving.deps import ClassifyCaller, ServicesDep
from serving.http.contract import error_responses
from serving.classify.schemas import ClassifyResponse, classify_request_model
from serving.settings import Settings


def build_router(settings: Settings) -> APIRouter:
    body_model = classify_request_model(
        settings.max_text_chars, settings.max_batch_items, settings.max_id_chars,
        settings.max_metadata_keys, settings.max_metadata_value_chars,
    )
    router = APIRouter(prefix="/v1", tags=["classify"])

    @router.post(
        "/classify",
        response_model=ClassifyResponse,
        summary="Classify feedback items",
        description=(
            "Category, sentiment and urgency with calibrated confidences, the priority-matrix cell with "
            "deadlines, the routing queue and the review flag, for 1..N items, in request order. "
            "Role: ingest or admin. Concurrent requests are micro-batched through the model."
        ),
        responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503, 504),
    )
    async def classify(
        body: Annotated[body_model, Body()],  # type: ignore[valid-type]
        request: Request,
        services: ServicesDep,
        caller: ClassifyCaller,
        idempotency_key: Annotated[Optional[str], Header(
            alias=idempotency.HEADER, description="Optional, 1-128 printable ASCII characters: a retry with the same "
            "key and body within the window returns the stored response and stores nothing new (409 E524 if the "
            "body differs)")] = None,
    ) -> JSONResponse:
        request.state.items = len(body.items)
        key = idempotency.parse_key(idempotency_key)
        idempotent = (key, idempotency.body_digest(body.model_dump(mode="json"))) if key else None
        payload = await pipeline.classify(services, body.items, request.state.request_id, caller.key_id, idempotent)
        # Built as plain dicts and sent as is: re-validating every result against the response
        # model would cost event-loop time per item (the contract is covered by tests).
        replayed = payload.pop("_replayed", False)
        return JSONResponse(payload, headers={"Idempotent-Replayed": "true"} if replayed else None)

    return router
