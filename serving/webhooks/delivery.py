"""The delivery worker's database steps (blocking: the worker runs them in threads).

1. **Fan-out**: each new event of the outbox (serving/db/outbox.py) becomes one pending delivery per live
   subscription that wants its type and existed when it was recorded. An event is claimed with a
   conditional ``UPDATE … WHERE dispatched_at IS NULL … RETURNING``: of several replicas exactly one fans
   it out, on PostgreSQL (row locks, re-checked after the wait) as on SQLite (one writer at a time).
2. **Lease**: a process sends to a subscription only while it holds the subscription's lease (a
   conditional UPDATE of ``lease_owner``/``lease_until``): one sender per subscription, so its events go
   out one at a time, oldest first, whatever the number of replicas; a crashed holder's lease runs out.
3. **Attempt**: the head of the subscription's queue (its oldest pending event) is sent when due; the
   attempt is logged; 2xx delivers it, anything else schedules the next try (exponential backoff with
   jitter) until the retry window is over, when it is marked failed and the next event goes. The head
   holds back the events after it meanwhile: a receiver sees them in order.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from serving.db.tables import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription

S, D, A, E = WebhookSubscription, WebhookDelivery, WebhookAttempt, WebhookEvent


def fan_out(sessions: sessionmaker[Session], now: datetime, limit: int = 500) -> int:
    """Deliveries for up to ``limit`` undispatched events, oldest first; returns how many events."""
    with sessions.begin() as session:
        ids = list(session.scalars(select(E.id).where(E.dispatched_at.is_(None)).order_by(E.id).limit(limit)))
        if not ids:
            return 0
        t = E.__table__
        claimed = session.execute(t.update().where(t.c.id.in_(ids), t.c.dispatched_at.is_(None))
                                  .values(dispatched_at=now).returning(t.c.id, t.c.type, t.c.created_at)).all()
        subs = session.execute(select(S.id, S.events, S.created_at).where(S.deleted_at.is_(None))).all()
        rows = [{"subscription_id": sub_id, "event_pk": pk, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now}
                for pk, type_, created in sorted(claimed) for sub_id, events, since in subs
                if type_ in events and since <= created]
        if rows:
            session.execute(insert(D), rows)
    return len(claimed)


def due_subscriptions(sessions: sessionmaker[Session], now: datetime) -> list[int]:
    """Subscriptions whose oldest pending delivery is due."""
    head = (select(D.subscription_id, func.min(D.event_pk).label("pk")).where(D.status == "pending")
            .group_by(D.subscription_id).subquery())
    stmt = (select(D.subscription_id).join(head, and_(D.subscription_id == head.c.subscription_id, D.event_pk == head.c.pk))
            .where(D.next_attempt_at <= now).order_by(D.subscription_id))
    with sessions() as session:
        return list(session.scalars(stmt))


def claim(sessions: sessionmaker[Session], sub_id: int, owner: str, now: datetime, until: datetime) -> bool:
    """Take (or renew) the subscription's lease; False while another process holds it."""
    t = S.__table__
    with sessions.begin() as session:
        done = session.execute(t.update().where(
            t.c.id == sub_id, t.c.deleted_at.is_(None),
            or_(t.c.lease_until.is_(None), t.c.lease_until < now, t.c.lease_owner == owner),
        ).values(lease_owner=owner, lease_until=until))
        return done.rowcount == 1


def release(sessions: sessionmaker[Session], owner: str) -> None:
    t = S.__table__
    with sessions.begin() as session:
        session.execute(t.update().where(t.c.lease_owner == owner).values(lease_owner=None, lease_until=None))


@dataclass(frozen=True)
class Job:
    delivery_id: int
    subscription_id: int
    attempts: int  # made so far
    event_id: str
    type: str
    body: str
    event_created_at: datetime
    url: str
    secret: str
    previous_secret: str | None = None  # a rotated-out secret still within its overlap: signs too


def head(sessions: sessionmaker[Session], sub_id: int, now: datetime) -> Job | None:
    """The subscription's oldest pending delivery, if it is due."""
    stmt = (select(D.id, D.attempts, D.next_attempt_at, E.event_id, E.type, E.body, E.created_at, S.url, S.secret,
                   S.previous_secret, S.previous_secret_until)
            .join(E, E.id == D.event_pk).join(S, S.id == D.subscription_id)
            .where(D.subscription_id == sub_id, D.status == "pending", S.deleted_at.is_(None))
            .order_by(D.event_pk).limit(1))
    with sessions() as session:
        row = session.execute(stmt).first()
    if row is None or row.next_attempt_at > now:
        return None
    previous = row.previous_secret if row.previous_secret_until is not None and row.previous_secret_until > now else None
    return Job(row.id, sub_id, row.attempts, row.event_id, row.type, row.body, row.created_at, row.url, row.secret,
               previous)


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the try after failed attempt number ``attempt`` (1, 2, …): base x 2^(attempt-1),
    at most ``cap``, times a random factor in [0.5, 1] so that receivers coming back are not hit by
    every sender in the same second."""
    delay = min(cap, base * (2 ** min(attempt - 1, 40)))
    return delay * (rng or random).uniform(0.5, 1.0)


def record(sessions: sessionmaker[Session], job: Job, owner: str, *, started: datetime, duration_ms: float,
           status_code: int | None, error: str | None, ok: bool, next_at: datetime | None, lease_until: datetime,
           give_up_before: datetime | None = None) -> str:
    """Log the attempt and move the delivery on: ``delivered``, ``failed`` (``next_at`` None: the retry
    window is over; also every later pending event of the subscription recorded before
    ``give_up_before``) or still ``pending`` until ``next_at``. Returns the outcome ("" when the
    delivery was no longer pending: its subscription was deleted meanwhile)."""
    t = D.__table__
    attempt = job.attempts + 1
    now = started + timedelta(milliseconds=duration_ms)
    with sessions.begin() as session:
        session.execute(insert(A), [{"delivery_id": job.delivery_id, "attempt": attempt, "started_at": started,
                                     "duration_ms": duration_ms, "status_code": status_code,
                                     "error": error[:512] if error else None}])
        if ok:
            values, outcome = {"status": "delivered", "finished_at": now}, "delivered"
        elif next_at is None:
            values, outcome = {"status": "failed", "finished_at": now}, "failed"
        else:
            values, outcome = {"next_attempt_at": next_at}, "retry"
        done = session.execute(t.update().where(t.c.id == job.delivery_id, t.c.status == "pending")
                               .values(attempts=attempt, **values))
        if done.rowcount != 1:
            return ""
        if outcome == "failed" and give_up_before is not None:
            old = select(E.id).where(E.created_at < give_up_before).scalar_subquery()
            session.execute(t.update().where(t.c.subscription_id == job.subscription_id, t.c.status == "pending",
                                             t.c.event_pk.in_(old)).values(status="failed", finished_at=now))
        s = S.__table__
        session.execute(s.update().where(s.c.id == job.subscription_id, s.c.lease_owner == owner)
                        .values(lease_until=lease_until))
    return outcome


def prune(sessions: sessionmaker[Session], before: datetime) -> int:
    """Delete finished deliveries (with their attempts) and dispatched events older than ``before``."""
    finished = select(D.id).where(D.status != "pending", D.finished_at < before)
    with sessions.begin() as session:
        session.execute(delete(A).where(A.delivery_id.in_(finished)))
        n = session.execute(delete(D).where(D.status != "pending", D.finished_at < before)).rowcount
        session.execute(delete(E).where(E.dispatched_at < before, ~exists().where(D.event_pk == E.id)))
    return n or 0
