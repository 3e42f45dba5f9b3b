"""calendar_uncovered: the resolution deadline counted days of a year without holiday data

Revision ID: 0005_calendar_uncovered
Revises: 0004_supervisor
Create Date: 2026-12-07

On the item (classifications) and on each of its states (item_revisions), like the other priority
columns. Self-contained (no application imports). Existing rows get false: whether a stored
deadline was approximate depends on the holiday data and config in force when it was computed,
which the row does not record; rows stored before this revision were counted on chinese-calendar's
years, and /v1/classify accepts received times at most a year ahead, so a stored deadline reaching
past the package's last year is possible but rare — a decision on such an item re-runs the rules
and sets the flag.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005_calendar_uncovered"
down_revision: Union[str, Sequence[str], None] = "0004_supervisor"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TABLES = ("classifications", "item_revisions")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("calendar_uncovered", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("calendar_uncovered")
