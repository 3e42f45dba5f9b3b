"""supervisor workspace: item revisions (append-only history), queue keys, claims

Revision ID: 0004_supervisor
Revises: 0003_hardening
Create Date: 2026-12-06

Self-contained (only these tables and columns), so it can be re-chained on top of other heads.
Existing rows get their queue keys (margin, review reasons) computed from the stored predictions;
items reviewed before this revision get a history of two states: the prediction and the decision
(with the priority and route they had then: decisions before 0004 did not re-prioritise).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004_supervisor"
down_revision: Union[str, Sequence[str], None] = "0003_hardening"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_LABELS = ("category", "category_secondary", "sentiment", "urgency")
_STATE = ("urgent", "important", "quadrant", "level", "respond_by", "resolve_by", "route")


def upgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("margin", sa.Float(), nullable=False, server_default=sa.text("1")))
        batch.add_column(sa.Column("review_reasons", sa.String(512), nullable=False, server_default=""))
        batch.add_column(sa.Column("claimed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
    op.create_index("ix_classifications_queue_order", "classifications",
                    ["level", "respond_by", "margin", "received_at", "id"])
    op.create_table(
        "item_revisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("classification_id", sa.Integer(), sa.ForeignKey("classifications.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("important", sa.Boolean(), nullable=False),
        sa.Column("quadrant", sa.String(32), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("respond_by", sa.DateTime(), nullable=False),
        sa.Column("resolve_by", sa.DateTime(), nullable=False),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("classification_id", "revision", name="uq_item_revisions_item_revision"),
    )
    _backfill()


# The derivation of serving/db/derived.py as it stood at this revision, frozen here: a migration
# must give the same result whatever the application code becomes later.
_HEADS = ("category", "sentiment", "urgency")


def margin_of(predictions: dict) -> float:
    """The smallest top-1 minus top-2 probability over the heads (1.0 when there are no scores)."""
    margins = []
    for head in _HEADS:
        scores = sorted((float(v) for v in ((predictions.get(head) or {}).get("scores") or {}).values()), reverse=True)
        if len(scores) >= 2:
            margins.append(scores[0] - scores[1])
    return round(min(margins), 6) if margins else 1.0


def reasons_column(predictions: dict) -> str:
    """``",reason,reason,"``: a LIKE ``%,reason,%`` finds one reason exactly."""
    reasons = [r for r in predictions.get("review_reasons") or [] if isinstance(r, str)]
    return f",{','.join(reasons)}," if reasons else ""


def _backfill() -> None:
    conn = op.get_bind()
    c = sa.table("classifications", sa.column("id"), sa.column("predictions", sa.JSON()), sa.column("margin"),
                 sa.column("review_reasons"), sa.column("revision"), sa.column("reviewed_at"), sa.column("created_at"),
                 sa.column("reviewed_labels", sa.JSON()), sa.column("reviewed_by"), sa.column("review_note"),
                 *(sa.column(k) for k in (*_LABELS, *_STATE)))
    h = sa.table("item_revisions", *(sa.column(k) for k in (
        "classification_id", "revision", "kind", "reviewed_by", "note", "created_at", *_STATE)), sa.column("labels", sa.JSON()))
    rows = conn.execute(sa.select(c)).mappings().all()
    for r in rows:
        conn.execute(c.update().where(c.c.id == r["id"]).values(
            margin=margin_of(r["predictions"]), review_reasons=reasons_column(r["predictions"])))
        if r["reviewed_labels"] is None:
            continue
        state = {k: r[k] for k in _STATE}
        conn.execute(h.insert(), [
            {"classification_id": r["id"], "revision": 0, "kind": "prediction", "labels": {k: r[k] for k in _LABELS},
             "reviewed_by": None, "note": None, "created_at": r["created_at"], **state},
            {"classification_id": r["id"], "revision": 1, "kind": "review", "labels": r["reviewed_labels"],
             "reviewed_by": r["reviewed_by"], "note": r["review_note"], "created_at": r["reviewed_at"], **state},
        ])
        conn.execute(c.update().where(c.c.id == r["id"]).values(
            revision=1, **{k: r["reviewed_labels"].get(k) for k in _LABELS}))


def downgrade() -> None:
    op.drop_table("item_revisions")
    op.drop_index("ix_classifications_queue_order", table_name="classifications")
    with op.batch_alter_table("classifications") as batch:
        for name in ("claimed_until", "claimed_by", "review_reasons", "margin", "revision"):
            batch.drop_column(name)
