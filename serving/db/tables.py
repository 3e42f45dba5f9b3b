"""SQLAlchemy 2.0 tables. Schema changes go through Alembic (serving/db/migrations), never create_all.

Timestamps are stored as naive UTC on every backend (SQLite has no time-zone type), and
converted to/from aware datetimes at the edges (serving/db/store.py).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # sha256 hex of the whole key; the key itself is shown once, at creation, and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # First characters of the key, safe to display so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class PriorityColumns:
    """The priority in force for an item — the matrix's inputs and outputs, deadlines and route
    (classifier/priority.py, routing.py): on the item itself, and as a snapshot in each revision."""

    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False)
    important: Mapped[bool] = mapped_column(Boolean, nullable=False)
    quadrant: Mapped[str] = mapped_column(String(32), nullable=False)
    level: Mapped[str] = mapped_column(String(8), nullable=False)
    respond_by: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    resolve_by: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    route: Mapped[str] = mapped_column(String(64), nullable=False)
    # resolve_by counted days of a year without holiday data (Monday-Friday assumed): approximate
    # (classifier/calendar.py; migration 0005).
    calendar_uncovered: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())


class Classification(PriorityColumns, Base):
    """One classified item of one POST /v1/classify request (text already PII-masked)."""

    __tablename__ = "classifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    item_id: Mapped[str] = mapped_column(String(256), nullable=False)
    api_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text_masked: Mapped[str] = mapped_column(Text, nullable=False)
    metadata_masked: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False)
    # {"category": {label, confidence, scores}, "sentiment": ..., "urgency": ..., "category_secondary": ...}
    predictions: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    model_version: Mapped[str] = mapped_column(String(128), nullable=False)

    # Denormalised for the matrix filters and counts (GET /v1/matrix).
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    category_secondary: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sentiment: Mapped[str] = mapped_column(String(32), nullable=False)
    urgency: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(256), nullable=True)

    needs_review: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # Set when a person has reviewed an abstained item; the review-queue depth counts the unset ones.
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    # The labels the reviewer settled on (predicted where confirmed, theirs where corrected):
    # {"category", "category_secondary", "sentiment", "urgency"}. `triage review export` turns
    # these into labelled training rows.
    reviewed_labels: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    reviewed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # api_keys.id
    review_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)

    # --- supervisor workspace (serving/review/, migration 0004) ---------------------------------
    # The label, priority and route columns above are the item's *current* state: a decision
    # re-runs the rules and overwrites them, while `predictions` keeps what the model said and
    # item_revisions keeps every state in order. `revision` is the number of the current state
    # (0 = the prediction): a decision names the revision it was made on, so a stale one is refused.
    revision: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # Smallest top-1 minus top-2 calibrated probability over the heads: the queue's uncertainty key.
    margin: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("1"))
    # The review reasons as ",reason,reason," so that one LIKE filters them on every backend.
    review_reasons: Mapped[str] = mapped_column(String(512), nullable=False, server_default="")
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # api_keys.id
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)

    # --- risk order (migration 0006) -------------------------------------------------------------
    # The level the queue sorts the item at: `level`, or more pressing when the review policy queued
    # it because a high-stakes label may hold (PriorityMatrix.sort_level); after a decision, `level`.
    sort_level: Mapped[str] = mapped_column(String(8), nullable=False, server_default="P4")
    # The review reasons that raised it, as ",reason," ("" when `level` stands).
    sort_reasons: Mapped[str] = mapped_column(String(512), nullable=False, server_default="")
    # --- risk inside a level (migration 0011) ------------------------------------------------------
    # 1 − P(urgency high) of the prediction (serving/db/derived.urgency_risk_of): inside a sort level the
    # likeliest urgent item first. The model's score, so it stays when a person decides the labels.
    sort_risk: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("1"))

    # --- webhooks (migration 0009) -----------------------------------------------------------------
    # When item.deadline_missed was recorded for this item (it is recorded once per item).
    deadline_missed_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)

    __table_args__ = (
        Index("ix_classifications_received_at", "received_at"),
        Index("ix_classifications_review_queue", "needs_review", "reviewed_at"),
        Index("ix_classifications_reviewed_at", "reviewed_at"),
        Index("ix_classifications_item_id", "item_id"),  # GET /v1/items?item_id= (migration 0007)
        Index("ix_classifications_sort_order", "sort_level", "sort_risk", "respond_by", "margin", "received_at", "id"),
    )


class ItemRevision(PriorityColumns, Base):
    """One state of a stored item, append-only: revision 0 is the model's prediction (written when
    the first decision replaces it), then every review, revision and undo in order."""

    __tablename__ = "item_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classification_id: Mapped[int] = mapped_column(Integer, ForeignKey("classifications.id"), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # prediction | review | undo
    # {"category", "category_secondary", "sentiment", "urgency"}
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    reviewed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # api_keys.id; None for the prediction
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("classification_id", "revision", name="uq_item_revisions_item_revision"),
                      # the reviewer figures read the decisions of a time window (migration 0010)
                      Index("ix_item_revisions_kind_created_at", "kind", "created_at"))


class ItemExplanation(Base):
    """An item's explanation (serving/review/explain.py) as computed for one model version, text,
    labels and reasons (``cache_key``: their digest): a restart or another service process opens
    the item without computing it again (migration 0010)."""

    __tablename__ = "item_explanations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classification_id: Mapped[int] = mapped_column(Integer, ForeignKey("classifications.id"), nullable=False)
    cache_key: Mapped[str] = mapped_column(String(64), nullable=False)
    model_version: Mapped[str] = mapped_column(String(128), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("classification_id", "cache_key", name="uq_item_explanations_item_key"),)


class ClaimTakeover(Base):
    """A supervisor took over another's live claim on an item, saying why (POST /v1/items/{id}/claim
    with ``take_over``): shown with the item's history. Append-only (migration 0008)."""

    __tablename__ = "claim_takeovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    classification_id: Mapped[int] = mapped_column(Integer, ForeignKey("classifications.id"), nullable=False)
    taken_by: Mapped[int] = mapped_column(Integer, nullable=False)  # api_keys.id
    taken_from: Mapped[int | None] = mapped_column(Integer, nullable=True)  # api_keys.id
    note: Mapped[str] = mapped_column(Text, nullable=False)  # masked
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)

    __table_args__ = (Index("ix_claim_takeovers_item", "classification_id"),)


class IdempotencyRecord(Base):
    """The stored response of a POST /v1/classify sent with an ``Idempotency-Key``: a retry with
    the same key and body gets it back instead of a second set of rows (serving/http/idempotency.py).
    Written in the same transaction as the request's classifications, so either both exist or
    neither does."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[int] = mapped_column(Integer, nullable=False)
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    body_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    response: Mapped[str] = mapped_column(Text, nullable=False)  # the JSON body, as sent
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)

    __table_args__ = (
        Index("ux_idempotency_keys_key", "api_key_id", "key", unique=True),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )


# --- webhooks (serving/db/outbox.py writes events, serving/webhooks/ delivers them; migration 0009) ----


class WebhookSubscription(Base):
    """A receiver URL and the event types it wants; ``secret`` signs every delivery (HMAC-SHA256) and
    is shown once, when the subscription is created or its secret rotated; ``previous_secret`` signs
    them too until ``previous_secret_until``, so a receiver can switch without refusing any (migration
    0012). ``lease_*``: which service process delivers to this subscription now (one at a time, so its
    events go out in order, on any number of replicas)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    events: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    previous_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    description: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class WebhookEvent(Base):
    """The outbox: one row per event, written in the transaction that stores the item or the decision,
    so an event exists exactly when its change does. ``body`` is the JSON sent, byte for byte, on
    every attempt to every subscription. ``dispatched_at``: when deliveries were made for it."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)

    __table_args__ = (Index("ix_webhook_events_dispatched_at", "dispatched_at", "id"),)


class WebhookDelivery(Base):
    """One event for one subscription: pending until a 2xx answer (delivered), or failed once the
    retry window is over, or cancelled when the subscription is deleted."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(Integer, ForeignKey("webhook_subscriptions.id"), nullable=False)
    event_pk: Mapped[int] = mapped_column(Integer, ForeignKey("webhook_events.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending | delivered | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("subscription_id", "event_pk", name="uq_webhook_deliveries_subscription_event"),
        Index("ix_webhook_deliveries_pending", "status", "subscription_id", "event_pk"),
        Index("ix_webhook_deliveries_event_pk", "event_pk"),
    )


class WebhookAttempt(Base):
    """The delivery log: one row per HTTP attempt (status code, or the error when there was none)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(Integer, ForeignKey("webhook_deliveries.id"), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(512), nullable=True)

    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id", "attempt"),)
