"""Webhook signatures, as Stripe signs its events (docs/integrators.md "Webhooks" has the receiver's side).

``Triage-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``: the timestamp is
signed with the body, so a receiver that checks it against its clock (tolerance, 5 minutes by default)
refuses a delivery captured and replayed later. Each attempt is signed anew (new ``t``); the body and the
event id stay the same. After a secret is rotated, the previous one signs each delivery too (a second ``v1``)
for the overlap the admin chose, so receivers can be switched to the new secret without refusing a delivery.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Triage-Signature"
EVENT_ID_HEADER = "Triage-Event-Id"
EVENT_TYPE_HEADER = "Triage-Event-Type"
ATTEMPT_HEADER = "Triage-Delivery-Attempt"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """256 random bits; shown once, when the subscription is created."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secret: str, body: bytes, timestamp: int | None = None, previous: str | None = None) -> str:
    """The header value; while a rotated-out secret still counts (``previous``), a second ``v1`` entry
    signed with it follows the current one, as Stripe does, so a receiver holding either secret accepts."""
    t = int(time.time()) if timestamp is None else timestamp
    value = f"t={t},{SCHEME}={signature(secret, body, t)}"
    return value + (f",{SCHEME}={signature(previous, body, t)}" if previous else "")


def verify(secret: str, body: bytes, value: str | None, tolerance: float = DEFAULT_TOLERANCE_SECONDS,
           now: float | None = None) -> bool:
    """True when ``value`` (the header) signs ``body`` with ``secret`` and its time is within
    ``tolerance`` seconds of ``now``. Any of several ``v1`` entries may match, as with Stripe's header."""
    if not value:
        return False
    parts = [p.split("=", 1) for p in value.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    sigs = [v.strip() for k, v in parts if k.strip() == SCHEME]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not sigs:
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = signature(secret, body, t)
    return any(hmac.compare_digest(expected, s) for s in sigs)
