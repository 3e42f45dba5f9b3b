"""webhooks: subscriptions, the event outbox, deliveries and their attempts; when an item's deadline was missed

Revision ID: 0009_webhooks
Revises: 0008_claim_takeovers
Create Date: 2026-12-07

Self-contained (only these tables and the one column), so it can be re-chained on top of other heads.
Items already waiting past their first-response deadline are marked as notified: upgrading must not send
an item.deadline_missed for every old overdue item at once (serving/webhooks/deadlines.py).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_webhooks"
down_revision: Union[str, Sequence[str], None] = "0008_claim_takeovers"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("description", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_webhook_events_dispatched_at", "webhook_events", ["dispatched_at", "id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer, sa.ForeignKey("webhook_subscriptions.id"), nullable=False),
        sa.Column("event_pk", sa.Integer, sa.ForeignKey("webhook_events.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("subscription_id", "event_pk", name="uq_webhook_deliveries_subscription_event"),
    )
    op.create_index("ix_webhook_deliveries_pending", "webhook_deliveries", ["status", "subscription_id", "event_pk"])
    op.create_index("ix_webhook_deliveries_event_pk", "webhook_deliveries", ["event_pk"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("webhook_deliveries.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.String(512), nullable=True),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id", "attempt"])

    with op.batch_alter_table("classifications") as batch:
        batch.add_column(sa.Column("deadline_missed_at", sa.DateTime(), nullable=True))
    c = sa.table("classifications", sa.column("deadline_missed_at", sa.DateTime()), sa.column("respond_by", sa.DateTime()),
                 sa.column("needs_review", sa.Boolean()), sa.column("reviewed_at", sa.DateTime()))
    bind = op.get_bind()
    # Now, as naive UTC like the stored times (PostgreSQL's now() is in the session's zone).
    now = sa.text("timezone('utc', now())") if bind.dialect.name == "postgresql" else sa.func.current_timestamp()
    bind.execute(c.update().where(c.c.needs_review.is_(True), c.c.reviewed_at.is_(None), c.c.respond_by < now)
                          .values(deadline_missed_at=c.c.respond_by))


def downgrade() -> None:
    with op.batch_alter_table("classifications") as batch:
        batch.drop_column("deadline_missed_at")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_subscriptions")
