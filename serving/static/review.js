// The review workspace (serving/templates/review.html). Names, keys and messages come from the page's
// JSON data block (a <script type="application/json">, so the page needs no inline script); the shared
// helpers ($, key, say, useKey, api) from /static/page.js, loaded before this file.
const DATA = JSON.parse(document.getElementById("page-data").textContent);
const {zh: ZH, head_zh: HEAD_ZH, level_zh: LEVEL_ZH, quadrant_zh: QUADRANT_ZH, route_zh: ROUTE_ZH, reasons: REASONS,
       kind_zh: KIND_ZH, statuses: STATUS_ZH, errors_zh: ERRORS_ZH, keys: KEYS, channel_zh: CHANNEL_ZH} = DATA;
const FILTER_ZH = {channel: "渠道", from: "收到自", to: "收到至", model_version: "模型", q: "搜索", item_id: "工单号"};
const HEADS = ["category", "sentiment", "urgency"];
const FIELDS = ["category", "category_secondary", "sentiment", "urgency"];

const state = {items: [], index: -1, item: null, readonly: false, cursors: [null], page: 0, next: null, total: 0,
               undo: restoreUndo(), busy: false, keys: 0, picked: new Set(), claim: null, renew: null};
// Session progress, and the keys pressed per reviewed item: every key since the previous decision,
// moving to the item included (window.triageStats, for measurements).
const stats = window.triageStats = {reviewed: 0, confirmed: 0, corrected: 0, keys: 0, perItem: []};

function fail(e) { say(describeError(e, ERRORS_ZH), true); }

// This key's display prefix (the first 12 characters, as the API shows it): whose claim or decision it is.
function myPrefix() { return key.slice(0, 12); }
function who(reviewer) { return reviewer ? (reviewer.name || reviewer.prefix) : "其他主管"; }

// The ids of this tab's decisions, newest last: kept in sessionStorage (per key) so that a reload
// still offers the undo of the last one.
function undoKey() { return "triage_undo:" + myPrefix(); }
function restoreUndo() {
  try { return JSON.parse(sessionStorage.getItem(undoKey()) || "[]").filter(Number.isInteger); } catch (e) { return []; }
}
function saveUndo() { sessionStorage.setItem(undoKey(), JSON.stringify(state.undo.slice(-50))); }
function showUndo() {
  const id = state.undo[state.undo.length - 1];
  $("#undo").disabled = !id;
  $("#undo-target").textContent = id ? ` #${id}` : "";
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
function channelName(channel) { return CHANNEL_ZH[channel] || channel; }

// "2026-12-01" or "2026-12-01 09:00" (the browser's time zone) -> a Date; null when not a date.
// Text inputs instead of the browser's date picker, whose format follows the browser's language
// (mm/dd/yyyy in an English one).
function parseLocal(value) {
  const m = /^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2})[:：](\d{2}))?\s*$/.exec(value);
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0));
  return d.getMonth() === +m[2] - 1 && d.getDate() === +m[3] ? d : null;
}
function formatLocal(d) {
  const two = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}
function code(text) { return el("code", {className: "c"}, text); }
function level(p) { return el("span", {className: `lvl ${p.level}`, title: LEVEL_ZH[p.level]}, p.level); }

// --- the queue ------------------------------------------------------------------------------

function filterParams() {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($("#filters"))) {
    if (!value.trim()) continue;
    if (name === "from" || name === "to") {
      const d = parseLocal(value);
      if (d) query.append(name, d.toISOString());
    } else query.append(name, value);
  }
  return query;
}

function summarizeFilters() {
  const names = {status: STATUS_ZH, head: HEAD_ZH, label: ZH, reason: REASONS};
  const shown = [...filterParams()].map(([name, value]) => names[name] ? names[name][value] || value
    : name === "level" ? value : `${FILTER_ZH[name]} ${name === "from" || name === "to" ? localTime(value)
    : name === "channel" ? channelName(value) : value}`);
  $("#filter-summary").textContent = shown.length ? "（" + shown.join("，") + "）" : "（全部待复核）";
}

function restoreFilters() {
  const query = new URLSearchParams(location.search), form = $("#filters");
  for (const input of form.elements) {
    if (!input.name) continue;
    if (input.type === "checkbox") input.checked = query.getAll(input.name).includes(input.value);
    else if (query.has(input.name)) {
      const value = query.get(input.name);
      if (input.name === "from" || input.name === "to") {  // shown in the browser's time zone
        const d = new Date(value);
        input.value = isNaN(d) ? "" : formatLocal(d);
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
  if (item.status === "pending") {  // picked for bulk confirm (a click on the box does not open the item)
    const pick = el("input", {type: "checkbox", className: "pick", title: "选中以批量确认", checked: state.picked.has(item.id)});
    pick.addEventListener("click", (event) => { event.stopPropagation(); togglePick(item.id, pick.checked); });
    li.prepend(pick);
  }
  li.addEventListener("click", () => openItem(i));
  return li;
}

// --- bulk confirm: the model's labels on the picked items, one decision each ---------------------

function togglePick(id, on) {
  if (on) state.picked.add(id); else state.picked.delete(id);
  $("#picked").textContent = state.picked.size;
  $("#bulk-confirm").disabled = !state.picked.size || state.busy;
  const pending = state.items.filter(i => i.status === "pending");
  $("#pick-all").checked = pending.length > 0 && pending.every(i => state.picked.has(i.id));
}

async function bulkConfirm() {
  const chosen = state.items.filter(i => state.picked.has(i.id));
  if (!chosen.length || state.busy) return;
  state.busy = true; $("#bulk-confirm").disabled = true;
  try {
    const body = await api("/v1/review/confirm", {method: "POST",
      body: JSON.stringify({items: chosen.map(i => ({id: i.id, revision: i.revision}))})});
    stats.reviewed += body.confirmed; stats.confirmed += body.confirmed;
    const failed = body.results.filter(r => !r.ok)
      .map(r => `#${r.id} ${ERRORS_ZH[r.error.code] || r.error.message}（${r.error.code}）`);
    state.picked.clear();
    await loadPage(state.page);
    say(`已批量确认 ${body.confirmed} 条` + (failed.length ? `；${failed.length} 条未确认：${failed.join("；")}` : ""),
        failed.length > 0);
  } catch (e) {
    fail(e);
  } finally {
    state.busy = false; togglePick(null, false);
  }
}

// --- team figures (GET /v1/review/figures) ---------------------------------------------------

function share(x) { return x === null || x === undefined ? "–" : `${(x * 100).toFixed(0)}%`; }

async function loadFigures() {
  try {
    const body = await api("/v1/review/figures");
    const rows = [{reviewer: {name: "全组"}, ...body.team}, ...body.reviewers].map(f => {
      const o = f.overturn, t = f.time_to_decision;
      const cell = head => el("td", {title: Object.entries(o[head].by_label)
        .map(([label, c]) => `模型判为${ZH[label] || label}：${c.overturned}/${c.decisions}`).join("；")}, share(o[head].rate));
      return el("tr", {}, el("td", {}, f.reviewer.name || f.reviewer.prefix || `#${f.reviewer.key_id}`),
        el("td", {}, String(f.decisions)), el("td", {}, f.decisions_per_active_hour ?? "–"),
        cell("category"), cell("sentiment"), cell("urgency"),
        el("td", {}, t.minutes_p50 ?? "–"), el("td", {}, share(t.within_deadline_rate)));
    });
    $("#figures tbody").replaceChildren(...rows);
  } catch (e) {
    fail(e);
  }
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
    const shown = new Set(body.items.map(i => i.id));
    for (const id of [...state.picked]) if (!shown.has(id)) state.picked.delete(id);
    togglePick(null, false);
    state.cursors[page + 1] = body.next_cursor;
    renderQueue();
    progress();
    if (!body.items.length) {
      const last = state.undo[state.undo.length - 1];
      $("#detail").hidden = true;
      say((page ? "本页没有条目" : "队列已清空，没有符合条件的条目") + (last ? `（按 u 可撤销你最近一次复核 #${last}）` : ""));
      return;
    }
    say("");
    await openItem(Math.min(open < 0 ? body.items.length - 1 : open, body.items.length - 1));
  } catch (e) {
    if (e.code === "E544") { state.cursors = [null]; fail(e); return loadPage(0); }
    if (e.code === "E501" || e.code === "E502") { $("#login").hidden = false; $("#switch-key").hidden = true; }
    fail(e);
  }
}

// --- one item -------------------------------------------------------------------------------

// Opening an item claims nothing (browsing holds nothing): the first action on it does (hold), the
// page renews the claim while the item stays open and releases it when moving on or leaving.
async function openItem(i) {
  if (i < 0 || i >= state.items.length) return;
  state.index = i; highlightCurrent();
  const id = state.items[i].id;
  if (state.claim !== id) release();
  let item;
  try {
    item = await api(`/v1/items/${id}`);
  } catch (e) { fail(e); return; }
  if (state.index !== i) return;  // the user moved on meanwhile
  const held = heldByOther(item);
  if (held) claimedMessage(item); else say("");
  showItem(item, held);
  explain(item);
}

function heldByOther(item) {
  return Boolean(item.claim && item.claim.reviewer && item.claim.reviewer.prefix !== myPrefix());
}

function claimedMessage(item) {
  say(`${ERRORS_ZH.E543}：${who(item.claim.reviewer)}，至 ${localTime(item.claim.until)}（E543）。` +
      "如不能等待，可填写原因后接手。", true);
}

async function hold() {
  const item = state.item;
  if (!item || state.readonly || state.claim === item.id) return true;
  try {
    const held = await api(`/v1/items/${item.id}/claim`, {method: "POST"});
    if (!state.item || state.item.id !== item.id) { release(held.id); return false; }
    state.claim = item.id; renewLater(held.claim.until);
    return true;
  } catch (e) {
    if (e.code === "E543" && e.details && e.details.item && state.item && state.item.id === item.id) {
      showItem(e.details.item, true); claimedMessage(e.details.item);
    } else fail(e);
    return false;
  }
}

function renewLater(until) {
  clearTimeout(state.renew);
  const lease = Math.max(3000, Date.parse(until) - Date.now());
  state.renew = setTimeout(async () => {
    const id = state.claim;
    if (!id) return;
    try {
      const held = await api(`/v1/items/${id}/claim`, {method: "POST"});
      if (state.claim === id) renewLater(held.claim.until);
    } catch (e) {
      if (state.claim !== id) return;
      state.claim = null;
      if (e.code === "E543" && e.details && e.details.item && state.item && state.item.id === id) {
        showItem(e.details.item, true); claimedMessage(e.details.item);  // taken over meanwhile
      }
    }
  }, lease / 3);
}

// Give the claim back (moving on, leaving the page). keepalive: the request outlives the page.
function release(id = state.claim, keepalive = false) {
  if (!id) return;
  if (id === state.claim) { state.claim = null; clearTimeout(state.renew); }
  fetch(`/v1/items/${id}/claim`, {method: "DELETE", keepalive, headers: {"Authorization": "Bearer " + key}}).catch(() => {});
}

async function takeOver() {
  const item = state.item, note = $("#takeover-note").value.trim();
  if (!item) return;
  if (!note) { say("请填写接手原因（会记入历史记录）", true); $("#takeover-note").focus(); return; }
  try {
    const held = await api(`/v1/items/${item.id}/claim`, {method: "POST", body: JSON.stringify({take_over: true, note})});
    state.claim = item.id; renewLater(held.claim.until);
    $("#takeover-note").value = "";
    showItem(held);
    say(`已接手 #${item.id}（原处理人 ${who(held.takeovers.length ? held.takeovers[held.takeovers.length - 1].taken_from : null)}）`);
  } catch (e) { fail(e); }
}

function showItem(item, readonly = false, changed = false) {
  state.item = item; state.readonly = readonly;
  state.items[state.index] = {...state.items[state.index], ...item};
  $("#detail").hidden = false;
  const meta = [`#${item.id}`, `客户单号 ${item.item_id}`, `收到 ${localTime(item.received_at)}`,
                `状态 ${({pending: "待复核", reviewed: "已复核", not_queued: "未入队"})[item.status]}`];
  if (item.metadata && item.metadata.channel) meta.splice(2, 0, `渠道 ${channelName(item.metadata.channel)}`);
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
  $("#decision").dataset.category = item.labels.category;
  $("#decision textarea").value = "";
  for (const control of $("#decision").elements) control.disabled = readonly && control.id !== "next";
  $("#takeover").hidden = !readonly || !heldByOther(item);
  showUndo();
  // States and take-overs in time order; an undo says which version it took back (in Chinese:
  // the stored note of an undo is for scripts).
  const lines = (item.history || []).map(h => ({at: h.at, text:
    `第 ${h.revision} 版 ${KIND_ZH[h.kind]}` + (h.kind === "undo" && h.revision > 0 ? `（撤回第 ${h.revision - 1} 版）` : "") +
    ` · ${localTime(h.at)}` + (h.reviewer ? ` · ${who(h.reviewer)}` : "") +
    ` · ${h.priority.level} ${routeName(h.route)} · ` + HEADS.map(x => `${HEAD_ZH[x]} ${ZH[h.labels[x]]}`).join("，") +
    (h.labels.category_secondary ? `，${HEAD_ZH.category_secondary} ${ZH[h.labels.category_secondary]}` : "") +
    (h.note && h.kind !== "undo" ? ` · 备注：${h.note}` : "")}));
  for (const t of item.takeovers || [])
    lines.push({at: t.at, text: `${KIND_ZH.takeover} · ${localTime(t.at)} · ${who(t.reviewer)} 接手（原处理人 ${who(t.taken_from)}）· 原因：${t.note}`});
  lines.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  $("#history ol").replaceChildren(...lines.map(x => el("li", {}, x.text)));
}

async function explain(item) {
  try {
    const why = await api(`/v1/items/${item.id}/explanation`);
    if (!state.item || state.item.id !== item.id) return;
    const marks = new Map();  // word start -> {end, classes, tips}; only content words (fillers are never in top)
    const mark = (start, end, cls, tip) => {
      const m = marks.get(start) || {end, classes: new Set(), tips: []};
      m.classes.add(cls); m.tips.push(tip); marks.set(start, m);
    };
    const pct = t => `+${(t.delta * 100).toFixed(0)}%`;
    const parts = [];
    // Why watched first: the question a reviewer of a watched item has (possible_*, rule:*).
    for (const w of why.watched || []) {
      const tip = `为何关注：${w.reason_zh}（${HEAD_ZH[w.head]}「${ZH[w.label]}」）`;
      for (const t of w.top) for (const p of t.parts) mark(p.start, p.end, "watched", `${tip} ${pct(t)}`);
      for (const m of w.matched) mark(m.start, m.end, "watched", `${tip} 规则匹配`);
      const words = [...w.matched.map(m => `「${m.text}」（规则匹配）`), ...w.top.map(t => `${t.text} ${pct(t)}`)];
      parts.push(el("span", {className: "h watched"}, `为何关注「${w.reason_zh}」· ${HEAD_ZH[w.head]}「${ZH[w.label]}」` +
        `（模型概率 ${(w.probability * 100).toFixed(0)}%）：` + (words.length ? words.join("、") : "没有明显的关键词")));
    }
    for (const head of HEADS) {
      const weights = why.heads[head];
      for (const t of weights.top)
        for (const p of t.parts) mark(p.start, p.end, head, `${HEAD_ZH[head]} ${ZH[weights.label]} ${pct(t)}`);
      for (const w of [weights, weights.reviewed].filter(Boolean))
        if (w.top.length) parts.push(el("span", {className: "h"}, `${HEAD_ZH[head]}「${ZH[w.label]}」` +
          (w === weights ? "：" : "（复核标签）：") + w.top.map(t => `${t.text} ${pct(t)}`).join("、")));
    }
    const text = item.text, nodes = [];
    let at = 0;
    for (const start of [...marks.keys()].sort((a, b) => a - b)) {
      const m = marks.get(start);
      if (start < at) continue;
      nodes.push(text.slice(at, start), el("mark", {className: [...m.classes].join(" "), title: m.tips.join("；")}, text.slice(start, m.end)));
      at = m.end;
    }
    nodes.push(text.slice(at));
    $("#text").replaceChildren(...nodes);
    $("#why").replaceChildren(el("span", {className: "muted"}, "判断依据（去掉该词后概率下降）："),
                              ...(parts.length ? parts : ["没有明显的关键词"]));
  } catch (e) {
    $("#why").replaceChildren(el("span", {className: "muted"}, `判断依据暂不可用（${e.code || "网络错误"}）`));
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
    if (state.claim === item.id) { state.claim = null; clearTimeout(state.renew); }  // the decision released it
    state.undo = state.undo.filter(x => x !== item.id); state.undo.push(item.id); saveUndo();
    showItem({...outcome, history: item.history}, false, outcome.changed.length > 0);
    $("#text").replaceChildren(item.text); explain(outcome);
    renderQueue(); progress();
    say(describe(outcome));
  } catch (e) {
    if (e.code === "E542" && e.details && e.details.item) showItem(e.details.item);
    if (e.code === "E543" && e.details && e.details.item) { showItem(e.details.item, true); claimedMessage(e.details.item); }
    else fail(e);
  } finally { state.busy = false; }
}

async function undo() {
  const id = state.undo[state.undo.length - 1];
  if (!id || state.busy) return;
  state.busy = true;
  try {
    const current = await api(`/v1/items/${id}`);
    const latest = (current.history || [])[current.history.length - 1];
    // Only this key's decision, still the item's latest change, is taken back (after a reload too).
    if (!latest || latest.kind !== "review" || !latest.reviewer || latest.reviewer.prefix !== myPrefix()) {
      state.undo.pop(); saveUndo(); showUndo();
      say(`#${id} 的最新修改已不是你的复核，无法撤销`, true);
      return;
    }
    const item = await api(`/v1/items/${id}/undo`, {method: "POST", body: JSON.stringify({revision: current.revision})});
    state.undo.pop(); saveUndo();
    const undone = stats.perItem.filter(p => p.id === id).pop();
    if (undone) { stats.reviewed -= 1; stats[undone.corrected ? "corrected" : "confirmed"] -= 1; stats.perItem.splice(stats.perItem.lastIndexOf(undone), 1); }
    const i = state.items.findIndex(x => x.id === id);
    if (i >= 0) { state.index = i; highlightCurrent(); }
    showItem(item, heldByOther(item), true); explain(item); renderQueue(); progress();
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

async function choose(head, label) {
  if (!state.item || state.readonly) return;
  document.querySelector(`#decision input[name=${head}][value=${label}]`).checked = true;
  if (head === "category") categoryChosen(label);
  await hold();
}

// The secondary category stays as it is unless the supervisor changes it; only when the new
// category is the current secondary do they swap (a secondary equal to the category is not one).
function categoryChosen(label) {
  const form = $("#decision"), secondary = form.querySelector("select[name=category_secondary]");
  if (secondary.value === label) secondary.value = form.dataset.category || "";
  form.dataset.category = label;
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
  event.preventDefault(); release(); useKey($("#key").value); $("#key").value = ""; $("#key").blur(); say("");
  state.undo = restoreUndo(); showUndo(); loadPage(0);
});
$("#filters").addEventListener("submit", (event) => {
  event.preventDefault();
  for (const name of ["from", "to"]) {
    const input = $(`#filters input[name=${name}]`);
    if (input.value.trim() && !parseLocal(input.value)) {
      say(`${FILTER_ZH[name]}：请按“年-月-日”或“年-月-日 时:分”填写，如 2026-12-01 09:00`, true); input.focus(); return;
    }
  }
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
$("#takeover-button").addEventListener("click", takeOver);
// Any change of a label, the secondary or the note by mouse or touch is a first action too.
$("#decision").addEventListener("change", (event) => {
  if (event.target.name === "category") categoryChosen(event.target.value);
  hold();
});
$("#decision textarea").addEventListener("input", () => hold());
addEventListener("pagehide", () => release(state.claim, true));
$("#next").addEventListener("click", () => move(1));
$("#prev-page").addEventListener("click", () => loadPage(state.page - 1));
$("#next-page").addEventListener("click", () => loadPage(state.page + 1));
$("#help-toggle").addEventListener("click", () => $("#help").classList.toggle("open"));
$("#bulk-confirm").addEventListener("click", bulkConfirm);
$("#pick-all").addEventListener("change", (event) => {
  for (const item of state.items) if (item.status === "pending") togglePick(item.id, event.target.checked);
  renderQueue();
});
$("#figures").addEventListener("toggle", () => { if ($("#figures").open && key) loadFigures(); });
setInterval(() => { for (const span of document.querySelectorAll(".deadline")) {
  const left = timeLeft(span.title); span.textContent = `${localTime(span.title)}（${left.text}）`; span.classList.toggle("late", left.late);
} }, 30000);
restoreFilters();
summarizeFilters();
if (window.matchMedia("(max-width: 760px)").matches) $("#filterbox").open = false;  // the item first on a phone
progress();
loadPage(0);
