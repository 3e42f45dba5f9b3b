"""Serving error codes (E5xx) and the one error body every failure uses.

Body: ``{"error": {"code": "E5xx", "message": "...", "details": ...}}``. Input errors reuse the
runtime's codes where they exist (E210 empty text, E211 text too long, E212 batch too large);
everything specific to HTTP lives here. Codes never change meaning once released.
"""
from __future__ import annotations

from typing import Any

from classifier.errors import TriageError


class ServingError(TriageError):
    code = "E500"
    http_status = 400
    # Extra response headers (e.g. Retry-After, WWW-Authenticate).
    headers: dict[str, str] | None = None

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message, details)
        if headers is not None:
            self.headers = headers


# --- E50x: authentication, authorisation, rate limiting --------------------------------------
class Unauthenticated(ServingError):
    code = "E501"
    http_status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServingError):
    code = "E502"
    http_status = 403


class RateLimited(ServingError):
    code = "E503"
    http_status = 429


# --- E51x: malformed requests ---------------------------------------------------------------
class InvalidJSON(ServingError):
    code = "E510"
    http_status = 400


class BodyTooLarge(ServingError):
    code = "E511"
    http_status = 413


class NotUTF8(ServingError):
    """The body is not valid UTF-8, or a string holds an unpaired surrogate."""

    code = "E512"
    http_status = 400


class InvalidRequest(ServingError):
    """Wrong types, missing or unknown fields, bad query parameters."""

    code = "E513"
    http_status = 422


class EmptyBatch(ServingError):
    code = "E514"
    http_status = 422


class DuplicateItemId(ServingError):
    code = "E515"
    http_status = 422


class UnsupportedMediaType(ServingError):
    code = "E516"
    http_status = 415


class NotFound(ServingError):
    code = "E517"
    http_status = 404


class MethodNotAllowed(ServingError):
    code = "E518"
    http_status = 405


class UnknownLabel(ServingError):
    """A review names a label the model does not have, or a secondary category equal to the primary."""

    code = "E519"
    http_status = 422


# --- E54x: the supervisor workspace (serving/review/) ------------------------------------------
class ItemNotFound(ServingError):
    """No stored item has this id (GET/POST /v1/items/{id}...)."""

    code = "E540"
    http_status = 404


class NotReviewable(ServingError):
    """The item exists but this decision cannot be made on it: nothing to undo, or its stored labels
    belong to a model with other label sets."""

    code = "E541"
    http_status = 409


class StaleRevision(ServingError):
    """The item was decided (or undone) since the caller loaded it; details carry the current item."""

    code = "E542"
    http_status = 409


class ClaimedByOther(ServingError):
    """Another supervisor has the item open (its claim's lease has not run out)."""

    code = "E543"
    http_status = 409


class InvalidCursor(ServingError):
    """A queue cursor that this server did not issue, or one from other filters."""

    code = "E544"
    http_status = 422


class ExplanationUnavailable(ServingError):
    """The stored text is empty after normalization (masking can, in principle, leave nothing)."""

    code = "E545"
    http_status = 422


class RevisionRequired(ServingError):
    """A decision or undo without the `revision` it was made on: it could silently overwrite a
    colleague's change, so it is refused (send the `revision` of GET /v1/items/{id} or the queue)."""

    code = "E546"
    http_status = 422


# --- E52x: the service itself -------------------------------------------------------------
class NotReady(ServingError):
    """The model is not loaded (yet) or the service is shutting down."""

    code = "E520"
    http_status = 503


class Overloaded(ServingError):
    code = "E521"
    http_status = 503
    headers = {"Retry-After": "1"}


class DatabaseUnavailable(ServingError):
    code = "E522"
    http_status = 503
    headers = {"Retry-After": "5"}


class UnsupportedContentEncoding(ServingError):
    """The body is compressed (Content-Encoding other than identity): send plain JSON."""

    code = "E523"
    http_status = 415


class IdempotencyKeyReused(ServingError):
    """An Idempotency-Key already used, within the window, for a request with another body."""

    code = "E524"
    http_status = 409


class InvalidIdempotencyKey(ServingError):
    """The Idempotency-Key header is not 1-128 printable ASCII characters."""

    code = "E525"
    http_status = 422


class DeadlineExceeded(ServingError):
    """The request did not finish within the per-request deadline (TRIAGE_REQUEST_TIMEOUT_SECONDS).
    Nothing was stored for it unless its write had already begun; retry with the same
    Idempotency-Key to be sure of exactly one stored copy."""

    code = "E526"
    http_status = 504
    headers = {"Retry-After": "1"}


class TooManyItemsInFlight(ServingError):
    """This API key already has the configured number of items waiting for the model."""

    code = "E527"
    http_status = 429
    headers = {"Retry-After": "1"}


class TooManyInvalidKeys(ServingError):
    """Too many requests with a wrong or revoked key from this client address."""

    code = "E528"
    http_status = 429


class InternalError(ServingError):
    """Unexpected failure; the body never carries a stack trace (it is logged with the request id)."""

    code = "E599"
    http_status = 500


# --- E56x: model lifecycle in a running service (serving/inference/slot.py) -----------------------
class ReloadFailed(ServingError):
    """The new bundle could not be loaded or verified; the previous model keeps serving."""

    code = "E560"
    http_status = 422


class ReloadInProgress(ServingError):
    code = "E561"
    http_status = 409


# --- E57x: webhooks (serving/webhooks/) -----------------------------------------------------
class WebhookUrlRefused(ServingError):
    """A webhook URL that is not an absolute http(s) URL with a host (file:, ftp:, javascript:, a
    relative path, credentials in the URL): the service only ever POSTs to http(s) receivers."""

    code = "E570"
    http_status = 422


class WebhookNotFound(ServingError):
    """No webhook subscription with this id (or it was deleted)."""

    code = "E571"
    http_status = 404


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}
