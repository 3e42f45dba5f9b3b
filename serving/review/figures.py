"""Reviewer figures: how a team's reviewing goes, per reviewer (API key) and for the team.

Read from the append-only history (item_revisions): every ``review`` revision in the window is one
decision, by its reviewer, compared with the state it replaced (the revision before it) and the
model's prediction (the item's ``predictions``):

- pace: decisions, and decisions per *active* hour (clock hours in which the reviewer decided at
  least once: a reviewer who works two hours of a day is not measured over 24);
- overturn rate per head and per the model's label: the share of decisions whose label differs
  from the model's (what the review changes, and where the model is weakest);
- time to decision against the deadline, for first decisions (the state replaced was the model's):
  minutes from receipt to decision (median, p90), the share decided by the first-response deadline
  in force then, and the median time left (negative: late).

Blocking: call from a worker thread. GET /v1/review/figures answers it, the review page shows it and
/metrics exports it as gauges (serving/http/metrics.py).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from classifier.labels import HEADS
from serving.db.tables import ApiKey, Classification, ItemRevision


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


class _Tally:
    def __init__(self) -> None:
        self.decisions = 0
        self.hours: set[tuple] = set()
        self.overturn: dict[str, dict[str, list[int]]] = {h: defaultdict(lambda: [0, 0]) for h in HEADS}
        self.minutes: list[float] = []
        self.slack: list[float] = []
        self.in_time = 0

    def add(self, at: datetime, labels: dict[str, Any], predicted: dict[str, Any], first: bool,
            received_at: datetime, respond_by: datetime) -> None:
        self.decisions += 1
        self.hours.add((at.date(), at.hour))
        for head in HEADS:
            model = predicted.get(head)
            if model is None:
                continue
            cell = self.overturn[head][model]
            cell[0] += 1
            cell[1] += labels.get(head) != model
        if first:
            self.minutes.append((at - received_at).total_seconds() / 60)
            self.slack.append((respond_by - at).total_seconds() / 60)
            self.in_time += at <= respond_by

    def view(self) -> dict[str, Any]:
        overturn = {}
        for head in HEADS:
            cells = self.overturn[head]
            n = sum(c[0] for c in cells.values())
            k = sum(c[1] for c in cells.values())
            overturn[head] = {"decisions": n, "overturned": k, "rate": round(k / n, 4) if n else None,
                              "by_label": {label: {"decisions": c[0], "overturned": c[1], "rate": round(c[1] / c[0], 4)}
                                           for label, c in sorted(cells.items())}}
        first = len(self.minutes)
        return {
            "decisions": self.decisions,
            "active_hours": len(self.hours),
            "decisions_per_active_hour": round(self.decisions / len(self.hours), 2) if self.hours else None,
            "overturn": overturn,
            "time_to_decision": {
                "first_decisions": first,
                "minutes_p50": _quantile(self.minutes, 0.5), "minutes_p90": _quantile(self.minutes, 0.9),
                "within_deadline_rate": round(self.in_time / first, 4) if first else None,
                "minutes_left_p50": _quantile(self.slack, 0.5),
            },
        }


def reviewer_figures(sessions: sessionmaker[Session], start: datetime, end: datetime) -> dict[str, Any]:
    """Figures of the decisions made in ``[start, end)`` (naive UTC): per reviewer, and the team's."""
    R, prev, C = ItemRevision, aliased(ItemRevision), Classification
    stmt = (select(R.reviewed_by, R.created_at, R.labels, prev.kind, prev.respond_by, C.predictions, C.received_at)
            .join(prev, and_(prev.classification_id == R.classification_id, prev.revision == R.revision - 1))
            .join(C, C.id == R.classification_id)
            .where(R.kind == "review", R.created_at >= start, R.created_at < end))
    team, per = _Tally(), defaultdict(_Tally)
    with sessions() as session:
        rows = session.execute(stmt).all()
        keys = {r[0] for r in rows if r[0] is not None}
        names = {i: (name, prefix) for i, name, prefix in
                 session.execute(select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(ApiKey.id.in_(keys)))} if keys else {}
    for by, at, labels, prev_kind, respond_by, predictions, received_at in rows:
        predicted = {h: (predictions.get(h) or {}).get("label") for h in HEADS}
        first = prev_kind == "prediction"
        for tally in (team, per[by]):
            tally.add(at, labels or {}, predicted, first, received_at, respond_by)
    reviewers = []
    for key_id, tally in sorted(per.items(), key=lambda kv: -kv[1].decisions):
        name, prefix = names.get(key_id, (None, None))
        reviewers.append({"reviewer": {"key_id": key_id, "name": name, "prefix": prefix}, **tally.view()})
    return {"team": team.view(), "reviewers": reviewers}
