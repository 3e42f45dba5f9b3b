"""Reads and writes of stored classifications (blocking: call from a worker thread).

Datetimes cross this boundary aware and are stored as naive UTC (see serving/db/tables.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from classifier.priority import MatrixCounts, QUADRANTS
from classifier.labels import URGENCY
from serving.db.derived import margin_of, reasons_column
from serving.db.tables import Classification


def to_storage(dt: datetime) -> datetime:
    """Aware → naive UTC."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def from_storage(dt: datetime) -> datetime:
    """Naive UTC → aware UTC."""
    return dt.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class WriteDeadline:
    """Rides with a request's rows to the group-commit writer: ``at`` (``time.monotonic()``) is
    when the request stops waiting. The writer lets a transaction wait for SQLite's write lock only
    until the earliest deadline of its requests (serving/services.py), so a write that started in
    time cannot commit long after its request was answered."""

    at: float


def save_classifications(engine: Engine, rows: list[dict[str, Any]], conn: Any = None) -> None:
    """Insert rows, keyed by the table's column names, in one transaction (all or nothing): one
    request's, or several requests' together when the service groups concurrent writes (group commit).

    A Core executemany on a connection, not the ORM's bulk insert through a Session: this runs
    once per group commit on the hot path, and the ORM layer doubled its cost (≈150 vs 300 µs per
    SQLite commit of a few rows)."""
    if not rows:
        return
    rows = [{"sort_level": r["level"], "sort_reasons": "", **r, "margin": margin_of(r["predictions"]),
             "review_reasons": reasons_column(r["predictions"])} for r in rows]
    if conn is not None:  # the caller's transaction (rows stored with their idempotency record)
        conn.execute(Classification.__table__.insert(), rows)
        return
    with engine.begin() as conn:
        conn.execute(Classification.__table__.insert(), rows)


@dataclass(frozen=True)
class MatrixQuery:
    start: datetime | None = None  # aware; inclusive
    end: datetime | None = None  # aware; exclusive
    channel: str | None = None
    category: str | None = None


def matrix_counts(sessions: sessionmaker[Session], q: MatrixQuery) -> tuple[MatrixCounts, dict[str, dict[str, int]]]:
    """Counts per quadrant and category, and per urgency label × importance, under the filters.

    Counting happens in the database (GROUP BY), so the cost does not grow with stored rows
    on the Python side.
    """
    c = Classification
    stmt = select(c.category, c.quadrant, c.urgency, c.important, func.count()).group_by(
        c.category, c.quadrant, c.urgency, c.important
    )
    if q.start is not None:
        stmt = stmt.where(c.received_at >= to_storage(q.start))
    if q.end is not None:
        stmt = stmt.where(c.received_at < to_storage(q.end))
    if q.channel is not None:
        stmt = stmt.where(c.channel == q.channel)
    if q.category is not None:
        stmt = stmt.where(c.category == q.category)
    counts = MatrixCounts()
    by_urgency = {u: {"important": 0, "not_important": 0} for u in URGENCY}
    with sessions() as session:
        for category, quadrant, urgency, important, n in session.execute(stmt):
            if quadrant not in QUADRANTS or urgency not in by_urgency:
                continue  # rows written by a build with other label sets: not countable here
            try:
                counts.add(category, quadrant, n)
            except ValueError:
                continue
            by_urgency[urgency]["important" if important else "not_important"] += n
    return counts, by_urgency


def review_queue_depth(sessions: sessionmaker[Session]) -> int:
    c = Classification
    with sessions() as session:
        return session.scalar(
            select(func.count()).select_from(c).where(c.needs_review.is_(True), c.reviewed_at.is_(None))
        ) or 0
