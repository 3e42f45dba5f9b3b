"""``item.deadline_missed``: a pending item (queued for review, nobody has decided) whose first-response
deadline (``respond_by``) has passed, reported once per item.

The worker looks every TRIAGE_WEBHOOK_DEADLINE_CHECK_SECONDS. An item is marked (``deadline_missed_at``)
by a conditional UPDATE in the transaction that records its event, so of several replicas looking at
once exactly one reports it. An item decided and then undone after its deadline is not reported again.
"""
from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from serving.db import outbox
from serving.db.store import from_storage
from serving.db.tables import Classification

C = Classification


def scan(sessions: sessionmaker[Session], now: datetime, tz: tzinfo | None = None, limit: int = 500) -> int:
    """Record the event for up to ``limit`` newly overdue items (``now``: naive UTC); returns how many."""
    overdue = (C.needs_review.is_(True), C.reviewed_at.is_(None), C.respond_by < now, C.deadline_missed_at.is_(None))
    with sessions.begin() as session:
        ids = list(session.scalars(select(C.id).where(*overdue).order_by(C.respond_by, C.id).limit(limit)))
        if not ids:
            return 0
        t = C.__table__
        mine = list(session.execute(t.update().where(t.c.id.in_(ids), t.c.deadline_missed_at.is_(None),
                                                     t.c.reviewed_at.is_(None))
                                    .values(deadline_missed_at=now).returning(t.c.id)).scalars())
        if not mine:
            return 0
        rows = list(session.scalars(select(C).where(C.id.in_(mine)).order_by(C.respond_by, C.id)))
        outbox.record_events(session, [
            (outbox.ITEM_DEADLINE_MISSED,
             {"item": outbox.item_data(r, tz),
              "overdue_seconds": int((from_storage(now) - from_storage(r.respond_by)).total_seconds())})
            for r in rows], tz=tz, at=now)
    return len(rows)
