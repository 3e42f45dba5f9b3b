"""HTML pages for people (the JSON API is for machines): the priority-matrix heatmap and its page
(the review workspace is serving/review/page.py).

Templates live here rather than in a templates/ folder so they ship inside the package without
package-data configuration. Autoescaping is on: filter values come from the query string.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from classifier.labels import CATEGORY, DISPLAY_ZH, URGENCY
from serving.http.pages import PAGE_SCRIPT, QUADRANT_ZH

_MATRIX_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
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
def _environment():
    from jinja2 import DictLoader, Environment

    return Environment(loader=DictLoader(_TEMPLATES), autoescape=True)


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

    return _environment().get_template("matrix.html").render(
        total=payload["total"], filters=payload["filters"], cell=cell, plain=plain,
        by_category=payload["by_category"], by_urgency=payload["by_urgency"], quadrant_levels=levels,
        quadrants=list(QUADRANT_ZH), quadrant_zh=QUADRANT_ZH, categories=CATEGORY, urgency_labels=URGENCY,
        zh=DISPLAY_ZH,
    )


# --- filtered-view pages (priority matrix, insights) ----------------------------------------------
# The view itself is rendered by the server (render_matrix for GET /v1/matrix.html, and
# serving/insights/service.py for GET /v1/insights.html); a page only asks for the key and the filters,
# fetches that HTML with the key in the header (a browser cannot add one to a plain link) and shows
# it in a sandboxed frame without scripts.
_FILTERED_VIEW_PAGE_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem; color: #222; }
 .muted { color: #666; font-size: .9rem; }
 form { margin: .5rem 0; }
 #status.error { color: #b00020; }
 iframe { border: 0; width: 100%; height: {{ frame_height }}; }
 input, select, button { font: inherit; }
</style>
</head>
<body>
<nav class="muted"><a href="/review">待复核队列</a> · <a href="/matrix">优先级矩阵</a> · <a href="/insights">反馈洞察</a></nav>
<form id="login">
 <label>密钥 supervisor API key <input id="key" type="password" autocomplete="off" size="40"></label>
 <button type="submit">连接</button>
</form>
<form id="filters">
 <label>从 from <input name="from" type="datetime-local"></label>
 <label>到 to <input name="to" type="datetime-local"></label>
 <label>渠道 channel <input name="channel" size="10"></label>
 <label>类别 category <select name="category"><option value="">全部</option>
 {% for c in categories %}<option value="{{ c }}">{{ zh[c] }} {{ c }}</option>{% endfor %}</select></label>
 <button type="submit">查询</button>
</form>
<p id="status" role="status"></p>
<iframe id="{{ frame_id }}" sandbox title="{{ frame_id }}"></iframe>
<script>
{% include "page.js" %}

async function load() {
  if (!key) { say("请输入密钥（角色 supervisor 或 admin）"); return; }
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($("#filters"))) if (value) query.set(name, value);
  try {
    $("#{{ frame_id }}").srcdoc = await api({{ view_path|tojson }} + "?" + query, {}, "text");
    say("");
  } catch (e) { say(e.message, true); }
}

$("#login").addEventListener("submit", (event) => { event.preventDefault(); useKey($("#key").value); load(); });
$("#filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
load();
</script>
</body>
</html>
"""


@lru_cache(maxsize=None)
def render_filtered_view_page(title: str, view_path: str, frame_id: str, frame_height: str = "60rem") -> str:
    """A page for a server-rendered view under the time-range, channel and category filters."""
    return _environment().get_template("filtered_view_page.html").render(
        title=title, view_path=view_path, frame_id=frame_id, frame_height=frame_height, categories=CATEGORY, zh=DISPLAY_ZH)


def render_matrix_page() -> str:
    return render_filtered_view_page("投诉优先级矩阵 · Priority matrix", "/v1/matrix.html", "heatmap")


_TEMPLATES = {
    "matrix.html": _MATRIX_TEMPLATE,
    "filtered_view_page.html": _FILTERED_VIEW_PAGE_TEMPLATE,
    "page.js": PAGE_SCRIPT,
}
