"""claim take-overs: a supervisor who takes another's claim on an item, with a note (the item's history)

Revision ID: 0008_claim_takeovers
Revises: 0007_item_id_index
Create Date: 2026-12-07

Self-contained (one new table), so it can be re-chained on top of other heads.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_claim_takeovers"
down_revision: Union[str, Sequence[str], None] = "0007_item_id_index"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "claim_takeovers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("classification_id", sa.Integer(), sa.ForeignKey("classifications.id"), nullable=False),
        sa.Column("taken_by", sa.Integer(), nullable=False),
        sa.Column("taken_from", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_claim_takeovers_item", "claim_takeovers", ["classification_id"])


def downgrade() -> None:
    op.drop_index("ix_claim_takeovers_item", table_name="claim_takeovers")
    op.drop_table("claim_takeovers")
