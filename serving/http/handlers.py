"""Exception handlers: every error leaves as ``{"error": {"code", "message", "details"}}``.

FastAPI's defaults (``{"detail": ...}`` bodies, stack traces on 500) are replaced for our own
errors, request-validation errors, Starlette's HTTP errors (404, 405, body parse failures) and
anything unexpected.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifier.errors import TriageError
from serving.http import errors
from serving.db.watch import AbandonedRequest
from serving.http.errors import error_body
from serving.http.validation import from_validation_errors, oversized_integers

log = logging.getLogger("triage.http")

# Status codes Starlette/FastAPI raise by themselves → our codes.
_HTTP_CODES: dict[int, type[errors.ServingError]] = {
    400: errors.InvalidJSON,  # FastAPI: "There was an error parsing the body" (e.g. nesting too deep)
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.BodyTooLarge,
    415: errors.UnsupportedMediaType,
    422: errors.InvalidRequest,
    429: errors.RateLimited,
    503: errors.NotReady,
}


def _response(exc: TriageError, status: int | None = None) -> JSONResponse:
    headers = getattr(exc, "headers", None)
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=status or exc.http_status,
                        headers=headers)


async def triage_error(request: Request, exc: TriageError) -> JSONResponse:
    if exc.http_status >= 500:
        log.warning("request failed: %s", exc)
    return _response(exc)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return _response(from_validation_errors(exc.errors()))


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI's "error parsing the body": an integer of more than 4,300 digits is out of range, not bad JSON
        oversized = oversized_integers(await request.body())
        if oversized is not None:
            return _response(oversized)
    kind = _HTTP_CODES.get(exc.status_code)
    if kind is None:
        kind = errors.InternalError if exc.status_code >= 500 else errors.InvalidRequest
    message = exc.detail if isinstance(exc.detail, str) else kind.__name__
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    error = kind(message)
    headers = dict(getattr(exc, "headers", None) or {})
    response = _response(error, status=exc.status_code)
    response.headers.update(headers)
    return response


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return _response(errors.InternalError("internal server error; quote the request id to support",
                                          details={"request_id": rid}))


async def database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
    """Any database failure (unreachable, timed out, a value it refused) → 503 E522 with Retry-After.
    Logged by type only: the message of a failed statement may quote customer data."""
    log.warning("database error: %s", type(exc).__name__, extra={"db_error": type(getattr(exc, "orig", None) or exc).__name__})
    return _response(errors.DatabaseUnavailable("database unavailable; retry later",
                                                details={"reason": type(exc).__name__}))


async def abandoned(request: Request, exc: AbandonedRequest) -> JSONResponse:
    """The late end of a request answered at its deadline: rolled back; this response is dropped."""
    log.info("late work of an abandoned request rolled back")
    return _response(errors.DatabaseUnavailable("database unavailable; retry later"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(SQLAlchemyError, database_error)
    app.add_exception_handler(AbandonedRequest, abandoned)
    app.add_exception_handler(TriageError, triage_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
