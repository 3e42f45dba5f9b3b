"""`triage report` over a file the real scorer wrote (tiny bundle): every section, real images,
masked quotes; the numbers behind it; Chinese glyphs that are glyphs, not boxes."""
from __future__ import annotations

import json
import warnings
from datetime import date
from pathlib import Path

import pytest

from classifier.analytics.insights import Item, bucket_unit, summarize
from classifier.analytics.report import build_report
from classifier.batch.score import ScoreOptions, score_file
from classifier.io.tables import write_table
from classifier.analytics.terms import class_tfidf, useful
from classifier.cli import main
from classifier.errors import NotAScoredFile
from classifier.priority import PriorityMatrix
from classifier.routing import Router
from classifier.runtime import Classifier
from classifier.text.pii import mask_text

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny_bundle"
PHONE = "13812345678"
TEXTS = [
    f"信用卡年费没经过我同意就扣了，要求退还，回电{PHONE}",
    "手机银行转账一直失败，钱被冻结",
    "花呗怎么还款",
    "催收天天打电话骚扰我家人，我要投诉到银保监会",
    "服务很好，谢谢客服",
    "借呗提前还款要收手续费吗",
    "app更新以后闪退，登录一直提示网络异常",
    "未经同意开通会员自动扣费，霸王条款",
    "理财产品到期了钱什么时候到账",
    "保险合同条款和销售说的不一样",
]
HOSTILE_CHANNEL = "=cmd|' /C calc'!A0"  # written to the scored CSV as '=cmd…
SECTIONS = ["distribution", "category-sentiment", "matrix", "review", "trend", "trend-category", "terms", "negative-terms",
            "quotes", "segments"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("scored")
    src, out = tmp / "in.csv", tmp / "scored.csv"
    rows = [{"id": str(i), "text": TEXTS[i % len(TEXTS)], "channel": ["app", "12378", HOSTILE_CHANNEL][i % 3],
             "date": f"2026-{1 + i % 4:02d}-{1 + i % 27:02d}"} for i in range(30)]
    rows.append({"id": "empty", "text": "", "channel": "app", "date": "2026-01-01"})  # an error row
    write_table(src, rows, ["id", "text", "channel", "date"])
    score_file(src, out, Classifier.load(TINY, threads=1), PriorityMatrix.from_yaml(ROOT / "configs/priority.yaml"),
               Router.from_yaml(ROOT / "configs/routing.yaml"), ScoreOptions(labels="zh"))
    return out


def test_the_report_has_every_section_and_its_images(scored, tmp_path):
    report = build_report(scored, tmp_path / "report", mask_text, date_column="date", by="channel")
    assert (report.rows, report.error_rows) == (30, 1)
    html = report.html.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert set(report.charts) == {"distribution", "category_sentiment", "matrix", "review", "trend", "trend_category",
                                  "segments"}
    for png, svg in report.charts.values():
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5_000
        assert "<svg" in svg.read_text(encoding="utf-8")[:500] and svg.stat().st_size > 5_000
    assert html.count("data:image/png;base64,") == 7  # self-contained: no file or network reference
    assert "http://" not in html and "https://" not in html and "<script" not in html

    s = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    assert s["total"] == 30 and sum(s["distribution"]["category"].values()) == 30
    assert sum(s["matrix"]["cells"].values()) == 30 == sum(s["levels"].values())
    assert s["trend"]["unit"] == "week" and sum(b["volume"] for b in s["trend"]["buckets"]) == 30
    # the spreadsheet-safety quote of the scored CSV is not part of the channel's name (issue 28)
    assert {r["segment"] for r in s["segments"]["rows"]} == {"app", "12378", HOSTILE_CHANNEL}
    assert "&#39;=cmd" not in html and "=cmd|&#39; /C calc&#39;!A0" in html
    assert any(s["terms"]["by_category"].values()) and any(s["terms"]["by_cell"].values())
    assert s["terms"]["negative"] and any(s["terms"]["negative_by_category"].values())
    for b in s["trend"]["buckets"]:  # the trend per category adds up
        assert sum(b["categories"].values()) == b["volume"]
        assert all(b["negative_by_category"][c] <= b["categories"][c] for c in b["categories"])
    quotes = [q for group in s["quotes"].values() for qs in group.values() for q in qs]
    assert quotes and all(q["confidence"] >= 0 for q in quotes)
    severe = [q for qs in s["quotes"]["severe_by_category"].values() for q in qs]
    assert severe and all(q["sentiment"] == "negative" for q in severe)
    assert PHONE not in html and PHONE not in json.dumps(s)  # quotes are masked
    assert "138****5678" in html or not any("回电" in q["text"] for q in quotes)


def test_the_cli_writes_the_report_and_refuses_a_file_that_was_not_scored(scored, tmp_path, capsys):
    assert main(["report", str(scored), "--out", str(tmp_path / "r")]) == 0
    assert "30 scored rows, 1 error rows" in capsys.readouterr().out
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "--date-column" in html and "--by" in html  # sections without data say how to get it
    raw = tmp_path / "raw.csv"
    write_table(raw, [{"id": "1", "text": "花呗"}], ["id", "text"])
    assert main(["report", str(raw), "--out", str(tmp_path / "r2")]) == 1
    assert "[E234]" in capsys.readouterr().err
    with pytest.raises(NotAScoredFile, match="no column.*region"):
        build_report(scored, tmp_path / "r3", mask_text, by="region")


def test_class_tfidf_ranks_what_sets_a_group_apart():
    groups = {"fees": [["年费", "银行"], ["年费", "扣费", "银行"]], "app": [["闪退", "银行"], ["闪退", "登录", "银行"]]}
    top = class_tfidf(groups, top=2)
    assert [t for t, _ in top["fees"]] == ["年费", "扣费"] and top["app"][0][0] == "闪退"
    assert not any(useful(w) for w in ["的", "了", "我们", "，", "2026", "a"]) and useful("年费")


def test_summary_numbers_and_trend_buckets():
    items = [Item("fees", "negative", "high", "urgent_important", "P1", True, {"category": 0.9}, "年费乱扣",
                  date(2026, 1, 1), "app"),
             Item("fees", "neutral", "low", "not_urgent_not_important", "P4", False, {"category": 0.5}, "年费多少",
                  date(2026, 1, 2), "app")]
    s = summarize(items, mask_text, top_terms=0)
    assert s["review"]["share"] == 0.5 and s["trend"]["unit"] == "day"
    assert [b["negative_share"] for b in s["trend"]["buckets"]] == [1.0, 0.0]
    assert s["quotes"]["by_category"]["fees"][0]["text"] == "年费乱扣"
    assert s["trend"]["buckets"][0]["categories"]["fees"] == 1 and s["trend"]["buckets"][0]["negative_by_category"]["fees"] == 1


def _item(text: str, category: str = "fees", sentiment: str = "neutral", level: str = "P4", urgency: str = "low",
          confidence: float = 0.9) -> Item:
    return Item(category, sentiment, urgency, "not_urgent_not_important", level, False,
                {"category": confidence, "sentiment": confidence}, text)


def test_quotes_represent_their_category_typical_and_severe():
    """Issue 28: quotes chosen most confident first were bland questions; now a typical quote carries
    the category's characteristic words, and a severe one is the most pressing negative text."""
    items = [_item("年费多少", confidence=0.99), _item("年费怎么算", confidence=0.98),
             _item("信用卡年费没经过我同意就扣了，要求退还年费和违约金", confidence=0.8),
             _item("年费乱扣，客服电话打不通，再不退年费就去银保监会投诉", "fees", "negative", "P1", "high", 0.7),
             _item("年费又扣了一次，很不满意", "fees", "negative", "P3", "medium", 0.95),
             _item("手机银行转账失败", "product_service")]
    s = summarize(items, mask_text, quotes=2)
    typical = [q["text"] for q in s["quotes"]["by_category"]["fees"]]
    assert typical[0] not in ("年费多少", "年费怎么算") and all(len(t) >= 12 for t in typical)
    severe = s["quotes"]["severe_by_category"]["fees"]
    assert [q["level"] for q in severe] == ["P1", "P3"] and severe[0]["urgency"] == "high"
    assert s["quotes"]["severe_by_category"]["product_service"] == []  # no negative text there
    neg = [t for t, _ in s["terms"]["negative"]]
    assert "投诉" in neg or "不满意" in neg


def test_terms_leave_out_noise_and_one_texts_repetition():
    assert not any(useful(w) for w in ["不了", "你家", "三楼", "12楼", "楼主"])
    assert useful("年费") and useful("闪退")
    # in a group of 10+ texts a term needs two of them: one customer repeating 三号柜台 is not the group's topic
    texts = [["年费", "扣费"]] * 19 + [["三号柜台"] * 10]
    top = [t for t, _ in class_tfidf({"fees": texts, "app": [["闪退"]] * 5}, top=3)["fees"]]
    assert "三号柜台" not in top and top[0] in ("年费", "扣费")
    assert (bucket_unit(date(2026, 1, 1), date(2026, 3, 1)), bucket_unit(date(2025, 1, 1), date(2026, 3, 1))) == ("week", "month")


def test_chart_labels_render_chinese_glyphs_not_empty_boxes(tmp_path):
    from classifier.analytics.charts import cjk_font, pyplot

    font = cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk); charts would show boxes")
    plt = pyplot()
    import numpy as np

    def render(ch: str):
        fig = plt.figure(figsize=(1, 1), dpi=60)
        fig.text(0.5, 0.5, ch, fontsize=40, ha="center", va="center")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Glyph … missing from font(s)": expected for the box
            fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(axis=2)
        plt.close(fig)
        return pixels < 128

    a, b, box = render("投"), render("诉"), render("\U000F0000")  # a private-use code point: the missing-glyph box
    assert a.sum() > 20 and b.sum() > 20  # something was drawn
    assert (a != b).sum() > 20  # two different hanzi look different: not the same box twice (0 with DejaVu only)
    assert (a != box).sum() > 20 and (b != box).sum() > 20


def test_plotting_stays_out_of_the_runtime_the_scorer_and_the_service():
    import subprocess
    import sys

    code = ("import sys, classifier.runtime, classifier.batch.score, classifier.analytics.report_cli, serving.app\n"
            "from classifier.cli import build_parser; build_parser()\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_the_report_remembers_how_the_file_was_scored(tmp_path, capsys):
    """`score --map text=客户意见 --map channel=渠道` then `report --by channel`: the report reads the
    mapping `triage score` recorded beside its output (SCORED.score.json) instead of failing with E234."""
    src = tmp_path / "导出.csv"
    rows = [{"编号": str(i), "客户意见": TEXTS[i % len(TEXTS)], "渠道": ["app", "电话"][i % 2]} for i in range(8)]
    write_table(src, rows, ["编号", "客户意见", "渠道"])
    out = tmp_path / "scored.xlsx"
    argv = ["score", str(src), "--out", str(out), "--bundle", str(TINY), "--quiet", "--labels", "zh",
            "--map", "text=客户意见", "--map", "channel=渠道", "--map", "id=编号"]
    assert main(argv) == 0, capsys.readouterr().err
    recorded = json.loads((tmp_path / "scored.xlsx.score.json").read_text(encoding="utf-8"))
    assert recorded["text_column"] == "客户意见" and recorded["column_map"]["channel"] == "渠道"
    capsys.readouterr()

    assert main(["report", str(out), "--out", str(tmp_path / "report"), "--by", "channel"]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    assert {r["segment"]: r["volume"] for r in summary["segments"]["rows"]} == {"app": 4, "电话": 4}

    # Without the record the same command says what is missing (the old behaviour, still clear).
    (tmp_path / "scored.xlsx.score.json").unlink()
    assert main(["report", str(out), "--out", str(tmp_path / "report2"), "--by", "channel"]) == 1
    assert "[E234]" in capsys.readouterr().err


def test_a_font_installed_after_matplotlibs_cache_was_built_is_found(tmp_path, monkeypatch):
    """The cache predates the font (fonts-noto-cjk installed after matplotlib first ran): the font
    files the cache lacks are added and the cache is written again. The system's font folders are
    the one thing stood in for (a copy of a font in a temporary folder)."""
    import matplotlib
    from matplotlib import font_manager

    from classifier.analytics import charts

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    fresh = tmp_path / "fonts" / "NewlyInstalled.ttf"
    fresh.parent.mkdir()
    fresh.write_bytes(source.read_bytes())
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [str(fresh)])
    monkeypatch.setattr(matplotlib, "get_cachedir", lambda: str(tmp_path))
    before = len(font_manager.fontManager.ttflist)
    try:
        assert charts._add_unknown_system_fonts(font_manager) is True
        assert str(fresh) in {f.fname for f in font_manager.fontManager.ttflist}
        assert list(tmp_path.glob("fontlist-v*.json"))  # the cache written again, so the next run knows it
        assert charts._add_unknown_system_fonts(font_manager) is False  # known now: nothing to add
    finally:
        del font_manager.fontManager.ttflist[before:]


def test_no_glyph_warnings_whatever_the_fonts(scored, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_report(scored, tmp_path / "report", mask_text)
    assert not [w for w in caught if "Glyph" in str(w.message)]
