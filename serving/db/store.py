"""Reads and writes of stored classifications (blocking: call from a worker thread).

Datetimes cross this boundary aware and are stored as naive UTC (see serving/db/tables.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from classifier.priority import MatrixCounts, QUADRANTS
from classifier.labels import HEADS, URGENCY
from serving.db import outbox
from serving.db.derived import margin_of, reasons_column, urgency_risk_of
from serving.db.tables import Classification, ItemRevision


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


# Key of a row for the writer (serving/services.py:_save): the response dict of the item, which is
# given the row's stored id once inserted; not a column.
ANSWER = "_answer"


def save_classifications(engine: Engine, rows: list[dict[str, Any]], conn: Any = None,
                         tz: tzinfo | None = None) -> list[int]:
    """Insert rows, keyed by the table's column names, in one transaction (all or nothing): one
    request's, or several requests' together when the service groups concurrent writes (group commit).
    Returns the stored ids in the order of ``rows`` (classify answers them: GET /v1/items/{id}).

    Each row sent to review gets its ``item.queued`` event in the same transaction (the webhook outbox,
    serving/db/outbox.py; times in ``tz``).

    A Core executemany on a connection, not the ORM's bulk insert through a Session: this runs
    once per group commit on the hot path, and the ORM layer doubled its cost (≈150 vs 300 µs per
    SQLite commit of a few rows). On SQLite, RETURNING with ``sort_by_parameter_order`` ties each id
    to its row in the same batched statements; on PostgreSQL the ids come from the sequence first."""
    if not rows:
        return []
    rows = [{"sort_level": r["level"], "sort_reasons": "", **r, "margin": margin_of(r["predictions"]),
             "sort_risk": urgency_risk_of(r["predictions"]), "review_reasons": reasons_column(r["predictions"])} for r in rows]
    if conn is not None:  # the caller's transaction (rows stored with their idempotency record)
        return _insert(conn, rows, tz)
    with engine.begin() as conn:
        return _insert(conn, rows, tz)


def _insert(conn: Any, rows: list[dict[str, Any]], tz: tzinfo | None) -> list[int]:
    table = Classification.__table__
    if conn.dialect.name == "postgresql":
        # The ids drawn from the column's sequence first, then a plain executemany: RETURNING in
        # execute-many form cost 2-3x the insert on PostgreSQL (reports/2026-12-07-installed/stored-ids.md).
        ids = sorted(conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('classifications', 'id')) FROM generate_series(1, :n)"),
            {"n": len(rows)}).scalars())
        conn.execute(table.insert(), [{**r, "id": i} for r, i in zip(rows, ids)])
    else:
        ids = list(conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows).scalars())
    queued = [(outbox.ITEM_QUEUED, {"item": outbox.item_data({**r, "id": i}, tz)})
              for r, i in zip(rows, ids) if r.get("needs_review")]
    if queued:
        outbox.record_events(conn, queued, tz=tz)
    return ids


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


def stored_results(sessions: sessionmaker[Session], api_key_id: int, item_ids: list[str], since: datetime, tz: Any
                   ) -> dict[str, dict[str, Any]]:
    """Per caller item id that ``api_key_id`` sent at or after ``since`` (naive UTC), the classify
    result of its newest stored item, as it was answered (the model's labels and the priority of
    revision 0, not a later decision), marked ``"deduplicated": true``: the answer to a resent
    ticket when TRIAGE_DEDUP_ITEM_ID_SECONDS is on (serving/classify/pipeline.py)."""
    c, r = Classification, ItemRevision
    wanted = sorted(set(item_ids))
    if not wanted:
        return {}
    newest = (select(c.item_id, func.max(c.id).label("id"))
              .where(c.api_key_id == api_key_id, c.item_id.in_(wanted), c.created_at >= since)
              .group_by(c.item_id).subquery())
    with sessions() as session:
        rows = list(session.scalars(select(c).join(newest, c.id == newest.c.id)))
        decided = [row.id for row in rows if row.revision > 0]
        first = {rev.classification_id: rev for rev in session.scalars(
            select(r).where(r.classification_id.in_(decided), r.revision == 0))} if decided else {}
    found = {}
    for row in rows:
        state = first.get(row.id, row)  # the prediction's state: revision 0, or the row if never decided
        p = row.predictions
        found[row.item_id] = {
            "id": row.item_id, "stored_id": row.id,
            **{h: {k: p[h][k] for k in ("label", "confidence", "scores")} for h in HEADS},
            "category_secondary": p.get("category_secondary"),
            "priority": {"quadrant": state.quadrant, "level": state.level, "urgent": state.urgent,
                         "important": state.important,
                         "respond_by": from_storage(state.respond_by).astimezone(tz).isoformat(timespec="seconds"),
                         "resolve_by": from_storage(state.resolve_by).astimezone(tz).isoformat(timespec="seconds"),
                         "calendar_uncovered": state.calendar_uncovered},
            "route": state.route, "needs_review": row.needs_review, "review_reasons": list(p.get("review_reasons", [])),
            "deduplicated": True, "model_version": row.model_version,
        }
    return found


def fill_stored_ids(sessions: sessionmaker[Session], api_key_id: int, created_at: datetime,
                    results: list[dict[str, Any]]) -> None:
    """Give ``stored_id`` to the results of an idempotency record written before answers carried
    it: its rows are the key's rows stored at the record's ``created_at`` (one transaction, one
    clock reading), in request order."""
    c = Classification
    with sessions() as session:
        rows = list(session.execute(select(c.id, c.item_id).where(c.api_key_id == api_key_id, c.created_at == created_at)
                                    .order_by(c.id)))
    unused = list(rows)
    for result in results:
        match = next((row for row in unused if row.item_id == result.get("id")), None)
        if match is not None:
            unused.remove(match)
        result["stored_id"] = match.id if match is not None else None
