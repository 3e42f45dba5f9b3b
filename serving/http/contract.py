"""What the routers share: the OpenAPI documentation of error responses, and the time-range,
channel and category query parameters of the matrix, the insights and the review queue."""
from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any, Literal, Optional

from fastapi import Query, Request

from classifier.labels import CATEGORY
from serving.db import store
from serving.http.errors import InvalidRequest
from serving.http.schemas import ID_PATTERN, ErrorResponse, IsoOnlyQuery

_DESCRIPTIONS = {
    400: "Invalid JSON (E510) or body not UTF-8 (E512)",
    401: "Missing, invalid or revoked API key (E501)",
    403: "The key's role may not use this endpoint (E502)",
    404: "Not found (E517); no such stored item (E540); no such webhook subscription (E571)",
    409: "Idempotency-Key already used with another body (E524); a model reload is already running (E561); "
         "not reviewable (E541), decided by someone else since loaded (E542, details: the current item), "
         "claimed by another supervisor (E543)",
    413: "Body over the byte limit (E511) or too many items (E212)",
    415: "Body is not application/json (E516) or is compressed (E523)",
    422: "Empty or invisible-only text (E210), text too long (E211), metadata number out of range (E213), no items "
         "(E514), duplicate item ids (E515), unknown label (E519), bad Idempotency-Key (E525), wrong types or fields "
         "(E513), bad queue cursor (E544), nothing to explain (E545), decision or undo without `revision` (E546), "
         "bundle not loaded (E560), webhook URL not http(s) with a host (E570)",
    429: "Rate limit exceeded (E503), too many items in flight for the key (E527) or too many invalid keys from "
         "the address (E528); see Retry-After",
    503: "Model not ready (E520), overloaded (E521) or database unavailable or too slow (E522); see Retry-After",
    504: "Request deadline exceeded (E526); retry with the same Idempotency-Key",
}


def error_responses(*statuses: int, html_route: bool = False) -> dict[int | str, dict[str, Any]]:
    """Error responses for ``responses=``. On a route whose response class is HTML, FastAPI would
    document a ``model`` under text/html, so there the JSON schema is referenced explicitly
    (the ErrorResponse component is registered by the JSON routes)."""
    if html_route:
        ref = {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}
        return {s: {"description": _DESCRIPTIONS[s], "content": {"application/json": {"schema": ref}}} for s in statuses}
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in statuses}


FromQ = Annotated[Optional[datetime], IsoOnlyQuery, Query(alias="from", description="Received at or after (ISO 8601; no offset = Asia/Shanghai)")]
ToQ = Annotated[Optional[datetime], IsoOnlyQuery, Query(alias="to", description="Received before (ISO 8601; no offset = Asia/Shanghai)")]
ChannelQ = Annotated[Optional[str], Query(max_length=256, pattern=ID_PATTERN, description="metadata.channel equals")]
CategoryQ = Annotated[Optional[Literal[CATEGORY]], Query(description="Primary category equals")]  # type: ignore[valid-type]


def aware(tz: tzinfo, value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    try:
        store.to_storage(value)  # years near 1 or 9999 overflow when shifted to UTC
    except OverflowError:
        raise InvalidRequest(f"{name} is out of range", details=[{"loc": ["query", name], "type": "out_of_range"}]) from None
    return value


def no_unknown_query(request: Request) -> None:
    """Dependency of the list routes: a query parameter the route does not take is 422 E513 naming it.

    Without it a misspelt or unsupported filter (``?item_id=`` on the queue, ``?lmit=``) is silently
    ignored and the caller gets everything, which looks like an answer."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {p.alias for p in _query_params(dependant)}
    unknown = sorted({k for k in request.query_params.keys() if k not in known})
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s): {', '.join(unknown)}; this route takes "
                             f"{', '.join(sorted(known)) or 'none'}",
                             details=[{"loc": ["query", k], "type": "unknown_parameter"} for k in unknown])


def _query_params(dependant: Any) -> list[Any]:
    out = list(dependant.query_params)
    for sub in dependant.dependencies:
        out += _query_params(sub)
    return out
