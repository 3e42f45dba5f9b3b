"""risk order: the level the review queue sorts an item at (sort_level) and the reasons that raised it

Revision ID: 0006_risk_order
Revises: 0005_calendar_uncovered
Create Date: 2026-12-07

Self-contained (only these columns and the queue index), so it can be re-chained on top of other
heads. Existing rows sort at their level; the service re-derives the raised ones for pending items
when it starts (serving/review/store.py resort_pending), because that needs the configured matrix.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006_risk_order"
down_revision: Union[str, Sequence[str], None] = "0005_calendar_uncovered"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("sort_level", sa.String(8), nullable=False, server_default="P4"))
        batch.add_column(sa.Column("sort_reasons", sa.String(512), nullable=False, server_default=""))
    c = sa.table("classifications", sa.column("sort_level"), sa.column("level"))
    op.get_bind().execute(c.update().values(sort_level=c.c.level))
    op.drop_index("ix_classifications_queue_order", table_name="classifications")
    op.create_index("ix_classifications_sort_order", "classifications",
                    ["sort_level", "respond_by", "margin", "received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_classifications_sort_order", table_name="classifications")
    op.create_index("ix_classifications_queue_order", "classifications",
                    ["level", "respond_by", "margin", "received_at", "id"])
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("sort_reasons")
        batch.drop_column("sort_level")
