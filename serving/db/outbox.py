"""The webhook outbox: events are rows written in the same transaction as the change they report.

An item stored by POST /v1/classify (serving/db/store.py) and a decision or undo (serving/review/store.py)
write their event here before they commit, so an event exists exactly when its change does: a crash, a
restart or a receiver that is down loses nothing, and nothing is announced that was rolled back. The
webhooks feature (serving/webhooks/) reads the rows and delivers them; this module is the platform's part
so that the features that store items never import the one that delivers.

``body`` is the JSON a receiver gets, fixed once: every attempt to every subscription sends the same bytes
with the same event id (at-least-once delivery; the receiver drops an id it has seen).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone, tzinfo
from typing import Any, Iterable, Mapping

from classifier.labels import DISPLAY_ZH, HEADS
from classifier.review import REASON_ZH
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from serving.db.tables import WebhookDelivery, WebhookEvent

ITEM_QUEUED = "item.queued"
ITEM_DECIDED = "item.decided"
ITEM_UNDONE = "item.undone"
ITEM_DEADLINE_MISSED = "item.deadline_missed"
EVENT_TYPES: tuple[str, ...] = (ITEM_QUEUED, ITEM_DECIDED, ITEM_UNDONE, ITEM_DEADLINE_MISSED)

LABEL_FIELDS = ("category", "category_secondary", "sentiment", "urgency")


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def record_event(target: Any, type_: str, data: Mapping[str, Any], *, tz: tzinfo | None = None,
                 at: datetime | None = None) -> str:
    """Write one event in ``target``'s transaction (a Session or a Connection); returns its id."""
    return record_events(target, [(type_, data)], tz=tz, at=at)[0]


def record_events(target: Any, events: Iterable[tuple[str, Mapping[str, Any]]], *, tz: tzinfo | None = None,
                  at: datetime | None = None) -> list[str]:
    """Write events (``(type, data)`` pairs) in ``target``'s transaction, in order; returns their ids.
    ``at``: naive UTC (default now); ``created`` in the body is in ``tz`` (default UTC)."""
    now = at or _utcnow()
    rows, ids = [], []
    for type_, data in events:
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}")
        event_id = new_event_id()
        body = {"id": event_id, "type": type_, "created": _iso(now, tz), "data": data}
        rows.append({"event_id": event_id, "type": type_, "created_at": now, "dispatched_at": None,
                     "body": json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)})
        ids.append(event_id)
    if rows:
        target.execute(WebhookEvent.__table__.insert(), rows)
    return ids


def _iso(dt: datetime | None, tz: tzinfo | None) -> str | None:
    if dt is None:
        return None
    aware = dt.replace(tzinfo=timezone.utc)
    return aware.astimezone(tz or timezone.utc).isoformat(timespec="seconds")


def item_data(row: Any, tz: tzinfo | None = None) -> dict[str, Any]:
    """An item as events describe it, from a stored row (ORM object) or the dict it was inserted from
    (with its new ``id``): enough to act on without a call back (the level it sorts at and why, in
    Chinese too, so an urgent one can page someone); ``GET /v1/items/{id}`` has the rest."""
    def get(key: str, default: Any = None) -> Any:
        return row.get(key, default) if isinstance(row, Mapping) else getattr(row, key, default)

    predictions = get("predictions") or {}
    column = get("review_reasons")
    reasons = ([r for r in column.split(",") if r] if isinstance(column, str)
               else [r for r in predictions.get("review_reasons") or [] if isinstance(r, str)])
    raised = [r for r in (get("sort_reasons") or "").split(",") if r]
    labels = {k: get(k) for k in LABEL_FIELDS}
    reviewed_at = get("reviewed_at")
    status = "reviewed" if reviewed_at is not None else ("pending" if get("needs_review") else "not_queued")
    return {
        "id": get("id"),
        "item_id": get("item_id"),
        "request_id": get("request_id"),
        "path": f"/v1/items/{get('id')}",
        "status": status,
        "revision": get("revision") or 0,
        "text": get("text_masked"),
        "channel": get("channel"),
        "labels": labels,
        "labels_zh": {k: DISPLAY_ZH.get(v, v) for k, v in labels.items() if v is not None},
        "confidence": {h: (predictions.get(h) or {}).get("confidence") for h in HEADS},
        "priority": {"level": get("level"), "quadrant": get("quadrant"), "urgent": bool(get("urgent")),
                     "important": bool(get("important")), "respond_by": _iso(get("respond_by"), tz),
                     "resolve_by": _iso(get("resolve_by"), tz)},
        # The level the review queue sorts it at: above `priority.level` when it may be urgent or regulatory.
        "sort": {"level": get("sort_level") or get("level"), "raised_by": raised,
                 "raised_by_zh": [REASON_ZH.get(r, r) for r in raised]},
        "review_reasons": [{"reason": r, "zh": REASON_ZH.get(r, r)} for r in reasons],
        "route": get("route"),
        "model_version": get("model_version"),
        "received_at": _iso(get("received_at"), tz),
        "reviewed_at": _iso(reviewed_at, tz),
    }


def decision_data(row: Any, tz: tzinfo | None, *, kind: str, by: Mapping[str, Any] | None, note: str | None,
                  corrected: list[str] | None = None, changed: list[str] | None = None) -> dict[str, Any]:
    """``item.decided`` / ``item.undone``: the item as it now stands and the change that made it so."""
    change = {"kind": kind, "revision": getattr(row, "revision", None), "by": dict(by) if by else None, "note": note}
    if corrected is not None:
        change["corrected"] = corrected
    if changed is not None:
        change["changed"] = changed
    return {"item": item_data(row, tz), "decision": change}


def depth(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Events not yet fanned out to subscriptions, and deliveries waiting (for their turn or a retry)."""
    with sessions() as session:
        events = session.scalar(select(func.count()).select_from(WebhookEvent)
                                .where(WebhookEvent.dispatched_at.is_(None))) or 0
        pending = session.scalar(select(func.count()).select_from(WebhookDelivery)
                                 .where(WebhookDelivery.status == "pending")) or 0
    return {"events": int(events), "deliveries": int(pending)}
