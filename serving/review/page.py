"""GET /review: the supervisor's workspace — the queue in working order, one item open at a time,
decided from the keyboard.

A static page (it holds no data and needs no key to load): its script asks for a supervisor key
(sessionStorage: this tab only) and calls the same API a script would — GET /v1/review (filters and
cursor in the page's own query string, so a filtered view can be bookmarked), POST
/v1/items/{id}/claim when an item is opened, GET .../explanation for the highlights, POST
.../review and .../undo — so it has exactly the API's permissions, limits and error codes.
Customer text is inserted with textContent, never as HTML.

Keys: j/k next/previous item, 1-4 category, a/s/d sentiment (negative/neutral/positive, left to
right), h/m/l urgency, Enter submit, u undo the last decision of this session, n note, ] / [ next /
previous page, ? help. Each key shows beside what it does.
"""
from __future__ import annotations

from functools import lru_cache

from classifier.labels import CATEGORY, DISPLAY_ZH, LABELS, SENTIMENT, URGENCY
from classifier.priority import LEVELS
from classifier.review import REASON_ZH
from serving.http.pages import PAGE_SCRIPT, QUADRANT_ZH

HEAD_ZH = {"category": "类别", "category_secondary": "次要类别", "sentiment": "情感", "urgency": "紧急度"}
STATUS_ZH = {"pending": "待复核", "reviewed": "已复核", "not_queued": "未入队", "all": "全部"}
LEVEL_ZH = {"P1": "紧急且重要", "P2": "重要不紧急", "P3": "紧急不重要", "P4": "不紧急不重要"}
KIND_ZH = {"prediction": "模型预测", "review": "复核", "undo": "撤销"}
KEYS = {"category": dict(zip(CATEGORY, "1234")), "sentiment": dict(zip(SENTIMENT, "asd")),
        "urgency": dict(zip(URGENCY, "hml"))}
# Error codes as a supervisor reads them (the code itself is shown beside, in small print).
ERRORS_ZH = {
    "E501": "密钥无效或已吊销，请重新输入", "E502": "此密钥的角色无权复核（需要 supervisor 或 admin）",
    "E503": "请求过于频繁，请稍候", "E513": "请求参数有误", "E517": "该条目不在待复核队列中",
    "E519": "标签无效（次要类别不能与主类别相同）", "E520": "服务正在启动或停止", "E521": "服务繁忙，请稍候",
    "E522": "数据库暂不可用，请稍后重试", "E540": "条目不存在", "E541": "没有可撤销的复核",
    "E542": "该条目已被他人修改，已显示最新状态，请重新判断", "E543": "该条目正由其他主管处理",
    "E544": "分页已失效，已回到第一页", "E545": "该文本无法生成解释",
}

_TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>复核工作台 · 待复核队列</title>
<style>
 * { box-sizing: border-box; }
 body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; color: #222; background: #f6f7f9; }
 header { background: #fff; border-bottom: 1px solid #ddd; padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center; }
 header h1 { font-size: 1.15rem; margin: 0; }
 nav a { margin-right: .7rem; }
 .muted, small { color: #666; font-size: .82rem; }
 code.c { color: #777; font-size: .75rem; margin-left: .2rem; }
 kbd { border: 1px solid #bbb; border-bottom-width: 2px; border-radius: 3px; padding: 0 .25rem; font-size: .75rem; background: #fafafa; }
 #status { min-height: 1.4rem; margin: .4rem 1rem; }
 #status.error { color: #b00020; font-weight: 600; }
 #filterbox { background: #fff; border-bottom: 1px solid #ddd; }
 #filterbox summary { padding: .4rem 1rem; cursor: pointer; font-size: .9rem; }
 form#filters { display: flex; flex-wrap: wrap; gap: .4rem .8rem; padding: 0 1rem .5rem; align-items: end; }
 form#filters label { font-size: .85rem; display: flex; flex-direction: column; }
 form#filters fieldset { border: 0; padding: 0; margin: 0; display: flex; gap: .4rem; align-items: center; font-size: .85rem; }
 input, select, textarea, button { font: inherit; }
 main { display: grid; grid-template-columns: minmax(16rem, 24rem) 1fr; gap: 1rem; padding: 0 1rem 2rem; }
 #queue { min-width: 0; }
 #queue ol { list-style: none; padding: 0; margin: 0; }
 #queue li { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .45rem .6rem; margin: .35rem 0; cursor: pointer; }
 #queue li.current { outline: 3px solid #1a73e8; }
 #queue li.done { opacity: .6; }
 #queue li .snippet { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
 .lvl { display: inline-block; min-width: 2.1rem; text-align: center; border-radius: 4px; color: #fff; font-weight: 700; padding: 0 .3rem; }
 .lvl.P1 { background: #c62828; } .lvl.P2 { background: #ef6c00; } .lvl.P3 { background: #f9a825; color: #222; } .lvl.P4 { background: #78909c; }
 .late { color: #b00020; font-weight: 600; }
 .approx { display: inline-block; margin-left: .4rem; padding: 0 .35rem; border-radius: 3px; background: #fff3cd; color: #7a5a00; font-size: .8rem; }
 .pager { display: flex; gap: .5rem; align-items: center; margin: .5rem 0; }
 #detail { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .8rem 1rem; min-width: 0; }
 #text { font-size: 1.15rem; line-height: 1.8; white-space: pre-wrap; word-break: break-word; margin: .4rem 0; }
 mark { background: #fff3b0; border-radius: 3px; padding: 0 1px; }
 mark.category { box-shadow: inset 0 -3px #1a73e8; } mark.sentiment { box-shadow: inset 0 -3px #8e24aa; }
 mark.urgency { box-shadow: inset 0 -3px #c62828; }
 mark.category.urgency { box-shadow: inset 0 -3px #1a73e8, inset 0 -6px #c62828; }
 #why { font-size: .85rem; color: #444; margin: 0 0 .5rem; }
 #why span.h { margin-right: .8rem; display: inline-block; }
 .reasons { color: #b00020; }
 #queue li.watched { border-left: 4px solid #c62828; }
 .watch { color: #b00020; font-size: .8rem; font-weight: 600; }
 #priority { display: grid; grid-template-columns: auto 1fr; gap: .2rem .8rem; background: #f3f6fb; border-radius: 6px; padding: .5rem .7rem; margin: .5rem 0; }
 #priority.changed { background: #e8f5e9; }
 fieldset.head { border: 1px solid #ddd; border-radius: 6px; margin: .4rem 0; padding: .3rem .5rem; display: flex; flex-wrap: wrap; gap: .3rem .6rem; }
 fieldset.head legend { font-size: .85rem; padding: 0 .3rem; }
 fieldset.head.flagged { border-color: #b00020; }
 fieldset.head.flagged legend { color: #b00020; font-weight: 600; }
 fieldset.head label { display: inline-flex; gap: .25rem; align-items: center; padding: .15rem .35rem; border-radius: 4px; }
 fieldset.head label.predicted { background: #f1f1f1; }
 fieldset.head input:checked + span { font-weight: 700; }
 textarea { width: 100%; }
 .actions { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0; }
 .actions button { padding: .35rem 1rem; }
 #history ol { padding-left: 1.2rem; margin: .3rem 0; font-size: .85rem; }
 #help { display: none; background: #fffde7; border: 1px solid #e0d890; border-radius: 6px; padding: .5rem 1rem; margin: 0 1rem; }
 #help.open { display: block; }
 @media (max-width: 760px) {
   main { grid-template-columns: minmax(0, 1fr); padding: 0 .5rem 2rem; }
   #detail { order: -1; padding: .6rem; }
   header, form#filters { padding: .4rem .5rem; }
   form#filters label { flex: 1 1 40%; }
   form#filters input, form#filters select { width: 100%; min-width: 0; }
   #login input { width: 100%; }
   #login { flex: 1 1 100%; }
   .actions button { flex: 1 1 40%; padding: .6rem; }
   fieldset.head label { padding: .35rem .45rem; }
   .wide { display: none; }
 }
</style>
</head>
<body>
<header>
 <h1>复核工作台</h1>
 <nav class="muted"><a href="/review">待复核队列</a><a href="/matrix">优先级矩阵</a><a id="guideline" href="{{ guideline_url }}" target="_blank" rel="noopener">标注指南</a><a href="/docs">API 文档</a></nav>
 <form id="login">
  <label>复核密钥 <input id="key" type="password" autocomplete="off" size="28" placeholder="supervisor / admin 密钥"></label>
  <button type="submit">连接</button>
 </form>
 <button type="button" id="switch-key" hidden>更换密钥</button>
 <span id="progress" class="muted" aria-live="polite"></span>
 <button type="button" id="help-toggle" title="快捷键 (?)">快捷键 <kbd>?</kbd></button>
</header>
<div id="help" role="note">
 <b>快捷键</b>：<kbd>j</kbd>/<kbd>k</kbd> 下一条/上一条 · 类别 {% for c in categories %}<kbd>{{ keys.category[c] }}</kbd> {{ zh[c] }} {% endfor %}·
 情感 {% for c in sentiments %}<kbd>{{ keys.sentiment[c] }}</kbd> {{ zh[c] }} {% endfor %}·
 紧急度 {% for c in urgencies %}<kbd>{{ keys.urgency[c] }}</kbd> {{ zh[c] }} {% endfor %}·
 <kbd>Enter</kbd> 提交（未改动即为确认） · <kbd>u</kbd> 撤销本次会话最后一次复核 · <kbd>n</kbd> 备注（<kbd>Esc</kbd> 退出，<kbd>Ctrl</kbd>+<kbd>Enter</kbd> 提交） ·
 <kbd>]</kbd>/<kbd>[</kbd> 下一页/上一页
</div>
<details id="filterbox" open><summary>筛选条件 <span id="filter-summary" class="muted"></span></summary>
<form id="filters">
 <label>状态 <select name="status">{% for k, v in statuses.items() %}<option value="{{ k }}">{{ v }}</option>{% endfor %}</select></label>
 <fieldset><legend class="muted">级别</legend>{% for l in levels %}<label title="{{ level_zh[l] }}"><input type="checkbox" name="level" value="{{ l }}"> {{ l }}</label>{% endfor %}</fieldset>
 <label>复核原因所在头 <select name="head"><option value="">全部</option>{% for h in heads %}<option value="{{ h }}">{{ head_zh[h] }}</option>{% endfor %}</select></label>
 <label>当前标签 <select name="label"><option value="">全部</option>{% for h, ls in labels.items() %}<optgroup label="{{ head_zh[h] }}">{% for l in ls %}<option value="{{ l }}">{{ zh[l] }}</option>{% endfor %}</optgroup>{% endfor %}</select></label>
 <label>复核原因 <select name="reason"><option value="">全部</option>{% for r, t in reasons.items() %}<option value="{{ r }}">{{ t }}</option>{% endfor %}</select></label>
 <label>渠道 <input name="channel" size="8"></label>
 <label>收到自 <input name="from" type="datetime-local"></label>
 <label>收到至 <input name="to" type="datetime-local"></label>
 <label>模型版本 <input name="model_version" size="12"></label>
 <button type="submit">筛选</button> <button type="button" id="clear">清除</button>
</form>
</details>
<p id="status" role="status"></p>
<main>
 <section id="queue" aria-label="队列">
  <div class="pager"><button type="button" id="prev-page">上一页 <kbd>[</kbd></button><span id="page" class="muted"></span><button type="button" id="next-page">下一页 <kbd>]</kbd></button></div>
  <p class="muted">共 <span id="total">–</span> 条 · 按级别（P1 优先）、首次响应截止、把握度、收到时间排序</p>
  <ol id="items"></ol>
 </section>
 <section id="detail" aria-label="当前条目" hidden>
  <div class="muted" id="meta"></div>
  <p id="text"></p>
  <p id="why"></p>
  <p class="reasons" id="reasons"></p>
  <div id="priority"></div>
  <form id="decision">
   {% for h in ["category", "sentiment", "urgency"] %}
   <fieldset class="head" data-head="{{ h }}"><legend>{{ head_zh[h] }} <span class="conf muted"></span></legend>
    {% for l in labels[h] %}<label data-label="{{ l }}"><input type="radio" name="{{ h }}" value="{{ l }}" tabindex="-1"><span>{{ zh[l] }}</span><code class="c wide">{{ l }}</code><kbd>{{ keys[h][l] }}</kbd></label>{% endfor %}
   </fieldset>
   {% endfor %}
   <fieldset class="head" data-head="category_secondary"><legend>{{ head_zh["category_secondary"] }}</legend>
    <select name="category_secondary" tabindex="-1"><option value="">无</option>{% for l in categories %}<option value="{{ l }}">{{ zh[l] }}</option>{% endfor %}</select>
   </fieldset>
   <textarea name="note" rows="2" placeholder="备注（可选，按 n 输入）" tabindex="-1"></textarea>
   <div class="actions">
    <button type="submit" id="submit">提交 <kbd>Enter</kbd></button>
    <button type="button" id="undo">撤销 <kbd>u</kbd></button>
    <button type="button" id="next">下一条 <kbd>j</kbd></button>
   </div>
  </form>
  <details id="history"><summary>历史记录</summary><ol></ol></details>
 </section>
</main>
<script>
const ZH = {{ zh|tojson }};
const HEAD_ZH = {{ head_zh|tojson }};
const LEVEL_ZH = {{ level_zh|tojson }};
const QUADRANT_ZH = {{ quadrant_zh|tojson }};
const ROUTE_ZH = {{ route_zh|tojson }};
const REASONS = {{ reasons|tojson }};
const KIND_ZH = {{ kind_zh|tojson }};
const STATUS_ZH = {{ statuses|tojson }};
const FILTER_ZH = {channel: "渠道", from: "收到自", to: "收到至", model_version: "模型"};
const ERRORS_ZH = {{ errors_zh|tojson }};
const KEYS = {{ keys|tojson }};
const HEADS = ["category", "sentiment", "urgency"];
const FIELDS = ["category", "category_secondary", "sentiment", "urgency"];
{% include "page.js" %}

const state = {items: [], index: -1, item: null, readonly: false, cursors: [null], page: 0, next: null, total: 0,
               undo: [], busy: false, keys: 0};
// Session progress, and the keys pressed per reviewed item: every key since the previous decision,
// moving to the item included (window.triageStats, for measurements).
const stats = window.triageStats = {reviewed: 0, confirmed: 0, corrected: 0, keys: 0, perItem: []};

function fail(e) {
  const text = ERRORS_ZH[e.code];
  say(text ? `${text}（${e.code}）` : e.message, true);
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function localTime(iso) {
  return new Date(iso).toLocaleString("zh-CN", {month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false});
}

function timeLeft(iso) {
  let ms = Date.parse(iso) - Date.now();
  const late = ms < 0; ms = Math.abs(ms);
  const m = Math.floor(ms / 60000), h = Math.floor(m / 60), d = Math.floor(h / 24);
  const span = d >= 1 ? `${d}天${h % 24}小时` : h >= 1 ? `${h}小时${m % 60}分` : `${m}分`;
  return {text: late ? `已超时 ${span}` : `剩余 ${span}`, late};
}

function deadline(iso) {
  const left = timeLeft(iso);
  return el("span", {className: left.late ? "late deadline" : "deadline", title: iso},
            `${localTime(iso)}（${left.text}）`);
}

// The deadline counted days of a year whose holiday schedule is not entered (Mon-Fri assumed).
function uncoveredMark(p) {
  return p.calendar_uncovered ? el("span", {className: "approx", id: "calendar-uncovered",
    title: "该期限跨入尚未录入国务院节假日安排的年份，按周一至周五计算工作日；录入后（triage calendar import）新的期限才准确"},
    "估算：节假日安排未录入") : "";
}

function routeName(route) { return ROUTE_ZH[route] || route; }
function code(text) { return el("code", {className: "c"}, text); }
function level(p) { return el("span", {className: `lvl ${p.level}`, title: LEVEL_ZH[p.level]}, p.level); }

// --- the queue ------------------------------------------------------------------------------

function filterParams() {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($("#filters"))) {
    if (!value) continue;
    query.append(name, (name === "from" || name === "to") ? new Date(value).toISOString() : value);
  }
  return query;
}

function summarizeFilters() {
  const names = {status: STATUS_ZH, head: HEAD_ZH, label: ZH, reason: REASONS};
  const shown = [...filterParams()].map(([name, value]) => names[name] ? names[name][value] || value
    : name === "level" ? value : `${FILTER_ZH[name]} ${name === "from" || name === "to" ? localTime(value) : value}`);
  $("#filter-summary").textContent = shown.length ? "（" + shown.join("，") + "）" : "（全部待复核）";
}

function restoreFilters() {
  const query = new URLSearchParams(location.search), form = $("#filters");
  for (const input of form.elements) {
    if (!input.name) continue;
    if (input.type === "checkbox") input.checked = query.getAll(input.name).includes(input.value);
    else if (query.has(input.name)) {
      const value = query.get(input.name);
      if (input.type === "datetime-local") {  // shown in the browser's time zone
        const d = new Date(value); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
        input.value = d.toISOString().slice(0, 16);
      } else input.value = value;
    }
  }
}

function reasonZh(r) { return REASONS[r] || (r.startsWith("rule:") ? "规则 " + r.slice(5) : r); }

function entry(item, i) {
  const p = item.priority;
  const li = el("li", {className: (item.status === "reviewed" ? "done" : "") + (item.sort ? " watched" : "")});
  li.dataset.id = item.id; li.dataset.index = i;
  li.append(level(p), " ", el("small", {}, QUADRANT_ZH[p.quadrant] + " · " + routeName(item.route)), el("br"));
  // Watched for a high-stakes label: sorted at that label's level, and the list says so.
  if (item.sort) li.append(el("span", {className: "watch"}, item.sort.note), el("br"));
  li.append(
            el("span", {className: "snippet"}, item.text), el("small", {}, "首次响应 "), deadline(p.respond_by));
  li.addEventListener("click", () => openItem(i));
  return li;
}

function renderQueue() {
  $("#items").replaceChildren(...state.items.map(entry));
  $("#total").textContent = state.total;
  $("#page").textContent = `第 ${state.page + 1} 页`;
  $("#prev-page").disabled = state.page === 0;
  $("#next-page").disabled = !state.next;
  highlightCurrent();
}

function highlightCurrent() {
  for (const li of document.querySelectorAll("#items li")) li.classList.toggle("current", Number(li.dataset.index) === state.index);
  const current = document.querySelector("#items li.current");
  if (current) current.scrollIntoView({block: "nearest"});
}

async function loadPage(page = 0, open = 0) {
  if (!key) { say("请输入复核密钥（角色 supervisor 或 admin）"); return; }
  const query = filterParams();
  query.set("limit", "20");
  if (state.cursors[page]) query.set("cursor", state.cursors[page]);
  try {
    const body = await api("/v1/review?" + query);
    $("#login").hidden = true; $("#switch-key").hidden = false;
    Object.assign(state, {items: body.items, total: body.total, next: body.next_cursor, page, index: -1});
    state.cursors[page + 1] = body.next_cursor;
    renderQueue();
    progress();
    if (!body.items.length) { $("#detail").hidden = true; say(page ? "本页没有条目" : "队列已清空，没有符合条件的条目"); return; }
    say("");
    await openItem(Math.min(open < 0 ? body.items.length - 1 : open, body.items.length - 1));
  } catch (e) {
    if (e.code === "E544") { state.cursors = [null]; fail(e); return loadPage(0); }
    if (e.code === "E501" || e.code === "E502") { $("#login").hidden = false; $("#switch-key").hidden = true; }
    fail(e);
  }
}

// --- one item -------------------------------------------------------------------------------

async function openItem(i) {
  if (i < 0 || i >= state.items.length) return;
  const previous = state.item;
  state.index = i; highlightCurrent();
  const id = state.items[i].id;
  if (previous && previous.id !== id && !state.readonly)
    api(`/v1/items/${previous.id}/claim`, {method: "DELETE"}).catch(() => {});
  let item, readonly = false;
  try {
    item = await api(`/v1/items/${id}/claim`, {method: "POST"});
  } catch (e) {
    if (e.code !== "E543") { fail(e); return; }
    item = e.details.item; readonly = true;
    const who = item.claim && item.claim.reviewer ? (item.claim.reviewer.name || item.claim.reviewer.prefix) : "其他主管";
    say(`${ERRORS_ZH.E543}：${who}，至 ${localTime(item.claim.until)}（E543）`, true);
  }
  if (state.index !== i) return;  // the user moved on meanwhile
  if (!readonly) say("");
  showItem(item, readonly);
  explain(item);
}

function showItem(item, readonly = false, changed = false) {
  state.item = item; state.readonly = readonly;
  state.items[state.index] = {...state.items[state.index], ...item};
  $("#detail").hidden = false;
  const meta = [`#${item.id}`, `客户单号 ${item.item_id}`, `收到 ${localTime(item.received_at)}`,
                `状态 ${({pending: "待复核", reviewed: "已复核", not_queued: "未入队"})[item.status]}`];
  if (item.metadata && item.metadata.channel) meta.splice(2, 0, `渠道 ${item.metadata.channel}`);
  if (item.review && item.review.reviewer) meta.push(`复核人 ${item.review.reviewer.name || item.review.reviewer.prefix}`);
  $("#meta").replaceChildren(meta.join(" · "), code(item.model_version));
  $("#text").replaceChildren(item.text);
  $("#why").replaceChildren(el("span", {className: "muted"}, "正在计算判断依据…"));
  const reasons = item.review_reasons || [];
  $("#reasons").textContent = (reasons.length ? "复核原因：" + reasons.map(reasonZh).join("、") : "") +
    (item.sort ? `（${item.sort.note}）` : "");
  const p = item.priority;
  const box = $("#priority"); box.classList.toggle("changed", changed);
  box.replaceChildren(
    el("span", {}, "优先级"), el("span", {id: "level"}, level(p), " ", QUADRANT_ZH[p.quadrant], code(p.quadrant)),
    el("span", {}, "分派队列"), el("span", {id: "route"}, routeName(item.route), code(item.route)),
    el("span", {}, "首次响应"), el("span", {id: "respond-by"}, deadline(p.respond_by)),
    el("span", {}, "办结期限"), el("span", {id: "resolve-by"}, deadline(p.resolve_by), uncoveredMark(p)));
  const predicted = item.predictions, flagged = new Set(predicted.review_heads || []);
  if (reasons.includes("possible_high_urgency")) flagged.add("urgency");
  if (reasons.includes("possible_contract_legal")) flagged.add("category");
  for (const head of HEADS) {
    const set = document.querySelector(`fieldset[data-head=${head}]`);
    set.classList.toggle("flagged", flagged.has(head));
    set.querySelector(".conf").textContent =
      `模型：${ZH[predicted[head].label]} ${(predicted[head].confidence * 100).toFixed(0)}%`;
    for (const label of set.querySelectorAll("label")) label.classList.toggle("predicted", label.dataset.label === predicted[head].label);
    set.querySelector(`input[value=${item.labels[head]}]`).checked = true;
  }
  $("#decision select[name=category_secondary]").value = item.labels.category_secondary || "";
  $("#decision textarea").value = "";
  for (const control of $("#decision").elements) control.disabled = readonly && control.id !== "next";
  $("#undo").disabled = !state.undo.length;
  $("#history ol").replaceChildren(...(item.history || []).map(h => el("li", {},
    `r${h.revision} ${KIND_ZH[h.kind]} · ${localTime(h.at)}` + (h.reviewer ? ` · ${h.reviewer.name || h.reviewer.prefix}` : "") +
    ` · ${h.priority.level} ${routeName(h.route)} · ` + HEADS.map(x => `${HEAD_ZH[x]} ${ZH[h.labels[x]]}`).join("，") +
    (h.note ? ` · 备注：${h.note}` : ""))));
}

async function explain(item) {
  try {
    const why = await api(`/v1/items/${item.id}/explanation`);
    if (!state.item || state.item.id !== item.id) return;
    const marks = new Map();  // segment start -> {end, heads}
    const parts = [];
    for (const head of HEADS) {
      const weights = why.heads[head];
      for (const t of weights.top) {
        const m = marks.get(t.start) || {end: t.end, heads: [], tips: []};
        m.heads.push(head); m.tips.push(`${HEAD_ZH[head]} ${ZH[weights.label]} +${(t.delta * 100).toFixed(0)}%`);
        marks.set(t.start, m);
      }
      for (const w of [weights, weights.reviewed].filter(Boolean))
        if (w.top.length) parts.push(el("span", {className: "h"}, `${HEAD_ZH[head]}「${ZH[w.label]}」` +
          (w === weights ? "：" : "（复核标签）：") + w.top.map(t => `${t.text} +${(t.delta * 100).toFixed(0)}%`).join("、")));
    }
    const text = item.text, nodes = [];
    let at = 0;
    for (const start of [...marks.keys()].sort((a, b) => a - b)) {
      const m = marks.get(start);
      if (start < at) continue;
      nodes.push(text.slice(at, start), el("mark", {className: m.heads.join(" "), title: m.tips.join("；")}, text.slice(start, m.end)));
      at = m.end;
    }
    nodes.push(text.slice(at));
    $("#text").replaceChildren(...nodes);
    $("#why").replaceChildren(el("span", {className: "muted"}, "判断依据（去掉该词后概率下降）："),
                              ...(parts.length ? parts : ["没有明显的关键词"]));
  } catch (e) {
    $("#why").replaceChildren(el("span", {className: "muted"}, `判断依据暂不可用（${e.code || e.message}）`));
  }
}

function chosen() {
  const form = $("#decision"), labels = {};
  for (const head of HEADS) labels[head] = form.querySelector(`input[name=${head}]:checked`).value;
  labels.category_secondary = form.querySelector("select[name=category_secondary]").value || null;
  return labels;
}

function describe(outcome) {
  const p = outcome.priority;
  const changes = outcome.changed.map(f => `${HEAD_ZH[f]} → ${ZH[outcome.labels[f]] || "无"}`).join("，");
  return `#${outcome.id} ${changes ? "已更正：" + changes : "已确认"} · 现为 ${p.level} ${QUADRANT_ZH[p.quadrant]} · ` +
         `${routeName(outcome.route)} · 首次响应 ${localTime(p.respond_by)}（${timeLeft(p.respond_by).text}）`;
}

async function submit() {
  if (!state.item || state.readonly || state.busy) return;
  const item = state.item, labels = chosen(), decision = {revision: item.revision};
  for (const f of FIELDS) if (labels[f] !== item.labels[f]) decision[f] = labels[f];
  const note = $("#decision textarea").value.trim();
  if (note) decision.note = note;
  state.busy = true;
  try {
    const outcome = await api(`/v1/items/${item.id}/review`, {method: "POST", body: JSON.stringify(decision)});
    stats.reviewed += 1; stats[outcome.changed.length ? "corrected" : "confirmed"] += 1;
    stats.keys += state.keys; stats.perItem.push({id: item.id, keys: state.keys, corrected: outcome.changed.length > 0});
    state.keys = 0;
    state.undo.push(item.id);
    showItem({...outcome, history: item.history}, false, outcome.changed.length > 0);
    $("#text").replaceChildren(item.text); explain(outcome);
    renderQueue(); progress();
    say(describe(outcome));
  } catch (e) {
    if (e.code === "E542" && e.details && e.details.item) showItem(e.details.item);
    fail(e);
  } finally { state.busy = false; }
}

async function undo() {
  const id = state.undo[state.undo.length - 1];
  if (!id || state.busy) return;
  state.busy = true;
  try {
    const current = await api(`/v1/items/${id}`);
    const item = await api(`/v1/items/${id}/undo`, {method: "POST", body: JSON.stringify({revision: current.revision})});
    state.undo.pop();
    const undone = stats.perItem.filter(p => p.id === id).pop();
    stats.reviewed -= 1; stats[undone && undone.corrected ? "corrected" : "confirmed"] -= 1;
    const i = state.items.findIndex(x => x.id === id);
    if (i >= 0) { state.index = i; highlightCurrent(); }
    showItem(item, false, true); explain(item); renderQueue(); progress();
    const p = item.priority;
    say(`#${id} 已撤销 · 恢复为 ${p.level} ${QUADRANT_ZH[p.quadrant]} · ${routeName(item.route)} · 首次响应 ${localTime(p.respond_by)}`);
  } catch (e) { fail(e); } finally { state.busy = false; }
}

function progress() {
  const avg = stats.reviewed ? (stats.keys / Math.max(1, stats.perItem.length)).toFixed(1) : "–";
  $("#progress").textContent = `本次已复核 ${stats.reviewed} 条（确认 ${stats.confirmed}，更正 ${stats.corrected}）· 平均每条按键 ${avg}`;
}

function move(step) {
  const i = state.index + step;
  if (i >= state.items.length) return state.next ? loadPage(state.page + 1) : undefined;
  if (i < 0) return state.page > 0 ? loadPage(state.page - 1, -1) : undefined;
  return openItem(i);
}

function choose(head, label) {
  if (!state.item || state.readonly) return;
  document.querySelector(`#decision input[name=${head}][value=${label}]`).checked = true;
}

// --- keyboard -------------------------------------------------------------------------------

let actions = Promise.resolve();
const SHORTCUTS = {j: () => move(1), k: () => move(-1), u: undo, Enter: submit,
                   "]": () => state.next ? loadPage(state.page + 1) : undefined,
                   "[": () => state.page > 0 ? loadPage(state.page - 1) : undefined, "?": () => $("#help").classList.toggle("open"),
                   n: () => $("#decision textarea").focus()};
for (const [head, keys] of Object.entries(KEYS))
  for (const [label, k] of Object.entries(keys)) SHORTCUTS[k] = () => choose(head, label);

document.addEventListener("keydown", (event) => {
  if (state.item) state.keys += 1;
  const target = event.target, typing = target.matches("input:not([type=radio]):not([type=checkbox]), textarea, select");
  if (typing) {
    if (target.name === "note" && event.key === "Escape") target.blur();
    if (target.name === "note" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(); }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const action = SHORTCUTS[event.key];
  if (!action) return;
  event.preventDefault();
  // One after the other: a label key typed while the next item is still loading applies to that item.
  actions = actions.then(action).catch(fail);
});

$("#login").addEventListener("submit", (event) => {
  event.preventDefault(); useKey($("#key").value); $("#key").value = ""; $("#key").blur(); say(""); loadPage(0);
});
$("#filters").addEventListener("submit", (event) => {
  event.preventDefault();
  history.replaceState(null, "", "?" + filterParams());
  summarizeFilters();
  state.cursors = [null]; loadPage(0);
  document.activeElement.blur();
});
$("#switch-key").addEventListener("click", () => {
  $("#login").hidden = false; $("#switch-key").hidden = true; $("#key").focus();
});
$("#clear").addEventListener("click", () => { $("#filters").reset(); $("#filters").requestSubmit(); });
$("#decision").addEventListener("submit", (event) => { event.preventDefault(); submit(); });
$("#undo").addEventListener("click", undo);
$("#next").addEventListener("click", () => move(1));
$("#prev-page").addEventListener("click", () => loadPage(state.page - 1));
$("#next-page").addEventListener("click", () => loadPage(state.page + 1));
$("#help-toggle").addEventListener("click", () => $("#help").classList.toggle("open"));
setInterval(() => { for (const span of document.querySelectorAll(".deadline")) {
  const left = timeLeft(span.title); span.textContent = `${localTime(span.title)}（${left.text}）`; span.classList.toggle("late", left.late);
} }, 30000);
restoreFilters();
summarizeFilters();
if (window.matchMedia("(max-width: 760px)").matches) $("#filterbox").open = false;  // the item first on a phone
progress();
loadPage(0);
</script>
</body>
</html>
"""


@lru_cache(maxsize=8)
def render_review_page(route_names: tuple[tuple[str, str], ...] = (), guideline_url: str = "/guideline") -> str:
    from jinja2 import DictLoader, Environment

    env = Environment(loader=DictLoader({"review.html": _TEMPLATE, "page.js": PAGE_SCRIPT}), autoescape=True)
    return env.get_template("review.html").render(
        zh=DISPLAY_ZH, head_zh=HEAD_ZH, level_zh=LEVEL_ZH, quadrant_zh=QUADRANT_ZH, route_zh=dict(route_names),
        reasons=REASON_ZH, kind_zh=KIND_ZH, errors_zh=ERRORS_ZH, keys=KEYS, statuses=STATUS_ZH, levels=LEVELS,
        heads=("category", "sentiment", "urgency"), labels=LABELS, categories=CATEGORY, sentiments=SENTIMENT,
        urgencies=URGENCY, guideline_url=guideline_url,
    )


def route_names(router) -> tuple[tuple[str, str], ...]:  # noqa: ANN001 - classifier.routing.Router
    """Queue name -> its Chinese name: the description in routing.yaml up to the first colon or bracket
    ("值班主管：P1 投诉 30 分钟内首次联系" -> "值班主管")."""
    names = []
    for name, queue in router.queues.items():
        short = queue.description.split("：")[0].split(":")[0].split("（")[0].split("(")[0].strip()
        names.append((name, short or name))
    return tuple(names)
