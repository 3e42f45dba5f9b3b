"""The /insights view over stored results: the numbers of `triage report`
(classifier.analytics.insights.summarize) for what the service has classified, rendered as HTML
without plotting libraries (CSS bars and tables), so the service needs no [report] extra.

Stored texts are already PII-masked (serving/classify/pipeline.py); quotes are masked once more with the
same masker, which leaves masked text unchanged. The view reads at most ``limit`` of the newest
rows under the filters and says so when there were more.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from classifier.analytics.insights import Item, summarize
from classifier.labels import CATEGORY, DISPLAY_ZH, HEADS, LABELS
from classifier.priority import LEVELS, QUADRANTS
from classifier.text.pii import mask_text
from serving.db.tables import Classification
from serving.db.store import to_storage
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


_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>反馈洞察 · Insights</title>
<style>
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 1.5rem; color: #222; }
 h2 { border-bottom: 2px solid #4a7ebb; margin-top: 1.8rem; }
 table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .9rem; }
 th, td { border: 1px solid #ddd; padding: .3rem .55rem; text-align: left; }
 td.num { text-align: right; }
 .bar { display: inline-block; height: .8rem; background: #4a7ebb; vertical-align: middle; }
 .muted { color: #666; font-size: .9rem; }
 .terms span { display: inline-block; background: #eef3fa; border-radius: 3px; padding: 0 .3rem; margin: .1rem; }
 blockquote { margin: .3rem 0; padding: .2rem .6rem; border-left: 3px solid #4a7ebb; background: #fafafa; }
</style>
</head>
<body>
<h1>反馈洞察 <span class="muted">insights</span></h1>
<p class="muted">共 {{ s.total }} 条{% if s.truncated %}（符合条件 {{ s.matching }} 条，显示最新 {{ s.total }} 条）{% endif %} ·
 时间 {{ filters.from or "—" }} ～ {{ filters.to or "—" }} · 渠道 {{ filters.channel or "全部" }} ·
 类别 {{ zh.get(filters.category, filters.category) if filters.category else "全部" }}</p>
{% if not s.total %}<p>没有符合条件的结果。</p>{% else %}
<h2>各维度分布</h2>
<table><tr><th>维度</th><th>标签</th><th>数量</th><th>占比</th></tr>
{% for h in heads %}{% for l in labels[h] %}{% set n = s.distribution[h][l] %}
<tr><td>{{ head_zh[h] }}</td><td>{{ zh[l] }}</td><td class="num">{{ n }}</td>
<td><span class="bar" style="width: {{ (200 * n / s.total) | round(1) }}px"></span> {{ "{:.1%}".format(n / s.total) }}</td></tr>
{% endfor %}{% endfor %}</table>
<h2>类别 × 情感</h2>
<table><tr><th></th>{% for x in labels.sentiment %}<th>{{ zh[x] }}</th>{% endfor %}</tr>
{% for c in categories %}<tr><td>{{ zh[c] }}</td>{% for x in labels.sentiment %}<td class="num">{{ s.category_sentiment[c][x] }}</td>{% endfor %}</tr>{% endfor %}</table>
<h2>优先级矩阵</h2>
<table><tr><th></th>{% for q in quadrants %}<th>{{ zh[q] }}</th>{% endfor %}</tr>
{% for c in categories %}<tr><td>{{ zh[c] }}</td>{% for q in quadrants %}<td class="num">{{ s.matrix.by_category[c][q] }}</td>{% endfor %}</tr>{% endfor %}
<tr><th>合计</th>{% for q in quadrants %}<th class="num">{{ s.matrix.cells[q] }}</th>{% endfor %}</tr></table>
<h2>人工复核</h2>
<p>需复核 {{ s.review.count }} 条（{{ "{:.1%}".format(s.review.share) }}）</p>
<h2>趋势{% if s.trend.unit %}（按{{ {"day": "日", "week": "周", "month": "月"}[s.trend.unit] }}）{% endif %}</h2>
<table><tr><th>时间</th><th>数量</th><th>负面占比</th><th>P1/P2 占比</th></tr>
{% for b in s.trend.buckets %}<tr><td>{{ b.bucket }}</td><td class="num">{{ b.volume }}</td>
<td class="num">{{ "{:.1%}".format(b.negative_share) }}</td><td class="num">{{ "{:.1%}".format(b.p1_p2_share) }}</td></tr>{% endfor %}</table>
<h2>热词</h2>
<table>{% for c in categories %}<tr><td>{{ zh[c] }}</td><td class="terms">{% for t, w in s.terms.by_category[c] %}<span>{{ t }}</span>{% endfor %}</td></tr>{% endfor %}
{% for q in quadrants %}<tr><td>{{ zh[q] }}</td><td class="terms">{% for t, w in s.terms.by_cell[q] %}<span>{{ t }}</span>{% endfor %}</td></tr>{% endfor %}</table>
<h2>代表性原文（已脱敏）</h2>
{% for c in categories %}{% if s.quotes.by_category[c] %}<h3>{{ zh[c] }}</h3>
{% for q in s.quotes.by_category[c] %}<blockquote>{{ q.text }} <span class="muted">{{ q.level }} · {{ q.confidence }}</span></blockquote>{% endfor %}{% endif %}{% endfor %}
<h2>渠道对比</h2>
<table><tr><th>渠道</th><th>数量</th><th>负面</th><th>P1/P2</th><th>复核</th></tr>
{% for r in s.segments.rows %}<tr><td>{{ r.segment }}</td><td class="num">{{ r.volume }}</td><td class="num">{{ "{:.1%}".format(r.negative_share) }}</td>
<td class="num">{{ "{:.1%}".format(r.p1_p2_share) }}</td><td class="num">{{ "{:.1%}".format(r.review_share) }}</td></tr>{% endfor %}</table>
{% endif %}
</body>
</html>
"""



@lru_cache(maxsize=1)
def _env():
    import jinja2

    return jinja2.Environment(loader=jinja2.DictLoader({"insights.html": _TEMPLATE}), autoescape=True)


def render_insights(summary: dict[str, Any], filters: dict[str, Any]) -> str:
    return _env().get_template("insights.html").render(
        s=summary, filters=filters, zh=DISPLAY_ZH, heads=HEADS, labels=LABELS, categories=CATEGORY,
        quadrants=QUADRANTS, levels=LEVELS, head_zh={"category": "类别", "sentiment": "情感", "urgency": "紧急度"})


def render_insights_page() -> str:
    return render_filtered_view_page("反馈洞察 · Insights", "/v1/insights.html", "view", frame_height="80rem")
