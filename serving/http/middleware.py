"""Pure ASGI middleware: request ids, body checks, metrics, access log, last-resort errors.

Pure ASGI (not BaseHTTPMiddleware) because it must see the raw body before FastAPI parses it,
and because it runs on every request: no extra task or response copy.

Per request:
1. take ``X-Request-ID`` when it is sane, else make one; echo it on the response, log with it;
2. for POST/PUT/PATCH: refuse bodies over the limit (413, before reading further), bodies that are
   not UTF-8 (400) and non-JSON content types (415), then replay the body to the app;
3. count and time the request under its route template, write one access-log line;
4. turn an unexpected exception into the error schema (500, no trace);
5. answer 503 E522 when the request has waited on the database longer than the database timeout
   (serving/db/watch.py: a frozen server never answers), or 504 E526 at the per-request deadline,
   without waiting for the stuck work (its late response is dropped, its queued model work
   cancelled);
6. add security headers to every response (nosniff, Referrer-Policy, frame-ancestors; a CSP on
   HTML; Strict-Transport-Security when TRIAGE_HSTS_SECONDS is set) and ``Cache-Control: no-store``
   (responses carry customer text and labels).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from typing import Any, Callable

from classifier.errors import TriageError
from serving.db import watch as dbwatch
from serving.http.errors import (
    BodyTooLarge, DatabaseUnavailable, DeadlineExceeded, InternalError, NotUTF8, Unauthenticated,
    UnsupportedContentEncoding, UnsupportedMediaType, error_body,
)
from serving.http.logs import request_id_var
from serving.http.metrics import Metrics

log = logging.getLogger("triage.http")
access = logging.getLogger("triage.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


# The pages' scripts and styles are files under /static and their data a JSON block that is never
# executed (serving/http/templates.py): no inline script or style is allowed. Everything is
# same-origin only, and no page may be framed by another site.
_CSP_HTML = ("default-src 'self'; script-src 'self'; style-src 'self'; "
             "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
             "form-action 'self'; frame-ancestors 'none'")
_CSP_OTHER = "frame-ancestors 'none'"
# /docs and /redoc load their assets from a CDN unless served locally: no script policy there.
_OPEN_SCRIPT_PATHS = ("/docs", "/redoc")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def _security_headers(path: str, headers: list, hsts: bytes | None = None) -> list:
    names = {k.lower() for k, _ in headers}
    extra = [h for h in _SECURITY_HEADERS if h[0] not in names]
    if hsts is not None and b"strict-transport-security" not in names:
        extra.append((b"strict-transport-security", hsts))
    if b"cache-control" not in names:
        extra.append((b"cache-control", b"no-store"))
    if b"content-security-policy" not in names:
        html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
        policy = _CSP_HTML if html and not path.startswith(_OPEN_SCRIPT_PATHS) else _CSP_OTHER
        extra.append((b"content-security-policy", policy.encode()))
    return list(headers) + extra


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class TriageMiddleware:
    def __init__(self, app, metrics: Metrics, max_body_bytes: int,  # noqa: ANN001
                 request_timeout: float = 30.0, db_timeout: float = 5.0, hsts_seconds: int = 0):
        self.app = app
        # TRIAGE_HSTS_SECONDS: browsers then use only HTTPS for this host for that long
        self.hsts = f"max-age={hsts_seconds}".encode() if hsts_seconds else None
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.db_timeout = db_timeout

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else _new_request_id()
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = {"code": 500, "started": False, "abandoned": False}
        path = scope.get("path", "")
        activity, db_token = dbwatch.begin_request()

        async def send_wrapper(message):  # noqa: ANN001
            if status["abandoned"]:
                return  # the deadline answered already; this is the stuck work finishing late
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message["headers"] = _security_headers(path, message.get("headers", []), self.hsts) + [
                    (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if scope["method"] in _BODY_METHODS:
                try:
                    if path.startswith("/v1/") and not (headers.get("authorization") or headers.get("x-api-key")):
                        # Before the body: a request without credentials learns that first (401),
                        # not that its body is malformed.
                        raise Unauthenticated("missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                              details={"schemes": ["Bearer", "X-API-Key"]})
                    receive = await self._checked_body(headers, receive)
                except TriageError as exc:
                    await _send_error(send_wrapper, exc)
                    return
            late = await self._within_deadline(self.app(scope, receive, send_wrapper), activity, status)
            if late is not None:
                await _send_error(send_wrapper, late)
                status["abandoned"] = True
        except Exception:  # noqa: BLE001 - last resort: the client gets the schema, the log gets the trace
            log.exception("unhandled error")
            if not status["started"]:
                await _send_error(send_wrapper, InternalError("internal server error; quote the request id to support",
                                                              details={"request_id": request_id}))
        finally:
            dbwatch.end_request(db_token)
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status["code"])).inc()
            self.metrics.latency.labels(route, method).observe(elapsed)
            state = scope.get("state", {})
            principal = state.get("principal")
            access.info(
                "%s %s %d", method, route, status["code"],
                extra={"method": method, "route": route, "status": status["code"],
                       "duration_ms": round(elapsed * 1000, 2),
                       "key": getattr(principal, "prefix", None), "items": state.get("items")},
            )
            request_id_var.reset(token)

    async def _within_deadline(self, work, activity: dbwatch.Activity, status: dict) -> TriageError | None:  # noqa: ANN001
        """Run ``work``; ``None`` when it finished, else the error to answer with (it is then
        cancelled and left to finish on its own: a thread stuck in a frozen database cannot be
        interrupted, but the client need not wait for it)."""
        task = asyncio.ensure_future(work)
        deadline = time.monotonic() + self.request_timeout
        while True:
            now = time.monotonic()
            stalled = activity.stalled_for(now)
            wait = min(deadline - now, self.db_timeout - stalled)
            done, _ = await asyncio.wait({task}, timeout=max(0.0, wait))
            if done:
                task.result()  # re-raises the app's exception, if any
                return None
            if status["started"]:  # a response under way (an export) is not cut off
                await task
                return None
            now = time.monotonic()
            if activity.stalled_for(now) >= self.db_timeout:
                error: TriageError = DatabaseUnavailable(
                    "the database did not answer in time; retry later",
                    details={"timeout_seconds": self.db_timeout})
            elif now >= deadline:
                error = DeadlineExceeded("the request did not finish within its deadline; retry later",
                                         details={"timeout_seconds": self.request_timeout})
            else:
                continue
            if activity.commit is not None and not activity.commit.cancel():
                # Its write has started (or committed): the outcome is the answer, never a
                # 503/504 for a committed row (serving/classify/pipeline.py bounds that wait).
                await task
                return None
            activity.abandoned = True  # its late transaction rolls back (serving/db/watch.py)
            task.add_done_callback(_consume)
            task.cancel()
            log.warning("request abandoned: %s", error.code, extra={"timeout": error.code})
            return error

    async def _checked_body(self, headers: dict[str, str], receive) -> Callable:  # noqa: ANN001
        limit = self.max_body_bytes
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise BodyTooLarge(f"request body is larger than {limit} bytes", details={"max_bytes": limit})
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body is larger than {limit} bytes", details={"max_bytes": limit})
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            encoding = headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise UnsupportedContentEncoding(
                    f"content encoding {encoding!r} is not supported; send the JSON uncompressed",
                    details={"supported": ["identity"]})
            content_type = headers.get("content-type")
            if content_type is None or not _is_json(content_type):
                content_type = content_type or "(none)"
                raise UnsupportedMediaType(
                    f"content type {content_type.split(';')[0].strip()!r} is not supported; send application/json",
                    details={"expected": "application/json"},
                )
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NotUTF8("request body is not valid UTF-8", details={"byte_offset": exc.start}) from None

        replayed = False

        async def replay():  # noqa: ANN202
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def _consume(task: asyncio.Task) -> None:
    """Retrieve an abandoned task's outcome so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex``. Request ids need uniqueness, not secrecy, so they
    come from ``random`` (reseeded from the OS in every process and after fork) rather than
    ``os.urandom``: its syscall drops the GIL, and on a loaded service the event loop then waits
    for a model thread to hand it back (visible as uuid4 at ~5% of the loop's time under py-spy)."""
    return f"{random.getrandbits(128):032x}"


def _route_template(scope: dict[str, Any]) -> str:
    """The matched route's path template (bounded label cardinality), not the raw path."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    if "endpoint" in scope:  # a plain Starlette route (/openapi.json, /docs): static paths only
        return scope.get("path", "unmatched")
    return "unmatched"


async def _send_error(send, exc: TriageError) -> None:  # noqa: ANN001
    body = json.dumps(error_body(exc.code, exc.message, exc.details), ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for k, v in (getattr(exc, "headers", None) or {}).items():
        headers.append((k.lower().encode("latin-1"), v.encode("latin-1")))
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
