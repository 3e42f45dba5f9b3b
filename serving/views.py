"""HTML heatmap of the priority matrix, for people (the JSON is for machines).

The template lives here rather than in a templates/ folder so it ships inside the package
without package-data configuration. Autoescaping is on: filter values come from the query string.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from classifier.labels import CATEGORY, DISPLAY_ZH, URGENCY
from classifier.priority import IMPORTANT_NOT_URGENT, NOT_URGENT_NOT_IMPORTANT, URGENT_IMPORTANT, URGENT_NOT_IMPORTANT

QUADRANT_ZH = {
    URGENT_IMPORTANT: "紧急且重要",
    IMPORTANT_NOT_URGENT: "重要不紧急",
    URGENT_NOT_IMPORTANT: "紧急不重要",
    NOT_URGENT_NOT_IMPORTANT: "不紧急不重要",
}

_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>投诉优先级矩阵 · Priority matrix</title>
<style>
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem; color: #222; }
 table { border-collapse: collapse; margin: 1rem 0 2rem; }
 th, td { border: 1px solid #ccc; padding: .6rem .9rem; text-align: center; }
 td.cell { min-width: 9rem; font-size: 1.3rem; }
 td.cell small { display: block; font-size: .75rem; color: #444; }
 .muted { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<h1>投诉优先级矩阵 <span class="muted">urgent × important</span></h1>
<p class="muted">共 {{ total }} 条 ·
 时间 {{ filters.from or "—" }} ～ {{ filters.to or "—" }} ·
 渠道 {{ filters.channel or "全部" }} · 类别 {{ filters.category or "全部" }}</p>
<table>
 <tr><th></th><th>重要 important</th><th>不重要 not important</th></tr>
 <tr><th>紧急 urgent</th>{{ cell("urgent_important") }}{{ cell("urgent_not_important") }}</tr>
 <tr><th>不紧急 not urgent</th>{{ cell("important_not_urgent") }}{{ cell("not_urgent_not_important") }}</tr>
</table>
<h2>按紧急程度 · by urgency</h2>
<table>
 <tr><th>紧急程度</th><th>重要</th><th>不重要</th></tr>
 {% for u in urgency_labels %}
 <tr><th>{{ zh[u] }} {{ u }}</th>{{ plain(by_urgency[u]["important"]) }}{{ plain(by_urgency[u]["not_important"]) }}</tr>
 {% endfor %}
</table>
<h2>按类别 · by category</h2>
<table>
 <tr><th>类别</th>{% for q in quadrants %}<th>{{ quadrant_zh[q] }}<br><span class="muted">{{ quadrant_levels[q] }}</span></th>{% endfor %}</tr>
 {% for c in categories %}
 <tr><th>{{ zh[c] }} <span class="muted">{{ c }}</span></th>{% for q in quadrants %}{{ plain(by_category[c][q]) }}{% endfor %}</tr>
 {% endfor %}
</table>
</body>
</html>
"""


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(_TEMPLATE)


def _shade(n: int, peak: int) -> str:
    """White → red by share of the busiest cell."""
    share = n / peak if peak else 0.0
    g = int(255 - 175 * share)
    return f"background: rgb(255,{g},{g})"


def render_matrix(payload: dict[str, Any]) -> str:
    from markupsafe import Markup, escape

    cells, levels = payload["cells"], payload["quadrant_levels"]
    peak = max([*cells.values(), 0])
    flat = [n for row in payload["by_category"].values() for n in row.values()]
    flat += [n for row in payload["by_urgency"].values() for n in row.values()]
    peak_table = max([*flat, 0])

    def cell(q: str) -> Markup:
        n = cells.get(q, 0)
        return Markup(f'<td class="cell" style="{_shade(n, peak)}">{n}'
                      f"<small>{escape(QUADRANT_ZH[q])} · {escape(levels.get(q, ''))}</small></td>")

    def plain(n: int) -> Markup:
        return Markup(f'<td style="{_shade(n, peak_table)}">{n}</td>')

    return _template().render(
        total=payload["total"], filters=payload["filters"], cell=cell, plain=plain,
        by_category=payload["by_category"], by_urgency=payload["by_urgency"], quadrant_levels=levels,
        quadrants=list(QUADRANT_ZH), quadrant_zh=QUADRANT_ZH, categories=CATEGORY, urgency_labels=URGENCY,
        zh=DISPLAY_ZH,
    )
