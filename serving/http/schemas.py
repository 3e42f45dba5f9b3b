"""What the features' published shapes (OpenAPI) share: the input rules for texts, ids, metadata and
times, a head's result and the priority of a classified item, and the one error envelope. Each feature
keeps its own shapes beside its routes (classify/, review/, insights/, ops/ ``schemas.py``).

Request models are built per app from the configured limits, so the published schema states
the limits the server enforces (maxLength, maxItems). Every constraint has a validator whose
error ``type`` maps to one specific error code (serving/http/validation.py).
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from classifier.labels import CATEGORY, SENTIMENT, URGENCY
from classifier.priority import LEVELS, QUADRANTS
from classifier.text.visible import has_visible_text

# A text must contain a character that is neither whitespace nor one of the control / zero-width
# characters that text normalization (classifier.text.normalize) deletes; otherwise nothing is left to
# classify. The same pattern is published in the schema, so clients and fuzzers agree with it.
TEXT_PATTERN = r"[^\s\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]"
_CONTENT = re.compile(TEXT_PATTERN)
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # ids are echoed in responses and logs: no control characters

EARLIEST_RECEIVED = datetime(2000, 1, 1, tzinfo=timezone.utc)


def valid_unicode(value: str) -> str:
    # JSON may carry "\ud800" escapes: such strings cannot be stored or encoded in a response.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_unicode", "string contains an unpaired surrogate (not valid Unicode)") from None
    return value


def has_content(value: str) -> str:
    # The pattern is what the schema can say; has_visible_text also refuses texts of only
    # invisible / format characters (U+2060, U+3164, ...), see classifier/text/visible.py.
    if not _CONTENT.search(value) or not has_visible_text(value):
        raise PydanticCustomError("empty_text", "text is empty or only whitespace")
    return value


# Metadata numbers the rules can compare: integers beyond this (JSON allows any length) would
# overflow float() in the rules and lose precision in every JSON client (no amount is this large).
METADATA_INT_LIMIT = 10**15
METADATA_NUMBER_MESSAGE = "metadata numbers must be finite and lie within ±10^15"


def metadata_value(max_chars: int) -> WrapValidator:
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
            return valid_unicode(value)
        if isinstance(value, (int, float)):  # JSON numbers; 1e400 and -Infinity arrive as ±inf
            if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > METADATA_INT_LIMIT:
                raise PydanticCustomError("number_out_of_range", METADATA_NUMBER_MESSAGE, {"limit": METADATA_INT_LIMIT})
            return value
        raise PydanticCustomError("metadata_value_type", "metadata values must be a string, a number, true, false or null")

    return WrapValidator(check)


def unique_ids(items: list) -> list:
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


def plausible_time(value: datetime | None) -> datetime | None:
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
