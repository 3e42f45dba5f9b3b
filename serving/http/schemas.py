"""Request and response models of the HTTP API (the OpenAPI contract).

Request models are built per app from the configured limits, so the published schema states
the limits the server enforces (maxLength, maxItems). Every constraint has a validator whose
error ``type`` maps to one specific error code (serving/http/validation.py).
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Annotated, Any, Literal, Optional, Union

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
    WrapValidator,
    create_model,
)
from pydantic_core import PydanticCustomError

from classifier.labels import CATEGORY, SENTIMENT, URGENCY
from classifier.priority import LEVELS, QUADRANTS
from classifier.text.visible import has_visible_text
from classifier.text.pii import mask_text

# A text must contain a character that is neither whitespace nor one of the control / zero-width
# characters that text normalization (classifier.text.normalize) deletes; otherwise nothing is left to
# classify. The same pattern is published in the schema, so clients and fuzzers agree with it.
TEXT_PATTERN = r"[^\s\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]"
_CONTENT = re.compile(TEXT_PATTERN)
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # ids are echoed in responses and logs: no control characters

EARLIEST_RECEIVED = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _valid_unicode(value: str) -> str:
    # JSON may carry "\ud800" escapes: such strings cannot be stored or encoded in a response.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_unicode", "string contains an unpaired surrogate (not valid Unicode)") from None
    return value


def _has_content(value: str) -> str:
    # The pattern is what the schema can say; has_visible_text also refuses texts of only
    # invisible / format characters (U+2060, U+3164, ...), see classifier/text/visible.py.
    if not _CONTENT.search(value) or not has_visible_text(value):
        raise PydanticCustomError("empty_text", "text is empty or only whitespace")
    return value


# Metadata numbers the rules can compare: integers beyond this (JSON allows any length) would
# overflow float() in the rules and lose precision in every JSON client (no amount is this large).
METADATA_INT_LIMIT = 10**15
METADATA_NUMBER_MESSAGE = "metadata numbers must be finite and lie within ±10^15"


def _metadata_value(max_chars: int) -> WrapValidator:
    """One check per metadata value, with one error per field naming it: validated as the union of
    scalar types it is published as, a wrong value got one error per member of the union, the first
    one quoting pydantic's internals ('function-after[...]: Input should be a valid string' for
    -1e400). The union stays the schema; this check replaces its validation."""
    def check(value: Any, handler: Any) -> Any:  # noqa: ARG001 - the union's own validation is not used
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            if len(value) > max_chars:
                raise PydanticCustomError("string_too_long", "metadata values may have at most {max_length} characters",
                                          {"max_length": max_chars})
            return _valid_unicode(value)
        if isinstance(value, (int, float)):  # JSON numbers; 1e400 and -Infinity arrive as ±inf
            if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > METADATA_INT_LIMIT:
                raise PydanticCustomError("number_out_of_range", METADATA_NUMBER_MESSAGE, {"limit": METADATA_INT_LIMIT})
            return value
        raise PydanticCustomError("metadata_value_type", "metadata values must be a string, a number, true, false or null")

    return WrapValidator(check)


def _unique_ids(items: list) -> list:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.id in seen:
            raise PydanticCustomError("duplicate_id", "item ids must be unique within a request (item {index})",
                                      {"index": index})
        seen.add(item.id)
    return items


# Characters PostgreSQL cannot store in text (NUL) and other C0 controls except tab and newlines.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def storable(value: str) -> str:
    """Free text without the control characters a database rejects (NUL) or a page cannot show."""
    return _UNSTORABLE.sub("", value)


_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def iso_only(value: Any) -> Any:
    """Accept only ISO 8601 strings: pydantic would also take numbers as Unix timestamps, which
    the schema (format date-time) does not promise and which are easy to send by mistake."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_START.match(value.strip()):
        raise PydanticCustomError("datetime_format", "must be an ISO 8601 date-time string, e.g. 2026-11-01T09:30:00+08:00")
    return value


# For optional date-time query parameters: ISO 8601 strings only (see iso_only), None passes.
IsoOnlyQuery = BeforeValidator(lambda v: v if v is None else iso_only(v))


def _plausible_time(value: datetime | None) -> datetime | None:
    if value is None:
        return value
    if value < EARLIEST_RECEIVED or value > datetime.now(timezone.utc) + timedelta(days=366):
        raise PydanticCustomError("time_out_of_range", "received_at must lie between 2000-01-01 and one year from now")
    return value


class HeadResult(BaseModel):
    label: str
    confidence: float = Field(ge=0, le=1, description="Calibrated probability of the label")
    scores: dict[str, float] = Field(description="Calibrated probability of every label of the head")


class CategoryResult(HeadResult):
    label: Literal[CATEGORY]  # type: ignore[valid-type]


class SentimentResult(HeadResult):
    label: Literal[SENTIMENT]  # type: ignore[valid-type]


class UrgencyResult(HeadResult):
    label: Literal[URGENCY]  # type: ignore[valid-type]


class PriorityResult(BaseModel):
    quadrant: Literal[QUADRANTS]  # type: ignore[valid-type]
    level: Literal[LEVELS]  # type: ignore[valid-type]
    urgent: bool
    important: bool
    respond_by: datetime = Field(description="First-response deadline, ISO 8601 with offset (Asia/Shanghai)")
    resolve_by: datetime = Field(description="Resolution deadline in Chinese working days, ISO 8601 with offset")
    calendar_uncovered: bool = Field(
        False, description="True when resolve_by counted days of a year the working-day calendar has no holiday "
        "schedule for (Monday-Friday assumed): the deadline is approximate until the year's schedule is entered "
        "(`triage calendar import`)")


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


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code, e.g. E210")
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": {"code": "E210", "message": "text is empty or only whitespace",
                                                   "details": [{"loc": ["body", "items", 0, "text"], "type": "empty_text"}]}}]}
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
        AfterValidator(_valid_unicode),
        AfterValidator(_has_content),
    ]
    id_type = Annotated[
        str, Field(min_length=1, max_length=max_id_chars, pattern=ID_PATTERN, description="Caller's id, echoed back"),
        AfterValidator(_valid_unicode),
    ]
    key_type = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_valid_unicode)]
    # The published type; _metadata_value validates it (strictly: a "000…" string stays a string).
    meta_value = Annotated[
        Union[
            Annotated[StrictStr, Field(max_length=max_metadata_value_chars)],
            StrictBool,
            Annotated[StrictInt, Field(ge=-METADATA_INT_LIMIT, le=METADATA_INT_LIMIT)],
            Annotated[StrictFloat, Field(allow_inf_nan=False, ge=-METADATA_INT_LIMIT, le=METADATA_INT_LIMIT)],
            None,
        ],
        _metadata_value(max_metadata_value_chars),
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
                      AfterValidator(_plausible_time)],
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
        items=(Annotated[list[item], AfterValidator(_unique_ids)],  # type: ignore[valid-type]
               Field(min_length=1, max_length=max_batch_items, description=f"1-{max_batch_items} items, ids unique")),
    )


# --- priority matrix ---------------------------------------------------------------------------


class MatrixFilters(BaseModel):
    from_: Optional[datetime] = Field(None, alias="from")
    to: Optional[datetime] = None
    channel: Optional[str] = None
    category: Optional[str] = None

    model_config = ConfigDict(populate_by_name=True)


class MatrixResponse(BaseModel):
    filters: MatrixFilters
    total: int
    cells: dict[str, int] = Field(description="Count per quadrant (urgent × important)")
    by_category: dict[str, dict[str, int]] = Field(description="Count per category and quadrant")
    by_urgency: dict[str, dict[str, int]] = Field(
        description="Count per model urgency label and importance (important / not_important)"
    )
    quadrant_levels: dict[str, str] = Field(description="Priority level of each quadrant")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "filters": {"from": "2026-11-01T00:00:00+08:00", "to": None, "channel": "app", "category": None},
                    "total": 3,
                    "cells": {"urgent_important": 1, "important_not_urgent": 1, "urgent_not_important": 0,
                              "not_urgent_not_important": 1},
                    "by_category": {"fees": {"urgent_important": 0, "important_not_urgent": 1, "urgent_not_important": 0,
                                             "not_urgent_not_important": 0}},
                    "by_urgency": {"high": {"important": 1, "not_important": 0}},
                    "quadrant_levels": {"urgent_important": "P1", "important_not_urgent": "P2",
                                        "urgent_not_important": "P3", "not_urgent_not_important": "P4"},
                }
            ]
        },
        populate_by_name=True,
    )


# --- review ------------------------------------------------------------------------------------

REVIEW_NOTE_MAX_CHARS = 2000
# A person's free text that is stored (decision and take-over notes): masked and cleaned when parsed.
StoredNote = Annotated[StrictStr, AfterValidator(_valid_unicode), AfterValidator(storable), AfterValidator(mask_text)]


class ReviewDecision(BaseModel):
    """A supervisor's decision on a queued item. A head left out keeps its predicted label
    (confirmed); an empty body confirms every prediction."""

    category: Optional[Literal[CATEGORY]] = None  # type: ignore[valid-type]
    category_secondary: Optional[Literal[CATEGORY]] = Field(  # type: ignore[valid-type]
        None, description="Send null to say there is no second category; leave out to keep the predicted one"
    )
    sentiment: Optional[Literal[SENTIMENT]] = None  # type: ignore[valid-type]
    urgency: Optional[Literal[URGENCY]] = None  # type: ignore[valid-type]
    # Masked and cleaned when parsed: a note is stored and exported, and reviewers paste phone numbers.
    note: Optional[Annotated[StrictStr, AfterValidator(_valid_unicode), AfterValidator(storable),
                             AfterValidator(mask_text)]] = Field(
        None, max_length=REVIEW_NOTE_MAX_CHARS, description="Free text kept with the decision (not used for training)"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"category": "contract_legal", "urgency": "high", "note": "涉及征信，需合规跟进"}]},
    )

    def labels(self) -> dict[str, str | None]:
        """The labels the reviewer set: a head left out (or null, for the three heads) is not one."""
        given = {k: getattr(self, k) for k in self.model_fields_set if k != "note"}
        return {k: v for k, v in given.items() if v is not None or k == "category_secondary"}


class ReviewLabels(BaseModel):
    category: Literal[CATEGORY]  # type: ignore[valid-type]
    category_secondary: Optional[Literal[CATEGORY]] = None  # type: ignore[valid-type]
    sentiment: Literal[SENTIMENT]  # type: ignore[valid-type]
    urgency: Literal[URGENCY]  # type: ignore[valid-type]


class ReviewOutcome(BaseModel):
    id: int
    reviewed: Literal[True]
    labels: ReviewLabels = Field(description="The labels the item is stored with for training")
    corrected: list[str] = Field(description="Fields whose label differs from the prediction")
    priority: Optional[dict[str, Any]] = Field(None, description="The priority re-run on the decided labels")
    route: Optional[str] = Field(None, description="The route re-run on the decided labels")
    revision: Optional[int] = Field(None, description="The item's revision after the decision (GET /v1/items/{id})")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 42, "reviewed": True, "corrected": ["category"], "labels": {
            "category": "contract_legal", "category_secondary": None, "sentiment": "negative", "urgency": "high"}}]},
    )


# --- health ------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class CalendarCoverage(BaseModel):
    ok: bool = Field(description="Every date from today through the window has holiday data")
    covered_until: date = Field(description="Last date of the unbroken covered run from today")
    window_days: int = Field(description="TRIAGE_CALENDAR_WINDOW_DAYS")
    uncovered_years: list[int] = Field(description="Years within the window without holiday data")
    affected_from: Optional[date] = Field(
        None, description="First receipt date from today whose longest deadline reaches an uncovered year")
    message: str
    message_zh: str


class Readiness(BaseModel):
    status: Literal["ready"]
    model_version: str
    database: Literal["ok", "unreachable"] = Field(
        description="unreachable: the database has not answered for less than the readiness grace "
                    "(TRIAGE_READY_DATABASE_GRACE_SECONDS); the pod stays ready meanwhile")
    calendar: CalendarCoverage = Field(description="Working-day calendar coverage (informational: a missing year "
                                                   "makes deadlines approximate, not the service unready)")
