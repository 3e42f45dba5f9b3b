"""The /insights view over stored results: the numbers of `triage report`
(classifier.analytics.insights.summarize) for what the service has classified, rendered as HTML
without plotting libraries (SVG bars and tables; serving/templates/insights.html), so the service needs no
[report] extra.

Stored texts are already PII-masked (serving/classify/pipeline.py); quotes are masked once more with the
same masker, which leaves masked text unchanged. The view reads at most ``limit`` of the newest
rows under the filters and says so when there were more.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from classifier.analytics.insights import Item, summarize
from classifier.labels import CATEGORY, DISPLAY_ZH, HEADS, LABELS
from classifier.priority import LEVELS, QUADRANTS
from classifier.text.pii import mask_text
from serving.db.tables import Classification
from serving.db.store import to_storage
from serving.http.templates import render
from serving.insights.matrix_page import render_filtered_view_page

DEFAULT_LIMIT = 20_000


@dataclass(frozen=True)
class InsightsQuery:
    start: datetime | None = None  # aware; inclusive
    end: datetime | None = None  # aware; exclusive
    channel: str | None = None
    category: str | None = None
    limit: int = DEFAULT_LIMIT


def load_items(sessions: sessionmaker[Session], q: InsightsQuery) -> tuple[list[Item], int]:
    """``(items, rows matching the filters)``: the newest ``q.limit`` rows as insight items."""
    c = Classification
    where = []
    if q.start is not None:
        where.append(c.received_at >= to_storage(q.start))
    if q.end is not None:
        where.append(c.received_at < to_storage(q.end))
    if q.channel is not None:
        where.append(c.channel == q.channel)
    if q.category is not None:
        where.append(c.category == q.category)
    rows = (select(c.category, c.sentiment, c.urgency, c.quadrant, c.level, c.needs_review, c.predictions,
                   c.text_masked, c.received_at, c.channel)
            .where(*where).order_by(c.received_at.desc(), c.id.desc()).limit(q.limit))
    items = []
    with sessions() as session:
        total = session.execute(select(func.count()).select_from(c).where(*where)).scalar_one()
        for category, sentiment, urgency, quadrant, level, review, predictions, text, received, channel in session.execute(rows):
            if category not in CATEGORY or sentiment not in LABELS["sentiment"] or urgency not in LABELS["urgency"] \
                    or quadrant not in QUADRANTS:
                continue  # rows written by a build with other label sets
            predictions = predictions or {}
            items.append(Item(
                category, sentiment, urgency, quadrant, level, bool(review),
                confidence={h: float((predictions.get(h) or {}).get("confidence") or 0.0) for h in HEADS},
                text=text, received=received.date(), segment=channel,
                review_reasons=list(predictions.get("review_reasons") or []),
            ))
    return items, total


def insights(sessions: sessionmaker[Session], q: InsightsQuery) -> dict[str, Any]:
    items, total = load_items(sessions, q)
    summary = summarize(items, mask_text, top_terms=8, quotes=3) if items else {"total": 0}
    summary["matching"] = total
    summary["truncated"] = total > len(items)
    return summary


def render_insights(summary: dict[str, Any], filters: dict[str, Any]) -> str:
    """serving/templates/insights.html (bars as SVG, so the view needs no inline style)."""
    return render(
        "insights.html",
        s=summary, filters=filters, zh=DISPLAY_ZH, heads=HEADS, labels=LABELS, categories=CATEGORY,
        quadrants=QUADRANTS, levels=LEVELS, head_zh={"category": "类别", "sentiment": "情感", "urgency": "紧急度"})


def render_insights_page() -> str:
    return render_filtered_view_page("反馈洞察 · Insights", "/v1/insights.html", "view", tall=True)
