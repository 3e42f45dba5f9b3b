"""OpenAPI documentation of error responses shared by the routers."""
from __future__ import annotations

from typing import Any

from serving.schemas import ErrorResponse

_DESCRIPTIONS = {
    400: "Invalid JSON (E510) or body not UTF-8 (E512)",
    401: "Missing, invalid or revoked API key (E501)",
    403: "The key's role may not use this endpoint (E502)",
    404: "Not found (E517); no such stored item (E540)",
    409: "Idempotency-Key already used with another body (E524); a model reload is already running (E561); "
         "not reviewable (E541), decided by someone else since loaded (E542, details: the current item), "
         "claimed by another supervisor (E543)",
    413: "Body over the byte limit (E511) or too many items (E212)",
    415: "Body is not application/json (E516) or is compressed (E523)",
    422: "Empty or invisible-only text (E210), text too long (E211), metadata number out of range (E213), no items "
         "(E514), duplicate item ids (E515), unknown label (E519), bad Idempotency-Key (E525), wrong types or fields "
         "(E513), bad queue cursor (E544), nothing to explain (E545), bundle not loaded (E560)",
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
