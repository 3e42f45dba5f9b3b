"""The one JSON shape of a stored item, built straight from its row: the queue lists it, the item
endpoints return it (with its history), a decision answers with it, and a 409 carries it.

Times are ISO 8601 in the priority matrix's zone (Asia/Shanghai by default), like /v1/classify.
"""
from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Mapping

from classifier.labels import DISPLAY_ZH, HEADS
from classifier.priority import POSSIBLE_REASONS, RULE_PREFIX
from classifier.signals import signal_of
from serving.db.tables import Classification, ItemRevision
from serving.db.sorting import current_labels
from serving.db.store import from_storage


# How the list names what an item is watched for (the queue's risk order); other labels: 疑似 + name.
_SUSPECTED_ZH = {"urgency": {"high": "疑似紧急"}, "category": {"contract_legal": "疑似合同法律纠纷"}}


def watched_zh(reason: str) -> str:
    """``possible_high_urgency`` → 疑似紧急, ``rule:money_gone`` → 规则：资金不明减少 (the signal's own
    Chinese name; an unknown rule by its name)."""
    if reason.startswith(RULE_PREFIX):
        signal = signal_of(reason)
        return signal.zh if signal else f"规则 {reason[len(RULE_PREFIX):]}"
    (head, label), = (POSSIBLE_REASONS.get(reason) or {"": reason}).items()
    return _SUSPECTED_ZH.get(head, {}).get(label) or f"疑似{DISPLAY_ZH.get(label, label)}"


def sort_view(row: Classification) -> dict[str, Any] | None:
    """Why the queue sorts an item above its level (None when it sorts at its level)."""
    raised = [r for r in row.sort_reasons.split(",") if r]
    if not raised or row.sort_level == row.level:
        return None
    return {"level": row.sort_level, "raised_by": raised,
            "note": f"{'、'.join(dict.fromkeys(watched_zh(r) for r in raised))}：按{row.sort_level}排序"}


def local(dt: datetime | None, tz: tzinfo) -> str | None:
    return None if dt is None else from_storage(dt).astimezone(tz).isoformat(timespec="seconds")


def predicted_labels(row: Classification) -> dict[str, Any]:
    p = row.predictions
    return {**{h: (p.get(h) or {}).get("label") for h in HEADS}, "category_secondary": p.get("category_secondary")}


def status_of(row: Classification) -> str:
    """pending: waiting in the queue; reviewed: a person's decision is in force; not_queued: the
    model's labels stand and nobody has decided (any item can still be reviewed)."""
    if row.reviewed_at is not None:
        return "reviewed"
    return "pending" if row.needs_review else "not_queued"


def _priority(obj: Classification | ItemRevision, tz: tzinfo) -> dict[str, Any]:
    return {"quadrant": obj.quadrant, "level": obj.level, "urgent": obj.urgent, "important": obj.important,
            "respond_by": local(obj.respond_by, tz), "resolve_by": local(obj.resolve_by, tz),
            "calendar_uncovered": bool(obj.calendar_uncovered)}


def reviewer(key_id: int | None, names: Mapping[int, dict[str, Any]]) -> dict[str, Any] | None:
    if key_id is None:
        return None
    return names.get(key_id) or {"key_id": key_id, "name": None, "prefix": None}


def item_view(row: Classification, tz: tzinfo, names: Mapping[int, dict[str, Any]] | None = None,
              now: datetime | None = None) -> dict[str, Any]:
    names = names or {}
    reasons = [r for r in row.review_reasons.split(",") if r]
    claimed = row.claimed_by is not None and row.claimed_until is not None and (now is None or row.claimed_until > now)
    return {
        "id": row.id,
        "item_id": row.item_id,
        "request_id": row.request_id,
        "text": row.text_masked,
        "metadata": row.metadata_masked,
        "model_version": row.model_version,
        "received_at": local(row.received_at, tz),
        "predictions": row.predictions,
        "labels": current_labels(row),
        "priority": _priority(row, tz),
        "route": row.route,
        "needs_review": row.needs_review,
        "review_reasons": reasons,
        "margin": row.margin,
        "sort": sort_view(row),
        "status": status_of(row),
        "revision": row.revision,
        "review": None if row.reviewed_at is None else {
            "reviewed_at": local(row.reviewed_at, tz), "reviewer": reviewer(row.reviewed_by, names), "note": row.review_note},
        "claim": {"reviewer": reviewer(row.claimed_by, names), "until": local(row.claimed_until, tz)} if claimed else None,
    }


def revision_view(rev: ItemRevision, tz: tzinfo, names: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    return {
        "revision": rev.revision,
        "kind": rev.kind,
        "at": local(rev.created_at, tz),
        "reviewer": reviewer(rev.reviewed_by, names),
        "labels": rev.labels,
        "priority": _priority(rev, tz),
        "route": rev.route,
        "note": rev.note,
    }
