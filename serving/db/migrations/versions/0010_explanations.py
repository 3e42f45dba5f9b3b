"""explanations kept with their item; decisions found by time for the reviewer figures

Revision ID: 0010_explanations
Revises: 0009_webhooks
Create Date: 2026-12-07

Self-contained (one new table, one index), so it can be re-chained on top of other heads.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010_explanations"
down_revision: Union[str, Sequence[str], None] = "0009_webhooks"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "item_explanations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("classification_id", sa.Integer(), sa.ForeignKey("classifications.id"), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("classification_id", "cache_key", name="uq_item_explanations_item_key"),
    )
    op.create_index("ix_item_revisions_kind_created_at", "item_revisions", ["kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_item_revisions_kind_created_at", table_name="item_revisions")
    op.drop_table("item_explanations")
