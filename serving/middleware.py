"""Pure ASGI middleware: request ids, body checks, metrics, access log, last-resort errors.

Pure ASGI (not BaseHTTPMiddleware) because it must see the raw body before FastAPI parses it,
and because it runs on every request: no extra task or response copy.

Per request:
1. take ``X-Request-ID`` when it is sane, else make one; echo it on the response, log with it;
2. for POST/PUT/PATCH: refuse bodies over the limit (413, before reading further), bodies that are
   not UTF-8 (400) and non-JSON content types (415), then replay the body to the app;
3. count and time the request under its route template, write one access-log line;
4. turn an unexpected exception into the error schema (500, no trace).
"""
from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any, Callable

from classifier.errors import TriageError
from serving.errors import BodyTooLarge, InternalError, NotUTF8, UnsupportedMediaType, error_body
from serving.logs import request_id_var
from serving.metrics import Metrics

log = logging.getLogger("triage.http")
access = logging.getLogger("triage.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class TriageMiddleware:
    def __init__(self, app, metrics: Metrics, max_body_bytes: int):  # noqa: ANN001
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

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
        status = {"code": 500, "started": False}

        async def send_wrapper(message):  # noqa: ANN001
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if scope["method"] in _BODY_METHODS:
                try:
                    receive = await self._checked_body(headers, receive)
                except TriageError as exc:
                    await _send_error(send_wrapper, exc)
                    return
            await self.app(scope, receive, send_wrapper)
        except Exception:  # noqa: BLE001 - last resort: the client gets the schema, the log gets the trace
            log.exception("unhandled error")
            if not status["started"]:
                await _send_error(send_wrapper, InternalError("internal server error; quote the request id to support",
                                                              details={"request_id": request_id}))
        finally:
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
            content_type = headers.get("content-type")
            if content_type is not None and not _is_json(content_type):
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
