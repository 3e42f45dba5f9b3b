"""The published shapes of POST /v1/classify: the request body (built per app from the configured
limits, so the schema states what the server enforces) and the response."""
from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
)

from classifier.labels import CATEGORY
from serving.http.schemas import CategoryResult, ID_PATTERN, METADATA_INT_LIMIT, PriorityResult, SentimentResult, TEXT_PATTERN, UrgencyResult, has_content, iso_only, metadata_value, plausible_time, unique_ids, valid_unicode


class ItemResult(BaseModel):
    id: str = Field(description="The caller's item id, as sent")
    stored_id: int = Field(description="The stored item's id: GET /v1/items/{stored_id} reads it with its decisions "
                                       "(the same number as `id` in the review queue)")
    category: CategoryResult
    category_secondary: Optional[Literal[CATEGORY]] = Field(  # type: ignore[valid-type]
        None, description="A second category clearly also present, if any"
    )
    sentiment: SentimentResult
    urgency: UrgencyResult
    priority: PriorityResult
    route: str = Field(description="Queue of the team that owns the feedback (configs/routing.yaml)")
    needs_review: bool = Field(description="True when a person should look at the item: see review_reasons")
    review_reasons: list[str] = Field(
        default_factory=list,
        description="Why the item goes to review (empty when it does not): `<head>_uncertain` when a head's "
        "confidence is under its threshold; `possible_high_urgency` / `possible_contract_legal` when the model "
        "did not predict that high-stakes class but its probability reaches the bundle's watch threshold",
    )
    deduplicated: bool = Field(False, description="True when this caller id was already stored within "
                               "TRIAGE_DEDUP_ITEM_ID_SECONDS (no Idempotency-Key sent): the stored item's result, "
                               "as first answered, and nothing stored again")


class ClassifyResponse(BaseModel):
    model_version: str
    results: list[ItemResult] = Field(description="One result per request item, in request order")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": "default-2026-11-23-abc123",
                    "results": [
                        {
                            "id": "ticket-1001",
                            "stored_id": 4711,
                            "category": {"label": "fees", "confidence": 0.91,
                                         "scores": {"product_service": 0.05, "fees": 0.91, "contract_legal": 0.03, "other": 0.01}},
                            "category_secondary": None,
                            "sentiment": {"label": "negative", "confidence": 0.95,
                                          "scores": {"negative": 0.95, "neutral": 0.04, "positive": 0.01}},
                            "urgency": {"label": "medium", "confidence": 0.72,
                                        "scores": {"high": 0.2, "medium": 0.72, "low": 0.08}},
                            "priority": {"quadrant": "important_not_urgent", "level": "P2", "urgent": False,
                                         "important": True, "respond_by": "2026-11-24T10:00:00+08:00",
                                         "resolve_by": "2026-12-07T23:59:59+08:00", "calendar_uncovered": False},
                            "route": "billing",
                            "needs_review": False,
                            "review_reasons": [],
                            "deduplicated": False,
                        }
                    ],
                }
            ]
        }
    )


@lru_cache(maxsize=16)
def classify_request_model(
    max_text_chars: int, max_batch_items: int, max_id_chars: int, max_metadata_keys: int, max_metadata_value_chars: int
) -> type[BaseModel]:
    """The POST /v1/classify body model for these limits (cached: one class per limit set)."""
    text_type = Annotated[
        str,
        Field(min_length=1, max_length=max_text_chars, json_schema_extra={"pattern": TEXT_PATTERN},
              description=f"The feedback, 1-{max_text_chars} characters, not only whitespace"),
        AfterValidator(valid_unicode),
        AfterValidator(has_content),
    ]
    id_type = Annotated[
        str, Field(min_length=1, max_length=max_id_chars, pattern=ID_PATTERN, description="Caller's id, echoed back"),
        AfterValidator(valid_unicode),
    ]
    key_type = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(valid_unicode)]
    # The published type; metadata_value validates it (strictly: a "000…" string stays a string).
    meta_value = Annotated[
        Union[
            Annotated[StrictStr, Field(max_length=max_metadata_value_chars)],
            StrictBool,
            Annotated[StrictInt, Field(ge=-METADATA_INT_LIMIT, le=METADATA_INT_LIMIT)],
            Annotated[StrictFloat, Field(allow_inf_nan=False, ge=-METADATA_INT_LIMIT, le=METADATA_INT_LIMIT)],
            None,
        ],
        metadata_value(max_metadata_value_chars),
    ]
    item = create_model(
        "ClassifyItem",
        __config__=ConfigDict(extra="forbid"),
        id=(id_type, ...),
        text=(text_type, ...),
        metadata=(
            Annotated[dict[key_type, meta_value], Field(max_length=max_metadata_keys)],  # type: ignore[valid-type]
            Field(
                default_factory=dict,
                description="Optional facts used by the priority and routing rules, e.g. customer_tier, channel, amount",
            ),
        ),
        received_at=(
            Annotated[Optional[AwareDatetime], BeforeValidator(lambda v: v if v is None else iso_only(v)),
                      AfterValidator(plausible_time)],
            Field(None, description="When the customer sent the feedback (with offset); default: now"),
        ),
    )
    return create_model(
        "ClassifyRequest",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={
                "examples": [
                    {
                        "items": [
                            {"id": "ticket-1001", "text": "信用卡年费没有提前告知就扣了，要求退还",
                             "metadata": {"channel": "app", "customer_tier": "standard"}},
                            {"id": "ticket-1002", "text": "手机银行转账一直失败，今天还款日怎么办"},
                        ]
                    }
                ]
            },
        ),
        items=(Annotated[list[item], AfterValidator(unique_ids)],  # type: ignore[valid-type]
               Field(min_length=1, max_length=max_batch_items, description=f"1-{max_batch_items} items, ids unique")),
    )
