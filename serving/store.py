"""Reads and writes of stored classifications (blocking: call from a worker thread).

Datetimes cross this boundary aware and are stored as naive UTC (see serving/models.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from classifier.priority import MatrixCounts, QUADRANTS
from classifier.labels import URGENCY
from serving.models import Classification


def to_storage(dt: datetime) -> datetime:
    """Aware → naive UTC."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def from_storage(dt: datetime) -> datetime:
    """Naive UTC → aware UTC."""
    return dt.replace(tzinfo=timezone.utc)


def save_classifications(engine: Engine, rows: list[dict[str, Any]], conn: Any = None) -> None:
    """Insert rows, keyed by the table's column names, in one transaction (all or nothing): one
    request's, or several requests' together when the service groups concurrent writes (group commit).

    A Core executemany on a connection, not the ORM's bulk insert through a Session: this runs
    once per group commit on the hot path, and the ORM layer doubled its cost (≈150 vs 300 µs per
    SQLite commit of a few rows)."""
    if not rows:
        return
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


def review_queue(sessions: sessionmaker[Session], limit: int, offset: int) -> list[Classification]:
    """Oldest first: the queue is worked in arrival order."""
    c = Classification
    with sessions() as session:
        stmt = (
            select(c).where(c.needs_review.is_(True), c.reviewed_at.is_(None))
            .order_by(c.received_at, c.id).limit(limit).offset(offset)
        )
        return list(session.scalars(stmt))


# The labels a review settles, as stored columns and in `reviewed_labels`.
REVIEWED_FIELDS = ("category", "category_secondary", "sentiment", "urgency")


def record_review(
    sessions: sessionmaker[Session], item: int, labels: dict[str, str | None], at: datetime,
    by: int | None = None, note: str | None = None,
) -> dict[str, Any] | None:
    """Close a queued item's review with the reviewer's ``labels``: ``{head: label}`` for the heads
    they corrected (``category_secondary`` may be ``None``), the prediction stands for the rest.

    Returns ``{"labels": final labels, "corrected": [fields that differ from the prediction]}``,
    or ``None`` when the item is not waiting for review (unknown, not queued, already reviewed).
    Raises ``ValueError`` when the final secondary category equals the primary one.
    """
    c = Classification
    waiting = (c.id == item, c.needs_review.is_(True), c.reviewed_at.is_(None))
    with sessions.begin() as session:
        row = session.execute(select(*(getattr(c, k) for k in REVIEWED_FIELDS)).where(*waiting)).first()
        if row is None:
            return None
        predicted = dict(zip(REVIEWED_FIELDS, row))
        final = {**predicted, **labels}
        if "category" in labels and "category_secondary" not in labels and final["category_secondary"] == final["category"]:
            final["category_secondary"] = None  # the old runner-up became the primary
        if final["category_secondary"] is not None and final["category_secondary"] == final["category"]:
            raise ValueError(f"category_secondary must differ from category ({final['category']!r})")
        # Conditional, so that of two reviewers closing the item at once exactly one succeeds, on
        # SQLite (whose writes are serialized but whose SELECT holds no lock) as on PostgreSQL.
        closed = session.execute(update(c).where(*waiting).values(
            reviewed_at=to_storage(at), reviewed_labels=final, reviewed_by=by, review_note=note,
        ))
        if closed.rowcount != 1:
            return None
        return {"labels": final, "corrected": [k for k in predicted if final[k] != predicted[k]]}


def reviewed_training_rows(sessions: sessionmaker[Session], since: datetime | None = None) -> tuple[list[dict], int]:
    """Reviewed items as labelled training rows (``classifier.labels.LABELLED_FIELDS``: the stored,
    masked text and the reviewer's final labels), oldest review first, and how many of them had a
    label corrected. For `triage review export` and GET /v1/review/export."""
    c = Classification
    stmt = select(c).where(c.reviewed_labels.is_not(None))
    if since is not None:
        stmt = stmt.where(c.reviewed_at >= to_storage(since))
    with sessions() as session:
        items = list(session.scalars(stmt.order_by(c.reviewed_at, c.id)))
    rows = [{"id": f"review-{r.id}", "text": r.text_masked, **{k: r.reviewed_labels.get(k) for k in REVIEWED_FIELDS},
             "source": f"review:{r.model_version}"} for r in items]
    corrected = sum(any(r.reviewed_labels.get(k) != getattr(r, k) for k in REVIEWED_FIELDS) for r in items)
    return rows, corrected
