"""find a caller's item: index on classifications.item_id (GET /v1/items?item_id=)

Revision ID: 0007_item_id_index
Revises: 0006_risk_order
Create Date: 2026-12-07
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0007_item_id_index"
down_revision: Union[str, Sequence[str], None] = "0006_risk_order"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_classifications_item_id", "classifications", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_classifications_item_id", table_name="classifications")
