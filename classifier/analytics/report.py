"""`triage report SCORED --out DIR`: an offline HTML report over a file `triage score` wrote.

Why a file and not a dashboard: an analyst mails it to a manager, opens it on a machine without
internet, archives it beside the spreadsheet. So ``index.html`` is self-contained (CSS inline,
charts embedded as PNG data), with each chart also beside it as PNG and SVG, and ``summary.json``
holding the numbers. The numbers come from :mod:`classifier.analytics.insights` (shared with the
service's /insights page), the charts from :mod:`classifier.analytics.charts`; jinja2 and matplotlib
are the ``[report]`` extra, imported only when a report is built.

The scored file may be any format and either label language (``--labels zh``); rows written with
an ``error`` are counted, not charted. Quotes are PII-masked with the masker the caller passes.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from classifier.analytics.insights import Item, summarize
from classifier.batch.score import read_sidecar
from classifier.io.tables import is_missing, parse_datetime, read_records
from classifier.errors import NotAScoredFile, require
from classifier.labels import CATEGORY, DISPLAY_ZH, HEADS, LABELS
from classifier.priority import LEVELS, QUADRANTS
from classifier.review import REASON_ZH

FROM_ZH = {zh: en for en, zh in DISPLAY_ZH.items()}
TRUE = {"true", "1", "yes", "是", "y", "t"}


@dataclass
class Report:
    html: Path
    charts: dict[str, list[Path]]
    summary: dict[str, Any]
    rows: int  # scored rows charted
    error_rows: int  # rows of the file written with an error (not charted)
    seconds: float


def load_items(
    path: Path, prefix: str = "", text_column: str = "text", date_column: str | None = None, by: str | None = None,
    encoding: str = "auto", aliases: dict[str, str] | None = None,
) -> tuple[list[Item], int, list[str]]:
    """``(items, error rows, notes)`` of a scored file; ``NotAScoredFile`` (E234) names missing columns.

    ``aliases`` (field → the file's column, the ``--map`` of ``triage score``) lets ``--by channel``
    or ``--date-column received_at`` name the field when the file's column is ``渠道`` or ``受理时间``.
    """
    p = prefix
    items: list[Item] = []
    errors, undated_values = 0, 0
    checked = False
    for line, record, problem in read_records(path, encoding=encoding):
        if problem is not None:
            errors += 1
            continue
        if not checked:
            checked = True
            text_column, date_column, by = (
                (aliases or {}).get(c, c) if c and c not in record and (aliases or {}).get(c) in record else c
                for c in (text_column, date_column, by))
            needed = {f"{p}{h}" for h in HEADS} | {f"{p}quadrant", f"{p}priority_level", f"{p}needs_review", text_column}
            needed |= {c for c in (date_column, by) if c}
            missing = sorted(needed - set(record))
            if missing:
                raise NotAScoredFile(
                    f"{path}: no column(s) {', '.join(missing)}: is it a `triage score` output "
                    f"(--prefix {prefix!r}, --text-column, --date-column, --by)? columns: {', '.join(record)}",
                    details={"missing": missing})
        if record.get(f"{p}error") not in (None, "") or is_missing(record.get(f"{p}category")):
            errors += 1
            continue
        try:
            labels = {h: _label(h, record[f"{p}{h}"]) for h in HEADS}
            quadrant, level = _label("quadrant", record[f"{p}quadrant"]), str(record[f"{p}priority_level"])
        except ValueError as exc:
            raise NotAScoredFile(f"{path}: line {line}: {exc}") from None
        received = _date(record.get(date_column)) if date_column else None
        undated_values += bool(date_column) and received is None
        items.append(Item(
            **labels, quadrant=quadrant, level=level,
            needs_review=str(record.get(f"{p}needs_review")).strip().lower() in TRUE,
            confidence={h: _float(record.get(f"{p}{h}_confidence")) for h in HEADS},
            text=str(record.get(text_column) or ""),  # CSV readers drop the safety quote (io.tables.unneutralise)
            received=received,
            segment=None if not by or is_missing(record.get(by)) or str(record.get(by)).strip() == "" else str(record[by]),
            review_reasons=_reasons(record.get(f"{p}review_reasons")),
        ))
    notes = [f"{undated_values:,} rows have no readable date in {date_column!r}: left out of the trend"] if undated_values else []
    return items, errors, notes


def _label(kind: str, value: Any) -> str:
    value = FROM_ZH.get(str(value).strip(), str(value).strip())
    known = QUADRANTS if kind == "quadrant" else LABELS[kind]
    if value not in known:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {', '.join(known)}")
    return value


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _reasons(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return [str(v) for v in json.loads(value)]
        except ValueError:
            return []
    return []


def _date(value: Any) -> date | None:
    when = parse_datetime(value)
    return when.date() if when else None


def build_report(
    scored: str | Path, out_dir: str | Path, mask: Callable[[str], str], *, prefix: str | None = None,
    text_column: str | None = None, date_column: str | None = None, by: str | None = None, encoding: str = "auto",
    top_terms: int = 10, quotes: int = 3,
) -> Report:
    """Read ``scored``, write ``out_dir/index.html``, ``summary.json`` and the charts (PNG + SVG).

    ``prefix`` and ``text_column`` left as None are taken from how the file was scored (the
    ``OUT.score.json`` that ``triage score`` wrote beside it), else ``""`` and ``text``; its column
    map resolves field names given for ``by`` and ``date_column``.
    """
    start = time.perf_counter()
    scored, out_dir = Path(scored), Path(out_dir)
    scoring = read_sidecar(scored) or {}
    prefix = prefix if prefix is not None else str(scoring.get("prefix") or "")
    text_column = text_column or str(scoring.get("text_column") or "text")
    aliases = {str(k): str(v) for k, v in (scoring.get("column_map") or {}).items()}

    jinja2 = require("jinja2", "report")
    from classifier.analytics import charts as charting

    items, errors, notes = load_items(scored, prefix, text_column, date_column, by, encoding, aliases)
    if not items:
        raise NotAScoredFile(f"{scored}: no scored rows ({errors} rows with an error)")
    summary = summarize(items, mask, top_terms=top_terms, quotes=quotes)
    summary.update({"input": str(scored), "error_rows": errors, "notes": notes, "date_column": date_column, "by": by})
    out_dir.mkdir(parents=True, exist_ok=True)  # a missing folder is made, as --out says
    font = charting.cjk_font()
    if font is None:
        notes.append("未找到中文字体，图表中的中文会显示为方框：请安装一种中文字体（Debian/Ubuntu: apt-get install "
                     "fonts-noto-cjk）后重新生成报告 (no CJK font installed)")
    charts = charting.draw_all(summary, out_dir)
    images = {name: base64.b64encode(paths[0].read_bytes()).decode("ascii") for name, paths in charts.items()}
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    env = jinja2.Environment(autoescape=True)
    html = env.from_string(TEMPLATE).render(
        s=summary, images=images, zh=DISPLAY_ZH, heads=HEADS, labels=LABELS, categories=CATEGORY, quadrants=QUADRANTS,
        levels=LEVELS, title=scored.name, generated=datetime.now().strftime("%Y-%m-%d %H:%M"), font=font,
        head_zh={"category": "类别", "sentiment": "情感", "urgency": "紧急度"}, reasons_zh=REASON_ZH,
    )
    target = out_dir / "index.html"
    target.write_text(html, encoding="utf-8")
    return Report(target, charts, summary, len(items), errors, round(time.perf_counter() - start, 3))


TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>客户反馈分析报告 · {{ title }}</title>
<style>
 body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif; margin: 2rem auto;
        max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.5; }
 h1 { margin-bottom: .2rem; } h2 { border-bottom: 2px solid #4a7ebb; padding-bottom: .2rem; margin-top: 2.5rem; }
 .muted { color: #666; font-size: .9rem; }
 .kpis { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
 .kpi { background: #f4f7fb; border-radius: 6px; padding: .7rem 1.1rem; min-width: 9rem; }
 .kpi b { display: block; font-size: 1.6rem; }
 img { max-width: 100%; height: auto; }
 table { border-collapse: collapse; margin: .5rem 0 1.2rem; font-size: .9rem; }
 th, td { border: 1px solid #ddd; padding: .35rem .6rem; text-align: left; vertical-align: top; }
 th { background: #f4f7fb; }
 td.num { text-align: right; font-variant-numeric: tabular-nums; }
 .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 1rem; }
 .card { border: 1px solid #e3e3e3; border-radius: 6px; padding: .6rem .9rem; }
 .card h3 { margin: .2rem 0 .5rem; font-size: 1rem; }
 .terms span { display: inline-block; background: #eef3fa; border-radius: 3px; padding: 0 .35rem; margin: .1rem; }
 blockquote { margin: .4rem 0; padding: .3rem .7rem; border-left: 3px solid #4a7ebb; background: #fafafa; }
 blockquote.severe { border-left-color: #d9534f; }
 .card h4 { margin: .5rem 0 .2rem; font-size: .85rem; color: #555; }
 .note { background: #fff8e1; padding: .5rem .8rem; border-radius: 4px; }
</style>
</head>
<body>
<h1>客户反馈分析报告</h1>
<p class="muted">{{ title }} · 生成于 {{ generated }} · 共 {{ "{:,}".format(s.total) }} 条已评分{% if s.error_rows %}（另有 {{ s.error_rows }} 行因错误未评分）{% endif %}</p>
{% for n in s.notes %}<p class="note">{{ n }}</p>{% endfor %}

<div class="kpis">
 <div class="kpi">已评分<b>{{ "{:,}".format(s.total) }}</b></div>
 <div class="kpi">负面占比<b>{{ "{:.1%}".format(s.distribution.sentiment.negative / s.total) }}</b></div>
 <div class="kpi">P1/P2 占比<b>{{ "{:.1%}".format((s.levels.P1 + s.levels.P2) / s.total) }}</b></div>
 <div class="kpi">需人工复核<b>{{ "{:.1%}".format(s.review.share) }}</b></div>
</div>

<h2 id="distribution">各维度分布</h2>
<img src="data:image/png;base64,{{ images.distribution }}" alt="各维度分布">
<table>
 <tr><th>维度</th><th>标签</th><th>数量</th><th>占比</th></tr>
 {% for h in heads %}{% for l in labels[h] %}
 <tr><td>{{ head_zh[h] }}</td><td>{{ zh[l] }}</td><td class="num">{{ "{:,}".format(s.distribution[h][l]) }}</td>
     <td class="num">{{ "{:.1%}".format(s.distribution[h][l] / s.total) }}</td></tr>
 {% endfor %}{% endfor %}
</table>

<h2 id="category-sentiment">类别 × 情感</h2>
<img src="data:image/png;base64,{{ images.category_sentiment }}" alt="类别 × 情感">

<h2 id="matrix">优先级矩阵</h2>
<img src="data:image/png;base64,{{ images.matrix }}" alt="优先级矩阵">
<table>
 <tr><th>优先级</th>{% for l in levels %}<th>{{ l }}</th>{% endfor %}</tr>
 <tr><td>数量</td>{% for l in levels %}<td class="num">{{ "{:,}".format(s.levels[l]) }}</td>{% endfor %}</tr>
</table>

<h2 id="review">人工复核</h2>
<img src="data:image/png;base64,{{ images.review }}" alt="复核占比">
<p>需复核 {{ "{:,}".format(s.review.count) }} 条（{{ "{:.1%}".format(s.review.share) }}）。原因：
{% for r, n in s.review.reasons.items() %}{{ reasons_zh.get(r, r) }} <code>{{ r }}</code> {{ "{:,}".format(n) }}{% if not loop.last %}，{% endif %}{% else %}无{% endfor %}</p>

<h2 id="trend">趋势</h2>
{% if images.trend %}<img src="data:image/png;base64,{{ images.trend }}" alt="趋势">
<h3 id="trend-category">各类别趋势</h3>
<img src="data:image/png;base64,{{ images.trend_category }}" alt="各类别趋势">
<table>
 <tr><th>{{ {"day": "日", "week": "周", "month": "月"}[s.trend.unit] }}</th>{% for c in categories %}<th>{{ zh[c] }}（负面）</th>{% endfor %}<th>合计</th></tr>
 {% for b in s.trend.buckets %}<tr><td>{{ b.bucket }}</td>{% for c in categories %}<td class="num">{{ "{:,}".format(b.categories[c]) }}（{{ "{:,}".format(b.negative_by_category[c]) }}）</td>{% endfor %}<td class="num">{{ "{:,}".format(b.volume) }}</td></tr>{% endfor %}
</table>
{% else %}<p class="muted">未指定日期列（--date-column），或该列没有可读的日期。</p>{% endif %}

<h2 id="terms">热词（类内 TF-IDF）</h2>
<div class="grid">
{% for c in categories %}<div class="card"><h3>{{ zh[c] }}</h3><div class="terms">
 {% for t, w in s.terms.by_category.get(c, []) %}<span>{{ t }}</span>{% else %}<span class="muted">—</span>{% endfor %}</div></div>
{% endfor %}
</div>
<div class="grid">
{% for q in quadrants %}<div class="card"><h3>{{ zh[q] }}</h3><div class="terms">
 {% for t, w in s.terms.by_cell.get(q, []) %}<span>{{ t }}</span>{% else %}<span class="muted">—</span>{% endfor %}</div></div>
{% endfor %}
</div>

<h3 id="negative-terms">负面反馈热词（与非负面反馈相比）</h3>
<p class="terms">全部负面：{% for t, w in s.terms.negative %}<span>{{ t }}</span>{% else %}<span class="muted">—</span>{% endfor %}</p>
<div class="grid">
{% for c in categories %}<div class="card"><h3>{{ zh[c] }} · 负面</h3><div class="terms">
 {% for t, w in s.terms.negative_by_category.get(c, []) %}<span>{{ t }}</span>{% else %}<span class="muted">—</span>{% endfor %}</div></div>
{% endfor %}
</div>

<h2 id="quotes">代表性原文（已脱敏）</h2>
<p class="muted">典型：最能代表该类别用词的原文（过短的提问排在后面）；严重：负面原文中优先级最高、紧急度最高者。</p>
<div class="grid">
{% for c in categories %}<div class="card"><h3>{{ zh[c] }}</h3>
 <h4>典型</h4>
 {% for q in s.quotes.by_category[c] %}<blockquote>{{ q.text }}<br><span class="muted">{{ zh[q.sentiment] }} · {{ q.level }} · 置信度 {{ q.confidence }}</span></blockquote>
 {% else %}<p class="muted">—</p>{% endfor %}
 <h4>严重</h4>
 {% for q in s.quotes.severe_by_category[c] %}<blockquote class="severe">{{ q.text }}<br><span class="muted">{{ zh[q.sentiment] }} · 紧急度{{ zh[q.urgency] }} · {{ q.level }}</span></blockquote>
 {% else %}<p class="muted">无负面原文</p>{% endfor %}</div>
{% endfor %}
</div>
<h3>按象限（典型）</h3>
<div class="grid">
{% for c in quadrants %}<div class="card"><h3>{{ zh[c] }}</h3>
 {% for q in s.quotes.by_cell[c] %}<blockquote>{{ q.text }}<br><span class="muted">{{ zh[q.sentiment] }} · {{ q.level }} · 置信度 {{ q.confidence }}</span></blockquote>
 {% else %}<p class="muted">—</p>{% endfor %}</div>
{% endfor %}
</div>

<h2 id="segments">分群对比{% if s.by %}（按 {{ s.by }}）{% endif %}</h2>
{% if s.segments.rows %}
<img src="data:image/png;base64,{{ images.segments }}" alt="分群对比">
<table>
 <tr><th>{{ s.by }}</th><th>数量</th>{% for c in categories %}<th>{{ zh[c] }}</th>{% endfor %}<th>负面</th><th>P1/P2</th><th>复核</th></tr>
 {% for r in s.segments.rows %}<tr><td>{{ r.segment }}</td><td class="num">{{ "{:,}".format(r.volume) }}</td>
 {% for c in categories %}<td class="num">{{ "{:.1%}".format(r.category_share[c]) }}</td>{% endfor %}
 <td class="num">{{ "{:.1%}".format(r.negative_share) }}</td><td class="num">{{ "{:.1%}".format(r.p1_p2_share) }}</td>
 <td class="num">{{ "{:.1%}".format(r.review_share) }}</td></tr>{% endfor %}
</table>
{% if s.segments.others %}<p class="muted">另有 {{ "{:,}".format(s.segments.others) }} 条属于较小的分群，未单列。</p>{% endif %}
{% else %}<p class="muted">未指定分群列（--by），例如 --by channel。</p>{% endif %}

<p class="muted">图表另存为 PNG 与 SVG（同目录），数字见 summary.json。{% if font %}字体：{{ font }}。{% endif %}</p>
</body>
</html>
"""
