"""review decisions: the labels a supervisor confirmed or corrected, who, and a note

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot add several columns and an index in place otherwise.
    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("reviewed_labels", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("review_note", sa.Text(), nullable=True))
    op.create_index("ix_classifications_reviewed_at", "classifications", ["reviewed_at"])


def downgrade() -> None:
    op.drop_index("ix_classifications_reviewed_at", table_name="classifications")
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("review_note")
        batch.drop_column("reviewed_by")
        batch.drop_column("reviewed_labels")
