"""risk inside a level: the queue orders the items of one sort level by P(urgency high), likeliest first

Revision ID: 0011_sort_risk
Revises: 0010_explanations
Create Date: 2026-12-08

Self-contained (one column and the queue index), so it can be re-chained on top of other heads.
Existing rows get the value from their stored prediction; the derivation is frozen below.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011_sort_risk"
down_revision: Union[str, Sequence[str], None] = "0010_explanations"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_OLD_ORDER = ["sort_level", "respond_by", "margin", "received_at", "id"]
_NEW_ORDER = ["sort_level", "sort_risk", "respond_by", "margin", "received_at", "id"]


def urgency_risk_of(predictions: dict | None) -> float:
    """serving/db/derived.py as it stood at this revision: 1 − P(urgency high), 1.0 without scores."""
    scores = ((predictions or {}).get("urgency") or {}).get("scores") or {}
    try:
        return round(1.0 - float(scores["high"]), 6)
    except (KeyError, TypeError, ValueError):
        return 1.0


def upgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("sort_risk", sa.Float(), nullable=False, server_default=sa.text("1")))
    conn = op.get_bind()
    c = sa.table("classifications", sa.column("id"), sa.column("predictions", sa.JSON()), sa.column("sort_risk"))
    for r in conn.execute(sa.select(c.c.id, c.c.predictions)).mappings().all():
        risk = urgency_risk_of(r["predictions"])
        if risk != 1.0:
            conn.execute(c.update().where(c.c.id == r["id"]).values(sort_risk=risk))
    op.drop_index("ix_classifications_sort_order", table_name="classifications")
    op.create_index("ix_classifications_sort_order", "classifications", _NEW_ORDER)


def downgrade() -> None:
    op.drop_index("ix_classifications_sort_order", table_name="classifications")
    op.create_index("ix_classifications_sort_order", "classifications", _OLD_ORDER)
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("sort_risk")
