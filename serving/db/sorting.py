"""The queue's sort columns, derived from a stored prediction and the matrix in force.

An item watched for a label (or flagged by a guideline rule) sorts at the level the matrix gives with
that label (``PriorityMatrix.sort_level``); a person's decision sorts at its own level. Stored as
``sort_level``/``sort_reasons`` so that the queue orders in SQL on every backend; re-derived when the
service starts (the watch table or the matrix may have changed).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from classifier.priority import PriorityMatrix
from serving.db.store import from_storage
from serving.db.tables import Classification

C = Classification

# The labels a person may decide, as stored columns of an item.
LABEL_FIELDS = ("category", "category_secondary", "sentiment", "urgency")


def current_labels(row: Classification) -> dict[str, Any]:
    return {k: getattr(row, k) for k in LABEL_FIELDS}


def sort_columns(matrix: PriorityMatrix, labels: dict[str, Any], reasons: Iterable[str], metadata: dict[str, Any],
                 received_at: datetime, level: str) -> dict[str, str]:
    """``sort_level`` and ``sort_reasons`` of an item nobody has decided yet (a decision's labels are
    a person's: then the item sorts at its level)."""
    sort = matrix.sort_level(labels, reasons, metadata, received_at, level=level)
    return {"sort_level": sort.level, "sort_reasons": f",{','.join(sort.raised_by)}," if sort.raised_by else ""}


def row_sort(row: Classification, matrix: PriorityMatrix, labels: dict[str, Any], level: str) -> dict[str, str]:
    reasons = [r for r in row.review_reasons.split(",") if r]
    try:
        return sort_columns(matrix, labels, reasons, row.metadata_masked, from_storage(row.received_at), level)
    except ValueError:  # labels of another build: it sorts at its level
        return {"sort_level": level, "sort_reasons": ""}


def resort_pending(sessions: sessionmaker[Session], matrix: PriorityMatrix) -> int:
    """Re-derive the sort level of the undecided items that have review reasons, under ``matrix``
    (run when the service starts: the watch table or the matrix may have changed, and rows
    migrated by 0006 start at their level). Returns how many changed."""
    changed = 0
    with sessions.begin() as session:
        rows = session.scalars(select(C).where(C.reviewed_at.is_(None), C.review_reasons != "", C.revision == 0))
        for row in rows:
            new = row_sort(row, matrix, current_labels(row), row.level)
            if (new["sort_level"], new["sort_reasons"]) != (row.sort_level, row.sort_reasons):
                row.sort_level, row.sort_reasons = new["sort_level"], new["sort_reasons"]
                changed += 1
    return changed
