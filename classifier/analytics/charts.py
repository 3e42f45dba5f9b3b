"""Charts of a report (matplotlib, Agg backend): each written as PNG (embedded in the HTML) and SVG
(glyphs stored as outlines, so it shows the same on a machine without Chinese fonts).

Chinese labels need a CJK font from the system (Debian: ``fonts-noto-cjk``); without one every
hanzi renders as an empty box, so :func:`cjk_font` finds one and the report says when there is none.
matplotlib comes with the ``[report]`` extra and is imported only here, only when a chart is drawn.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from classifier.errors import require
from classifier.labels import CATEGORY, DISPLAY_ZH, HEADS, LABELS
from classifier.priority import LEVELS, QUADRANTS

# Families tried in order: Noto/Source Han (Linux), then what Windows and macOS ship.
CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
                "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Noto Sans CJK JP", "Noto Serif CJK SC")
HEAD_ZH = {"category": "类别", "sentiment": "情感", "urgency": "紧急度"}
COLORS = {"negative": "#d9534f", "neutral": "#9e9e9e", "positive": "#5cb85c"}
MIN_SHARE_ITEMS = 5  # a share is drawn for a category's bucket with at least this many items
CATEGORY_COLORS = {"product_service": "#4a7ebb", "fees": "#e0883a", "contract_legal": "#8e6cc0", "other": "#9e9e9e"}


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display), with a CJK font if there is one."""
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    font = cjk_font()
    plt.rcParams["font.sans-serif"] = ([font] if font else []) + ["DejaVu Sans"]
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["axes.unicode_minus"] = False  # the CJK fonts lack U+2212
    plt.rcParams["svg.fonttype"] = "path"
    return plt


def cjk_font() -> str | None:
    """The first installed family of :data:`CJK_FAMILIES`, or None.

    matplotlib knows the fonts of its cache, built the first time it ran: a CJK font installed
    after that (``apt-get install fonts-noto-cjk`` on a machine that already drew a chart) is not in
    it, and the charts showed boxes while the font was there. So when no known family is CJK, the
    system's font files that the cache lacks are added and the cache is written again.
    """
    require("matplotlib", "report")
    from matplotlib import font_manager

    def known() -> str | None:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FAMILIES if name in installed), None)

    found = known()
    if found is None and _add_unknown_system_fonts(font_manager):
        found = known()
    return found


def _add_unknown_system_fonts(font_manager: Any) -> bool:
    """Add the system's font files matplotlib's cache lacks; True if any was added (cache rewritten)."""
    import matplotlib

    manager = font_manager.fontManager
    cached = {str(Path(f.fname).resolve()) for f in manager.ttflist}
    added = False
    for path in font_manager.findSystemFonts():
        if str(Path(path).resolve()) in cached:
            continue
        try:
            manager.addfont(path)
            added = True
        except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read
            continue
    if added:
        cache = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
        try:
            font_manager.json_dump(manager, cache)
        except OSError:  # a read-only cache folder: found again next time, at the same small cost
            pass
    return added


def zh(label: str) -> str:
    return DISPLAY_ZH.get(label, label)


def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def _bars(ax: Any, labels: Sequence[str], values: Sequence[float], color: Any = "#4a7ebb", fmt: str = "{:,}") -> None:
    bars = ax.bar(labels, values, color=color)
    for bar, v in zip(bars, values):
        ax.annotate(fmt.format(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def _ink(value: float, grid: Sequence[Sequence[float]]) -> str:
    """White on the darker half of a Reds heatmap, black on the lighter."""
    values = [v for row in grid for v in row]
    low, high = min(values), max(values)
    return "white" if high > low and (value - low) / (high - low) > 0.55 else "black"


def draw_all(summary: Mapping[str, Any], out_dir: Path) -> dict[str, list[Path]]:
    """Every chart the summary has data for: ``{chart name: [png, svg]}``.

    Without a CJK font, matplotlib warns once per missing glyph and chart (hundreds of lines); the
    report says it once, in its notes, so those warnings are silenced here."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        return _draw_all(summary, out_dir)


def _draw_all(summary: Mapping[str, Any], out_dir: Path) -> dict[str, list[Path]]:
    plt = pyplot()
    charts = {}

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, head in zip(axes, HEADS):
        dist = summary["distribution"][head]
        _bars(ax, [zh(label) for label in LABELS[head]], [dist.get(label, 0) for label in LABELS[head]])
        ax.set_title(f"{HEAD_ZH[head]}分布")
        ax.tick_params(axis="x", labelsize=8, labelrotation=20 if head == "category" else 0)
    _bars(axes[3], list(LEVELS), [summary["levels"].get(level, 0) for level in LEVELS], color="#e0883a")
    axes[3].set_title("优先级分布")
    charts["distribution"] = _save(fig, out_dir, "distribution")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    left = [0] * len(CATEGORY)
    for s in LABELS["sentiment"]:
        values = [summary["category_sentiment"][c][s] for c in CATEGORY]
        ax.barh([zh(c) for c in CATEGORY], values, left=left, color=COLORS[s], label=zh(s))
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("类别 × 情感")
    ax.spines[["top", "right"]].set_visible(False)
    charts["category_sentiment"] = _save(fig, out_dir, "category_sentiment")

    cells = summary["matrix"]["cells"]
    by_cat = summary["matrix"]["by_category"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [1, 1.6]})
    grid = [[cells["urgent_important"], cells["important_not_urgent"]],
            [cells["urgent_not_important"], cells["not_urgent_not_important"]]]
    ax1.imshow(grid, cmap="Reds")
    names = [["urgent_important", "important_not_urgent"], ["urgent_not_important", "not_urgent_not_important"]]
    total = max(summary["total"], 1)
    for i in range(2):
        for j in range(2):
            ax1.text(j, i, f"{zh(names[i][j])}\n{grid[i][j]:,}\n{grid[i][j] / total:.1%}", ha="center", va="center",
                     fontsize=10, color=_ink(grid[i][j], grid))
    ax1.set_xticks([0, 1], ["紧急", "不紧急"])
    ax1.set_yticks([0, 1], ["重要", "不重要"])
    ax1.set_title("优先级矩阵（紧急 × 重要）")
    heat = [[by_cat[c][q] for q in QUADRANTS] for c in CATEGORY]
    ax2.imshow(heat, cmap="Reds", aspect="auto")
    for i, row in enumerate(heat):
        for j, v in enumerate(row):
            ax2.text(j, i, f"{v:,}", ha="center", va="center", fontsize=9, color=_ink(v, heat))
    ax2.set_xticks(range(len(QUADRANTS)), [zh(q) for q in QUADRANTS], fontsize=8)
    ax2.set_yticks(range(len(CATEGORY)), [zh(c) for c in CATEGORY], fontsize=8)
    ax2.set_title("类别 × 象限")
    charts["matrix"] = _save(fig, out_dir, "matrix")

    review = summary["review"]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    _bars(ax, [zh(c) for c in CATEGORY], [review["by_category"][c] for c in CATEGORY], color="#8e6cc0", fmt="{:.1%}")
    ax.axhline(review["share"], color="#333", linestyle="--", linewidth=1)
    ax.annotate(f"总体 {review['share']:.1%}", (len(CATEGORY) - 0.5, review["share"]), ha="right", va="bottom", fontsize=8)
    ax.set_title("需人工复核的占比（按类别）")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    charts["review"] = _save(fig, out_dir, "review")

    trend = summary["trend"]
    if trend["buckets"]:
        unit_zh = {"day": "日", "week": "周", "month": "月"}[trend["unit"]]
        keys = [b["bucket"] for b in trend["buckets"]]
        fig, ax = plt.subplots(figsize=(11, 3.8))
        ax.bar(keys, [b["volume"] for b in trend["buckets"]], color="#c9d7ea", label="数量")
        ax.set_ylabel("数量")
        twin = ax.twinx()
        twin.plot(keys, [b["negative_share"] for b in trend["buckets"]], color=COLORS["negative"], marker="o",
                  label="负面占比")
        twin.plot(keys, [b["p1_p2_share"] for b in trend["buckets"]], color="#e0883a", marker="s", label="P1/P2 占比")
        twin.set_ylim(0, 1)
        twin.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
        lines = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(lines, ["数量", "负面占比", "P1/P2 占比"], loc="upper left", fontsize=8)
        ax.set_title(f"趋势（按{unit_zh}）")
        step = max(1, len(keys) // 16)
        ax.set_xticks(range(0, len(keys), step), keys[::step], rotation=45, ha="right", fontsize=8)
        charts["trend"] = _save(fig, out_dir, "trend")

        # per category: how many, and the share of them that is negative (a gap where a bucket holds fewer
        # than MIN_SHARE_ITEMS of the category: 1 of 2 is not a 50 % trend)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 3.8))
        xs = range(len(keys))
        for c in CATEGORY:
            counts = [b["categories"][c] for b in trend["buckets"]]
            ax1.plot(xs, counts, marker="o", markersize=3, color=CATEGORY_COLORS[c], label=zh(c))
            shares = [b["negative_by_category"][c] / n if (n := b["categories"][c]) >= MIN_SHARE_ITEMS else None
                      for b in trend["buckets"]]
            ax2.plot(xs, [float("nan") if v is None else v for v in shares], marker="o", markersize=3,
                     color=CATEGORY_COLORS[c], label=zh(c))
        ax1.set_title(f"各类别数量（按{unit_zh}）")
        ax2.set_title(f"各类别负面占比（按{unit_zh}）")
        ax2.set_ylim(0, 1)
        ax2.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
        for ax in (ax1, ax2):
            ax.set_xticks(list(range(0, len(keys), step)), keys[::step], rotation=45, ha="right", fontsize=8)
            ax.spines[["top", "right"]].set_visible(False)
            ax.legend(fontsize=8)
        charts["trend_category"] = _save(fig, out_dir, "trend_category")

    rows = summary["segments"]["rows"]
    if rows:
        fig, ax = plt.subplots(figsize=(max(8, len(rows) * 1.1), 3.8))
        width = 0.27
        xs = range(len(rows))
        for k, (key, name, color) in enumerate((("negative_share", "负面占比", COLORS["negative"]),
                                                ("p1_p2_share", "P1/P2 占比", "#e0883a"),
                                                ("review_share", "复核占比", "#8e6cc0"))):
            ax.bar([x + (k - 1) * width for x in xs], [r[key] for r in rows], width, color=color, label=name)
        ax.set_xticks(list(xs), [f"{r['segment']}\n({r['volume']:,})" for r in rows], fontsize=8)
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
        ax.legend(fontsize=8)
        ax.set_title("分群对比")
        ax.spines[["top", "right"]].set_visible(False)
        charts["segments"] = _save(fig, out_dir, "segments")
    return charts
