"""Map request-validation failures to one specific error code each.

FastAPI reports every problem of a request body as a ``RequestValidationError``; the error
``type`` (pydantic's, or the custom ones raised in serving/http/schemas.py) and its location say
which of our codes applies. The offending input is never echoed back: it may be personal data.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Sequence

from classifier.errors import BatchTooLarge, EmptyText, MetadataOutOfRange, TextTooLong, TriageError
from classifier.labels import HEADS
from serving.http.errors import DuplicateItemId, EmptyBatch, InvalidJSON, InvalidRequest, NotUTF8, UnknownLabel
from serving.http.schemas import METADATA_INT_LIMIT, METADATA_NUMBER_MESSAGE

MAX_DETAILS = 50


def _kind(error: dict[str, Any]) -> type[TriageError]:
    etype, loc = error.get("type", ""), tuple(error.get("loc", ()))
    field = loc[-1] if loc else None
    if etype == "json_invalid":
        return InvalidJSON
    if etype in ("invalid_unicode", "string_unicode"):
        return NotUTF8
    if loc == ("body", "items"):
        if etype == "too_long":
            return BatchTooLarge
        if etype == "too_short":
            return EmptyBatch
    if etype == "literal_error" and len(loc) == 2 and loc[0] == "body" and field in (*HEADS, "category_secondary"):
        return UnknownLabel  # a review decision (POST /v1/review/{id})
    if etype == "duplicate_id":
        return DuplicateItemId
    if etype == "number_out_of_range":
        return MetadataOutOfRange if "metadata" in loc else InvalidRequest
    if field == "text" and len(loc) == 4 and loc[:2] == ("body", "items"):
        if etype == "string_too_long":
            return TextTooLong
        if etype in ("empty_text", "string_too_short"):
            return EmptyText
    return InvalidRequest


# Most specific / most actionable first: a request gets the code of its highest-ranked problem.
_RANK: Sequence[type[TriageError]] = (
    InvalidJSON, NotUTF8, BatchTooLarge, EmptyBatch, TextTooLong, EmptyText, UnknownLabel, DuplicateItemId,
    MetadataOutOfRange, InvalidRequest,
)

_MESSAGES = {
    InvalidJSON: "request body is not valid JSON",
    NotUTF8: "request contains text that is not valid UTF-8 / Unicode",
    BatchTooLarge: "too many items in one request",
    EmptyBatch: "items must contain at least one item",
    TextTooLong: "text is longer than the configured maximum",
    EmptyText: "text is empty, only whitespace or only invisible characters",
    UnknownLabel: "unknown label",
    DuplicateItemId: "item ids must be unique within a request",
    MetadataOutOfRange: METADATA_NUMBER_MESSAGE,
    InvalidRequest: "request does not match the schema",
}


def _where(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _public(error: dict[str, Any]) -> dict[str, Any]:
    item = {"loc": list(error.get("loc", ())), "type": error.get("type"), "msg": error.get("msg")}
    ctx = error.get("ctx")
    if ctx:  # limits such as max_length; never the input itself
        item["ctx"] = {k: v if isinstance(v, (int, float, bool)) else str(v) for k, v in ctx.items()}
    return item


def oversized_integers(body: bytes) -> TriageError | None:
    """The error for a body that json.loads refused only because an integer in it has more digits than
    Python converts (sys.get_int_max_str_digits(), 4,300; FastAPI then answers a bare 400): E213 naming
    the metadata field(s), like any other out-of-range metadata number (E513 elsewhere); None for
    other bodies. Runs only on that failure, so a normal request is parsed once."""
    limit = sys.get_int_max_str_digits()
    huge = object()

    def parse_int(text: str) -> Any:
        return huge if limit and len(text.lstrip("-")) > limit else int(text)

    try:
        document = json.loads(body, parse_int=parse_int)
    except (ValueError, RecursionError):
        return None
    errors = [{"loc": ("body", *path), "type": "number_out_of_range",
               "msg": METADATA_NUMBER_MESSAGE if "metadata" in path else "number out of range",
               "ctx": {"limit": METADATA_INT_LIMIT}} for path in _paths_of(document, huge)]
    return from_validation_errors(errors) if errors else None


def _paths_of(node: Any, target: object, path: tuple = ()) -> list[tuple]:
    if node is target:
        return [path]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    return [found for key, child in items for found in _paths_of(child, target, (*path, key))]


def from_validation_errors(errors: Sequence[dict[str, Any]]) -> TriageError:
    kinds = [_kind(e) for e in errors] or [InvalidRequest]
    chosen = min(kinds, key=_RANK.index)
    first = errors[kinds.index(chosen)] if errors else {}
    message = _MESSAGES[chosen]
    if chosen is InvalidJSON:
        reason = (first.get("ctx") or {}).get("error")
        message = f"{message}: {reason}" if reason else message
    elif first.get("loc"):
        message = f"{_where(first['loc'])}: {first.get('msg', message)}"
    details = [_public(e) for e in errors[:MAX_DETAILS]]
    if len(errors) > MAX_DETAILS:
        details.append({"more": len(errors) - MAX_DETAILS})
    return chosen(message, details=details)
