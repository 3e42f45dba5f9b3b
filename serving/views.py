"""HTML pages for people (the JSON API is for machines): the priority-matrix heatmap and the
review queue.

Templates live here rather than in a templates/ folder so they ship inside the package without
package-data configuration. Autoescaping is on: filter values come from the query string.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from classifier.labels import CATEGORY, DISPLAY_ZH, LABELS, URGENCY
from classifier.priority import IMPORTANT_NOT_URGENT, NOT_URGENT_NOT_IMPORTANT, URGENT_IMPORTANT, URGENT_NOT_IMPORTANT

QUADRANT_ZH = {
    URGENT_IMPORTANT: "紧急且重要",
    IMPORTANT_NOT_URGENT: "重要不紧急",
    URGENT_NOT_IMPORTANT: "紧急不重要",
    NOT_URGENT_NOT_IMPORTANT: "不紧急不重要",
}

_MATRIX_TEMPLATE = """<!doctype html>
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


# What both pages' scripts share: the key (sessionStorage: this tab only, shared by the pages),
# the status line, and API calls that turn the error schema into an Error carrying its code.
_PAGE_SCRIPT = """const $ = (sel, root = document) => root.querySelector(sel);
let key = sessionStorage.getItem("triage_key") || "";

function say(text, error = false) {
  const s = $("#status"); s.textContent = text; s.className = error ? "error" : "";
}

function useKey(value) { key = value.trim(); sessionStorage.setItem("triage_key", key); }

async function api(path, options = {}, as = "json") {
  const response = await fetch(path, {...options, headers: {"Authorization": "Bearer " + key,
                                                            "Content-Type": "application/json", ...(options.headers || {})}});
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const err = body.error || {code: "E" + response.status, message: response.statusText};
    if (response.status === 401) sessionStorage.removeItem("triage_key");
    throw Object.assign(new Error(err.code + " " + err.message), {code: err.code});
  }
  return as === "text" ? response.text() : response.json();
}
"""

# --- review queue page ----------------------------------------------------------------------------
# A static page: it holds no data and needs no key to load. Its script asks for a supervisor key
# (kept in sessionStorage, i.e. for this tab only), reads GET /v1/review and sends each decision to
# POST /v1/review/{id}, so the page has exactly the API's permissions, limits and error codes.
# Item text is inserted with textContent, never as HTML.
_REVIEW_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>待复核队列 · Review queue</title>
<style>
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem; color: #222; max-width: 60rem; }
 .muted { color: #666; font-size: .9rem; }
 #status { min-height: 1.4rem; }
 #status.error { color: #b00020; }
 article.item { border: 1px solid #ccc; border-radius: 6px; padding: 1rem; margin: 1rem 0; }
 article.item .text { font-size: 1.1rem; margin: 0 0 .6rem; white-space: pre-wrap; }
 .heads { display: grid; grid-template-columns: repeat(4, 1fr); gap: .6rem; margin: .6rem 0; }
 .heads label { display: block; font-size: .85rem; }
 .heads label.flagged { color: #b00020; font-weight: 600; }
 .heads select { display: block; width: 100%; margin-top: .2rem; }
 select, textarea, input { font: inherit; }
 textarea { width: 100%; box-sizing: border-box; }
 button { font: inherit; padding: .3rem 1rem; }
</style>
</head>
<body>
<nav class="muted"><a href="/review">待复核队列</a> · <a href="/matrix">优先级矩阵</a></nav>
<h1>待复核队列 <span class="muted">review queue</span></h1>
<form id="login">
 <label>复核密钥 supervisor API key <input id="key" type="password" autocomplete="off" size="40"></label>
 <button type="submit">连接</button>
 <button type="button" id="refresh">刷新</button>
</form>
<p id="status" role="status"></p>
<p class="muted">待复核 <span id="total">–</span> 条 · 低置信度的头以红色标出 · 未修改的标签视为确认</p>
<div id="items"></div>
<script>
const LABELS = {{ labels|tojson }};
const ZH = {{ zh|tojson }};
const REASONS = {{ reasons_zh|tojson }};
const FIELDS = ["category", "category_secondary", "sentiment", "urgency"];
{% include "page.js" %}

function option(value, text, selected) {
  const o = document.createElement("option"); o.value = value; o.textContent = text; o.selected = selected; return o;
}

function card(item) {
  const p = item.predictions, reasons = p.review_reasons || [], flagged = new Set(p.review_heads || []);
  if (reasons.includes("possible_high_urgency")) flagged.add("urgency");
  if (reasons.includes("possible_contract_legal")) flagged.add("category");
  const el = document.createElement("article"); el.className = "item"; el.dataset.id = item.id;
  const text = document.createElement("p"); text.className = "text"; text.textContent = item.text; el.append(text);
  if (reasons.length) {
    const why = document.createElement("p"); why.className = "reasons";
    why.textContent = "复核原因：" + reasons.map(r => REASONS[r] || r).join("、");
    el.append(why);
  }
  const meta = document.createElement("p"); meta.className = "muted";
  meta.textContent = `#${item.id} · ${item.priority.level} ${item.priority.quadrant} · 队列 ${item.route} · ` +
                     `收到 ${item.received_at} · 模型 ${item.model_version}`;
  el.append(meta);
  const heads = document.createElement("div"); heads.className = "heads";
  for (const field of FIELDS) {
    const head = field === "category_secondary" ? "category" : field;
    const label = document.createElement("label"); label.className = flagged.has(field) ? "flagged" : "";
    const predicted = field === "category_secondary" ? p.category_secondary : p[field].label;
    const conf = field === "category_secondary" ? "" : ` ${(p[field].confidence * 100).toFixed(0)}%`;
    label.append(document.createTextNode((field === "category_secondary" ? "次要类别" : field) + conf));
    const select = document.createElement("select"); select.name = field; select.dataset.predicted = predicted ?? "";
    if (field === "category_secondary") select.append(option("", "无 none", !predicted));
    for (const value of LABELS[head]) select.append(option(value, `${ZH[value]} ${value}`, value === predicted));
    label.append(select); heads.append(label);
  }
  el.append(heads);
  const note = document.createElement("textarea"); note.name = "note"; note.rows = 2; note.placeholder = "备注 note（可选）";
  el.append(note);
  const button = document.createElement("button"); button.type = "button"; button.className = "submit";
  button.textContent = "提交复核"; button.addEventListener("click", () => submit(el, button)); el.append(button);
  return el;
}

async function submit(el, button) {
  const decision = {};
  for (const select of el.querySelectorAll("select")) {
    if (select.value !== select.dataset.predicted) decision[select.name] = select.value === "" ? null : select.value;
  }
  const note = $("textarea", el).value.trim();
  if (note) decision.note = note;
  button.disabled = true;
  try {
    const outcome = await api(`/v1/review/${el.dataset.id}`, {method: "POST", body: JSON.stringify(decision)});
    el.remove();
    $("#total").textContent = Math.max(0, Number($("#total").textContent) - 1);
    say(`#${outcome.id} 已提交` + (outcome.corrected.length ? `，更正：${outcome.corrected.join(", ")}` : "，全部确认"));
    if (!document.querySelector("article.item")) load();
  } catch (e) {
    if (e.code === "E517") {  // someone else closed it meanwhile: it is no longer in the queue
      el.remove(); say(`#${el.dataset.id} 已由他人复核 · already reviewed`, true);
      if (!document.querySelector("article.item")) load();
      return;
    }
    button.disabled = false; say(e.message, true);
  }
}

async function load() {
  if (!key) { say("请输入复核密钥（角色 supervisor 或 admin）"); return; }
  try {
    const queue = await api("/v1/review?limit=50");
    $("#total").textContent = queue.total;
    $("#items").replaceChildren(...queue.items.map(card));
    if (!queue.items.length) say("队列已清空 · the queue is empty");
  } catch (e) { say(e.message, true); }
}

$("#login").addEventListener("submit", (event) => { event.preventDefault(); useKey($("#key").value); say(""); load(); });
$("#refresh").addEventListener("click", load);
load();
</script>
</body>
</html>
"""


@lru_cache(maxsize=1)
def render_review_page() -> str:
    from classifier.review import REASON_ZH

    return _environment().get_template("review.html").render(labels=LABELS, zh=DISPLAY_ZH, reasons_zh=REASON_ZH)


# --- priority matrix page ---------------------------------------------------------------------
# The heatmap itself is rendered by the server (render_matrix, for GET /v1/matrix.html); this page
# only asks for the key and the filters, fetches that HTML with the key in the header (a browser
# cannot add one to a plain link) and shows it in a sandboxed frame without scripts.
_MATRIX_PAGE_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>投诉优先级矩阵 · Priority matrix</title>
<style>
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem; color: #222; }
 .muted { color: #666; font-size: .9rem; }
 form { margin: .5rem 0; }
 #status.error { color: #b00020; }
 iframe { border: 0; width: 100%; height: 60rem; }
 input, select, button { font: inherit; }
</style>
</head>
<body>
<nav class="muted"><a href="/review">待复核队列</a> · <a href="/matrix">优先级矩阵</a></nav>
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
<iframe id="heatmap" sandbox title="priority matrix"></iframe>
<script>
{% include "page.js" %}

async function load() {
  if (!key) { say("请输入密钥（角色 supervisor 或 admin）"); return; }
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($("#filters"))) if (value) query.set(name, value);
  try {
    $("#heatmap").srcdoc = await api("/v1/matrix.html?" + query, {}, "text");
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


@lru_cache(maxsize=1)
def render_matrix_page() -> str:
    return _environment().get_template("matrix_page.html").render(categories=CATEGORY, zh=DISPLAY_ZH)


_TEMPLATES = {
    "matrix.html": _MATRIX_TEMPLATE,
    "review.html": _REVIEW_TEMPLATE,
    "matrix_page.html": _MATRIX_PAGE_TEMPLATE,
    "page.js": _PAGE_SCRIPT,
}
