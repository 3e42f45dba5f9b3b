"""Webhook subscriptions and the delivery log (blocking: call from a worker thread or the CLI).

The admin API (serving/webhooks/routes.py) and ``triage webhooks`` (serving/cli.py) share these.
A subscription is never deleted from the table, only marked: its delivery log stays readable, and
its pending deliveries are cancelled.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from serving.db.outbox import EVENT_TYPES
from serving.db.tables import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from serving.http.errors import InvalidRequest, WebhookNotFound, WebhookUrlRefused
from serving.webhooks.signing import new_secret

S, D, A, E = WebhookSubscription, WebhookDelivery, WebhookAttempt, WebhookEvent
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.replace(tzinfo=timezone.utc).isoformat(timespec="seconds")


def check_url(url: str) -> str:
    """The URL as given when it is an absolute http(s) URL with a host; E570 otherwise. The service
    POSTs to it from where it runs: the receiver must be reachable from there (docs/integrators.md)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError as exc:
        raise WebhookUrlRefused(f"not a usable URL: {exc}", details={"url": url}) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookUrlRefused(f"webhook URLs must be http:// or https://, not {parts.scheme or 'a relative URL'!r}",
                                details={"url": url})
    if not parts.hostname:
        raise WebhookUrlRefused("the webhook URL has no host", details={"url": url})
    if parts.username or parts.password:
        raise WebhookUrlRefused("credentials in a webhook URL would be stored and logged: verify the signature instead",
                                details={"url": parts._replace(netloc=parts.hostname + (f":{port}" if port else "")).geturl()})
    if any(ch.isspace() for ch in url) or len(url) > 2048:
        raise WebhookUrlRefused("the webhook URL has white space or is longer than 2048 characters", details={"url": url[:100]})
    return url


def check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(e.strip() for e in events if e.strip()))
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown or not chosen:
        raise InvalidRequest(f"event types must be some of {', '.join(EVENT_TYPES)}" + (f"; unknown: {unknown}" if unknown else ""),
                             details=[{"loc": ["body", "events"], "type": "unknown_event_type", "input": unknown}])
    return chosen


def view(row: WebhookSubscription, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out = {"id": row.id, "url": row.url, "events": list(row.events), "description": row.description,
           "secret_prefix": row.secret[:10] + "…", "created_at": _iso(row.created_at), "deleted_at": _iso(row.deleted_at),
           "previous_secret_until": _iso(row.previous_secret_until) if row.previous_secret else None}
    if counts is not None:
        out["deliveries"] = {s: counts.get(s, 0) for s in DELIVERY_STATUSES}
    return out


def create(sessions: sessionmaker[Session], url: str, events: Iterable[str], description: str | None = None
           ) -> tuple[dict[str, Any], str]:
    """A new subscription and its signing secret (returned only here). It receives the events
    recorded from now on."""
    url, chosen = check_url(url), check_events(events)
    secret = new_secret()
    with sessions.begin() as session:
        row = S(url=url, events=chosen, secret=secret, description=description, created_at=utcnow())
        session.add(row)
        session.flush()
        return view(row, {}), secret


MAX_SECRET_OVERLAP = timedelta(days=7)  # a rotated-out secret signs beside the new one at most this long


def rotate_secret(sessions: sessionmaker[Session], sub_id: int, overlap: timedelta) -> tuple[dict[str, Any], str]:
    """A new signing secret (returned only here). The one it replaces keeps signing every delivery beside
    it for ``overlap`` (a second ``v1`` in the header), so the receiver can be switched meanwhile; with no
    overlap it stops at once (a leaked secret). A secret rotated out earlier is dropped."""
    if not timedelta(0) <= overlap <= MAX_SECRET_OVERLAP:
        raise InvalidRequest(f"the overlap must be between 0 and {MAX_SECRET_OVERLAP.days} days, not {overlap}",
                             details={"overlap_seconds": overlap.total_seconds()})
    secret, keep = new_secret(), overlap > timedelta(0)
    with sessions.begin() as session:
        row = _live(session, sub_id)
        row.previous_secret = row.secret if keep else None
        row.previous_secret_until = utcnow() + overlap if keep else None
        row.secret = secret
        session.flush()
        return view(row, _counts(session, [row.id])[row.id]), secret


def _counts(session: Session, ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for sub, status, n in session.execute(select(D.subscription_id, D.status, func.count())
                                              .where(D.subscription_id.in_(ids)).group_by(D.subscription_id, D.status)):
            out[sub][status] = n
    return out


def list_all(sessions: sessionmaker[Session], include_deleted: bool = False) -> list[dict[str, Any]]:
    with sessions() as session:
        stmt = select(S).order_by(S.id)
        if not include_deleted:
            stmt = stmt.where(S.deleted_at.is_(None))
        rows = list(session.scalars(stmt))
        counts = _counts(session, [r.id for r in rows])
        return [view(r, counts[r.id]) for r in rows]


def _live(session: Session, sub_id: int) -> WebhookSubscription:
    row = session.get(S, sub_id)
    if row is None or row.deleted_at is not None:
        raise WebhookNotFound(f"no webhook subscription has id {sub_id}", details={"id": sub_id})
    return row


def get(sessions: sessionmaker[Session], sub_id: int) -> dict[str, Any]:
    with sessions() as session:
        row = _live(session, sub_id)
        return view(row, _counts(session, [row.id])[row.id])


def delete(sessions: sessionmaker[Session], sub_id: int) -> None:
    """Mark deleted and cancel what it still had to receive (an attempt under way may still arrive)."""
    now = utcnow()
    with sessions.begin() as session:
        row = _live(session, sub_id)
        row.deleted_at = now
        session.execute(update(D).where(D.subscription_id == sub_id, D.status == "pending")
                        .values(status="cancelled", finished_at=now).execution_options(synchronize_session=False))


def deliveries(sessions: sessionmaker[Session], sub_id: int | None = None, *, status: str | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
    """The delivery log, newest event first: each delivery with its attempts (time, status code or
    error, duration)."""
    stmt = (select(D, E.event_id, E.type, E.created_at).join(E, E.id == D.event_pk)
            .order_by(D.event_pk.desc(), D.id.desc()).limit(limit))
    if sub_id is not None:
        stmt = stmt.where(D.subscription_id == sub_id)
    if status is not None:
        stmt = stmt.where(D.status == status)
    with sessions() as session:
        if sub_id is not None and session.get(S, sub_id) is None:
            raise WebhookNotFound(f"no webhook subscription has id {sub_id}", details={"id": sub_id})
        rows = list(session.execute(stmt))
        ids = [d.id for d, *_ in rows]
        attempts: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for a in session.scalars(select(A).where(A.delivery_id.in_(ids)).order_by(A.delivery_id, A.attempt)):
                attempts[a.delivery_id].append({"attempt": a.attempt, "at": _iso(a.started_at),
                                                "status_code": a.status_code, "error": a.error,
                                                "duration_ms": round(a.duration_ms, 1)})
    return [{"id": d.id, "subscription_id": d.subscription_id, "event_id": event_id, "type": type_,
             "event_created_at": _iso(created), "status": d.status, "attempts": d.attempts,
             "next_attempt_at": _iso(d.next_attempt_at) if d.status == "pending" else None,
             "finished_at": _iso(d.finished_at), "log": attempts[d.id]}
            for d, event_id, type_, created in rows]


def event_body(sessions: sessionmaker[Session], event_id: str) -> dict[str, Any] | None:
    with sessions() as session:
        body = session.scalar(select(E.body).where(E.event_id == event_id))
    return None if body is None else json.loads(body)
