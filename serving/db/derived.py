"""Queue keys derived from a stored prediction: how uncertain it is and why it was queued.

Derived once, when a row is stored (serving/db/store.py) or migrated (0004), so that the queue can
sort and filter in SQL on every backend without reading JSON.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from classifier.labels import HEADS
from classifier.review import DEFAULT_WATCH_CLASSES, REASON_ZH, uncertain_reason, watch_reason

# Review reason -> the head it is about (the head filter of the queue matches any of its reasons).
REASON_HEAD: dict[str, str] = {
    **{uncertain_reason(h): h for h in HEADS},
    **{watch_reason(k): k.partition(".")[0] for k in DEFAULT_WATCH_CLASSES},
}
REASONS: tuple[str, ...] = tuple(REASON_ZH)


def margin_of(predictions: Mapping[str, Any]) -> float:
    """The smallest top-1 minus top-2 probability over the heads (1.0 when there are no scores)."""
    margins = []
    for head in HEADS:
        scores = sorted((float(v) for v in ((predictions.get(head) or {}).get("scores") or {}).values()), reverse=True)
        if len(scores) >= 2:
            margins.append(scores[0] - scores[1])
    return round(min(margins), 6) if margins else 1.0


def urgency_risk_of(predictions: Mapping[str, Any]) -> float:
    """``1 − P(urgency high)`` of the prediction (1.0 when there are no scores): the queue's order
    inside a sort level, ascending, so that the item likeliest to be urgent comes first.

    Why this score: the review policy's urgent watch (and the model's own "high") rank by it, and
    reviewing by it catches far more urgent items per reviewed item than any cut-off. A watch fitted
    to a tight budget can flag almost every queued item, and then the sort level alone no longer
    separates them (reports/2026-12-07-round4-levers/). Stored as the complement so that every key
    of the queue's keyset order ascends."""
    scores = (predictions.get("urgency") or {}).get("scores") or {}
    try:
        return round(1.0 - float(scores["high"]), 6)
    except (KeyError, TypeError, ValueError):
        return 1.0


def reasons_column(predictions: Mapping[str, Any]) -> str:
    """``",reason,reason,"``: a LIKE ``%,reason,%`` finds one reason exactly."""
    reasons = [r for r in predictions.get("review_reasons") or [] if isinstance(r, str)]
    return f",{','.join(reasons)}," if reasons else ""


def reasons_of_heads(heads: Iterable[str]) -> list[str]:
    return [r for r, h in REASON_HEAD.items() if h in set(heads)]
