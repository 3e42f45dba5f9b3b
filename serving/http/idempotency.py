"""``Idempotency-Key`` for POST /v1/classify: a retry stores nothing new.

A ticket system that times out (or gets 503/504) cannot know whether its request was stored: the
write may have been committed just after the deadline. Sent again with the same key and the same
body within the window (TRIAGE_IDEMPOTENCY_WINDOW_SECONDS), the request gets the stored response
back (header ``Idempotent-Replayed: true``) instead of a second set of rows; the same key with
another body is refused (409 E524). The record is written in the transaction that stores the
request's classifications (serving/services.py), so there is never one without the other, and the
unique index on (API key, key) makes two concurrent first attempts store once: the second one's
transaction fails and it answers with the first one's stored response.

Expired records are deleted as new ones are written: those of the same key at once (the unique
index needs it), every other expired record at most once per ``PURGE_INTERVAL`` per process, so the
table holds about one window of traffic instead of growing for years.

Keys are per API key (two clients may use the same key strings). The body is compared by the
SHA-256 of its canonical JSON (keys sorted), so whitespace and key order do not matter.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from serving.http.errors import IdempotencyKeyReused, InvalidIdempotencyKey
from serving.db.tables import IdempotencyRecord

HEADER = "Idempotency-Key"
PURGE_INTERVAL = timedelta(minutes=1)
_last_purge: datetime | None = None  # naive UTC; per process (a race only purges twice)
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces: UUIDs, ticket ids


@dataclass(frozen=True)
class Entry:
    """What the writer stores beside a request's rows (see serving/services.py:_save)."""

    api_key_id: int
    key: str
    body_sha256: str
    response: dict[str, Any]  # serialized when stored: the writer completes it (stored ids) first
    created_at: datetime  # naive UTC
    window: timedelta


def parse_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _KEY.match(value):
        raise InvalidIdempotencyKey(f"{HEADER} must be 1-128 printable ASCII characters without spaces",
                                    details={"header": HEADER})
    return value


def body_digest(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def find(sessions: sessionmaker[Session], api_key_id: int, key: str, since: datetime) -> IdempotencyRecord | None:
    """The stored record for this key if written at or after ``since`` (naive UTC)."""
    r = IdempotencyRecord
    with sessions() as session:
        return session.scalars(
            select(r).where(r.api_key_id == api_key_id, r.key == key, r.created_at >= since)
        ).first()


def replay(record: IdempotencyRecord, digest: str) -> dict[str, Any]:
    """The stored response body, or 409 E524 when the key was used with another body."""
    if record.body_sha256 != digest:
        raise IdempotencyKeyReused(
            f"this {HEADER} was used for a request with another body; use a new key for a new request",
            details={"header": HEADER, "first_used_at": record.created_at.isoformat(timespec="seconds") + "Z"},
        )
    return json.loads(record.response)


def store(conn: Any, entries: list[Entry]) -> None:
    """Insert ``entries`` on ``conn`` (inside the writer's transaction), replacing expired records
    of the same keys. A live record of the same key makes the insert fail (unique index)."""
    table = IdempotencyRecord.__table__
    for e in entries:
        conn.execute(delete(table).where(table.c.api_key_id == e.api_key_id, table.c.key == e.key,
                                         table.c.created_at < e.created_at - e.window))
    conn.execute(table.insert(), [
        {"api_key_id": e.api_key_id, "key": e.key, "body_sha256": e.body_sha256,
         "response": json.dumps(e.response, ensure_ascii=False),
         "created_at": e.created_at} for e in entries
    ])
    if entries:
        purge_expired(conn, now=entries[-1].created_at, window=entries[-1].window)


def purge_expired(conn: Any, now: datetime, window: timedelta) -> int | None:
    """Delete every record older than ``window`` (by the created_at index), at most once per
    ``PURGE_INTERVAL``; returns how many were deleted, or None when it was not yet time."""
    global _last_purge
    if _last_purge is not None and now - _last_purge < PURGE_INTERVAL:
        return None
    _last_purge = now
    table = IdempotencyRecord.__table__
    return conn.execute(delete(table).where(table.c.created_at < now - window)).rowcount
