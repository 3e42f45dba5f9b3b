"""webhook secret rotation: the previous secret and until when deliveries are signed with it too

Revision ID: 0012_webhook_secret_rotation
Revises: 0011_sort_risk
Create Date: 2026-12-08

Self-contained (two nullable columns), so it can be re-chained on top of other heads.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0012_webhook_secret_rotation"
down_revision: Union[str, Sequence[str], None] = "0011_sort_risk"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(128), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")
