"""`triage score` on the files analysts really have: other encodings, broken CSV, hostile cells,
their own column names; and the spreadsheet it writes (read back with openpyxl and csv)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest

from classifier.batch.score import ScoreOptions, score_file
from classifier.io.tables import ReadStats, read_records, write_table
from classifier.cli import main
from classifier.errors import ColumnMapError, UnknownEncoding
from classifier.labels import DISPLAY_ZH, LABELS
from classifier.priority import PriorityMatrix
from classifier.routing import Router
from classifier.runtime import Classifier

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny_bundle"
CONFIGS = ["--priority-config", str(ROOT / "configs/priority.yaml"), "--routing-config", str(ROOT / "configs/routing.yaml")]
ROWS = [("1", "信用卡年费没经过我同意就扣了，要求退还", "app"), ("2", "手机银行转账一直失败", "12378"),
        ("3", "花呗怎么还款", "wechat")]


@pytest.fixture(scope="module")
def parts():
    return (Classifier.load(TINY, threads=1), PriorityMatrix.from_yaml(ROOT / "configs" / "priority.yaml"),
            Router.from_yaml(ROOT / "configs" / "routing.yaml"))


def score(parts, src: Path, out: Path, **kw):
    return score_file(src, out, *parts, ScoreOptions(**kw))


def csv_text(rows=ROWS, header=("id", "text", "channel")) -> str:
    return "\r\n".join(",".join(r) for r in [header, *rows]) + "\r\n"


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# --- encodings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("codec,reported", [
    ("gbk", "gb18030"), ("gb18030", "gb18030"), ("utf-16", "utf-16"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8"),
])
def test_exports_in_every_common_encoding_are_read_and_the_encoding_is_reported(parts, tmp_path, codec, reported):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(csv_text().encode(codec))
    summary = score(parts, src, out)
    assert summary.encoding == reported and summary.scored == 3 and summary.accounted
    assert [r["text"] for r in read_csv(out)] == [r[1] for r in ROWS]  # the Chinese text survives intact


def test_an_encoding_can_be_given_and_an_unknown_one_is_refused(parts, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t, _ in ROWS).encode("gbk"))
    summary = score(parts, src, tmp_path / "out.jsonl", encoding="gbk")
    assert (summary.encoding, summary.encoding_detected, summary.scored) == ("gbk", False, 3)
    with pytest.raises(UnknownEncoding, match="unknown encoding 'klingon'"):
        score(parts, src, tmp_path / "out2.jsonl", encoding="klingon")


# --- malformed CSV -----------------------------------------------------------------------------
BROKEN = (
    'id,text,channel\n'              # 1
    '1,手机银行转账一直失败,app\n'     # 2
    '\n'                             # 3 blank
    '2,"年费乱扣，说好的免年费,app\n'  # 4 runaway quote: never closes on this line
    '3,花呗怎么还款,app\n'            # 5
    '4,"多行的\n'                    # 6 a legitimate field over two lines
    '反馈内容",12378\n'              # 7
    '5,只有两列\n'                   # 8 short row: scored, channel empty
    '6,太长,app,extra,more\n'        # 9 long row: an error row
    '   \n'                          # 10 blank
    '7,"催收骚扰我家人",app\n'        # 11
    '8,最后一行,"wechat"\n'           # 12
)


def test_every_record_of_a_broken_csv_is_one_output_row(parts, tmp_path):
    src, out = tmp_path / "broken.csv", tmp_path / "out.csv"
    src.write_text(BROKEN, encoding="utf-8")
    summary = score(parts, src, out)
    got = read_csv(out)
    assert [r["row"] for r in got] == [str(i) for i in range(1, 9)]
    # the runaway quote's row keeps its id (the cells before the quote); the row with too many fields cannot
    # say which of its cells are which
    assert [r["id"] for r in got] == ["1", "2", "3", "4", "5", "", "7", "8"]
    runaway = got[1]
    assert runaway["error"].startswith("E231 line 4: csv: a quote opened on this line does not close properly")
    assert got[2]["text"] == "花呗怎么还款" and got[2]["error"] == ""  # the line after the runaway is not swallowed
    assert got[3]["text"] == "多行的\n反馈内容" and got[3]["channel"] == "12378"
    assert got[4]["text"] == "只有两列" and got[4]["channel"] == "" and got[4]["error"] == ""
    assert got[5]["error"].startswith("E223 line 9: row: 5 fields but the header has 3")
    assert (summary.input_lines, summary.blank_lines) == (12, 2)
    assert (summary.input_records, summary.output_rows, summary.error_rows) == (8, 8, 2)
    assert summary.error_counts == {"E231": 1, "E223": 1} and summary.accounted


def test_a_quote_running_to_the_end_of_the_file_is_reported_on_its_line(tmp_path):
    rows = [f"{i},第{i}条反馈,app" for i in range(3, 300)]
    src = tmp_path / "in.csv"
    src.write_text("id,text,channel\n1,ok,app\n2,\"never closed,app\n" + "\n".join(rows) + "\n", encoding="utf-8")
    stats = ReadStats()
    got = list(read_records(src, stats=stats))
    assert len(got) == 299 and stats.records == 299 and stats.accounted
    line, record, problem = got[1]
    assert line == 3 and record is None and "runs to the end of the file" in problem.reason and problem.code == "E231"
    assert problem.cells == {"id": "2"}  # what came before the quote
    assert [r["id"] for _, r, _ in got[2:]] == [str(i) for i in range(3, 300)]


def test_the_cli_prints_the_accounting_and_exits_3_when_rows_go_missing(tmp_path, capsys, monkeypatch):
    src, out = tmp_path / "broken.csv", tmp_path / "out.xlsx"
    src.write_text(BROKEN, encoding="utf-8")
    assert main(["score", str(src), "--out", str(out), "--bundle", str(TINY), "--quiet", *CONFIGS]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {k: summary[k] for k in ("input_records", "output_rows", "error_rows", "accounted")} == {
        "input_records": 8, "output_rows": 8, "error_rows": 2, "accounted": True}

    import classifier.batch.score as scoring  # a reader bug that loses a line must not pass unnoticed
    real = scoring.read_records

    def lossy(*args, **kw):
        return list(real(*args, **kw))[:-1]

    monkeypatch.setattr(scoring, "read_records", lossy)
    assert main(["score", str(src), "--out", str(tmp_path / "o2.csv"), "--bundle", str(TINY), "--quiet", *CONFIGS]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["accounted"] is False
    assert "[E233] 8 input records" in captured.err and "7 output rows" in captured.err


# --- spreadsheet safety ------------------------------------------------------------------------
HOSTILE = ['=HYPERLINK("http://evil.example/","点此退款")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1"]


def test_formula_like_cells_are_text_in_csv_and_xlsx(parts, tmp_path):
    src = tmp_path / "in.jsonl"
    write_table(src, [{"id": str(i), "text": t, "amount": "-500", "=x": "v"} for i, t in enumerate(HOSTILE)],
                ["id", "text", "amount", "=x"])
    score(parts, src, tmp_path / "out.csv")
    score(parts, src, tmp_path / "out.xlsx")

    raw = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    got = read_csv(tmp_path / "out.csv")
    assert [r["text"] for r in got] == ["'" + t for t in HOSTILE]  # OWASP: a leading quote makes it text
    assert all(r["amount"] == "-500" for r in got)  # a plain number stays a number
    assert "'=x" in got[0] and raw.startswith('"id","text"')  # headers too; every cell quoted
    # Issue 28: triage's own readers see the text, not the quote, so the quote never piles up nor shows in
    # a report or in labelled data; writing such a cell again puts back the one quote.
    back = [r for _, r, _ in read_records(tmp_path / "out.csv")]
    assert [r["text"] for r in back] == HOSTILE and all(r["amount"] == "-500" for r in back)
    assert "=x" in back[0] and "'=x" not in back[0]
    write_table(tmp_path / "again.csv", back, list(back[0]))
    assert (tmp_path / "again.csv").read_text(encoding="utf-8-sig") == raw

    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    header = [c.value for c in sheet[1]]
    text_cells = [row[header.index("text")] for row in sheet.iter_rows(min_row=2)]
    # the customer's text, unchanged (XML reads a bare CR as a line feed)…
    assert [c.value for c in text_cells] == [t.replace("\r", "\n") for t in HOSTILE]
    assert all(c.data_type == "s" for c in text_cells)  # …as string cells, never formulas
    assert all(c.quotePrefix for c in text_cells)
    assert header[header.index("=x")] == "=x" and sheet.cell(1, header.index("=x") + 1).data_type == "s"
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


# --- column mapping, warnings, output ----------------------------------------------------------
def test_mapped_chinese_columns_feed_the_rules_and_a_missing_key_is_warned_about(parts, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("编号,意见,渠道\n1,手机银行转账一直失败,12378\n2,手机银行转账一直失败,app\n", encoding="utf-8")
    unmapped = score(parts, src, tmp_path / "a.csv", text_column="意见")
    assert any("'channel'" in w and "regulator_or_media" in w and "regulator_to_compliance" in w for w in unmapped.warnings)
    assert any("'customer_tier'" in w for w in unmapped.warnings)
    plain = read_csv(tmp_path / "a.csv")
    assert plain[0]["route"] != "compliance" or plain[0]["category"] == "contract_legal"

    for pair in (("渠道", "channel"), ("channel", "渠道")):  # COLUMN=FIELD as in the issue, FIELD=COLUMN as in validate
        summary = score(parts, src, tmp_path / "b.csv", column_map=(("意见", "text"), pair))
        assert summary.column_map == {"text": "意见", "channel": "渠道"}
        assert not any("'channel'" in w for w in summary.warnings)
        regulator, app = read_csv(tmp_path / "b.csv")
        assert regulator["quadrant"] in {"urgent_important", "important_not_urgent"}  # regulator_or_media fired
        assert regulator["route"] in {"duty_supervisor", "compliance"}
        assert regulator["渠道"] == "12378" and "channel" not in regulator  # the input's columns stay as they were
    with pytest.raises(ColumnMapError, match="neither '客户' nor 'customer_tier' is a column"):
        score(parts, src, tmp_path / "c.csv", column_map=(("客户", "customer_tier"),))

    assert main(["score", str(src), "--out", str(tmp_path / "d.csv"), "--bundle", str(TINY), "--quiet",
                 "--map", "text=意见", "--map", "渠道=channel", *CONFIGS]) == 0
    err = capsys.readouterr().err
    assert "warning: the rules use metadata 'customer_tier'" in err and "metadata 'channel'" not in err

    # A survey file: its texts and a column the rules use, nothing else: no warnings on every run
    survey_file = tmp_path / "survey.csv"
    survey_file.write_text("id,text,channel\n1,花呗怎么还款,app\n", encoding="utf-8")
    assert score(parts, survey_file, tmp_path / "e.csv").warnings == []


def test_the_xlsx_output_is_ready_for_an_analyst(parts, tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.xlsx"
    src.write_text(csv_text(), encoding="utf-8")
    score(parts, src, out, labels="zh")
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["scored"]
    sheet = book["scored"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(sheet.max_column)}4"
    header = [c.value for c in sheet[1]]
    widths = {h: sheet.column_dimensions[openpyxl.utils.get_column_letter(i)].width for i, h in enumerate(header, 1)}
    assert widths["text"] > widths["id"] and 6 <= min(widths.values()) and max(widths.values()) <= 60
    rows = [dict(zip(header, (c.value for c in r))) for r in sheet.iter_rows(min_row=2)]
    zh = {h: {DISPLAY_ZH[label] for label in LABELS[h]} for h in LABELS}
    for row in rows:
        for head in LABELS:
            assert row[head] in zh[head]
        assert row["quadrant"] in {"紧急且重要", "重要不紧急", "紧急不重要", "不紧急不重要"}
        respond, resolve = (row["respond_by"], row["resolve_by"])
        assert respond.endswith("+08:00") and resolve.endswith("+08:00") and respond <= resolve


def test_deadlines_count_from_the_received_time_when_the_file_has_one(parts, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,text,受理时间\n1,手机银行转账一直失败,2025/10/9 9:05\n2,花呗怎么还款,2025年9月30日\n3,年费,昨天\n",
                   encoding="utf-8")
    summary = score(parts, src, tmp_path / "out.csv", column_map=(("received_at", "受理时间"),))
    assert summary.deadlines_from == "column 受理时间" and summary.no_deadline == 1
    first, second, third = read_csv(tmp_path / "out.csv")
    # 5 or 10 working days after the day of receipt, end of day; Saturday 2025-10-11 was a make-up working day.
    assert first["respond_by"].startswith("2025-10-09") or first["respond_by"].startswith("2025-10-10")
    assert first["resolve_by"] in ("2025-10-15 23:59+08:00", "2025-10-22 23:59+08:00")
    assert second["resolve_by"] in ("2025-10-14 23:59+08:00", "2025-10-21 23:59+08:00")  # 10-01..08 are holidays
    assert third["resolve_by"] == "" and third["priority_level"] and third["error"] == ""  # scored, no wrong deadline


# --- workbooks as exports make them ------------------------------------------------------------
def _cover_sheet(book) -> None:
    cover = book.active
    cover.title = "封面"
    cover["A1"], cover["A2"] = "2026年11月客户意见汇总", "制表：客服中心"


def test_a_workbook_with_a_cover_sheet_first_is_read_from_the_sheet_with_the_text_column(parts, tmp_path, capsys):
    src, out = tmp_path / "导出.xlsx", tmp_path / "out.csv"
    book = openpyxl.Workbook()
    _cover_sheet(book)
    data = book.create_sheet("数据")
    data.append(["编号", "客户意见", "渠道"])
    for row in ROWS:
        data.append(list(row))
    book.create_sheet("说明")["A1"] = "字段说明"
    book.save(src)

    summary = score(parts, src, out, column_map=(("text", "客户意见"), ("id", "编号"), ("channel", "渠道")))
    assert summary.scored == 3 and summary.accounted
    assert [r["客户意见"] for r in read_csv(out)] == [r[1] for r in ROWS]

    # --sheet names it; a sheet that is not there lists those that are; the wrong sheet says which ones exist
    assert main(["score", str(src), "--out", str(tmp_path / "o2.csv"), "--sheet", "数据", "--map", "text=客户意见",
                 "--bundle", str(TINY), "--quiet", *CONFIGS]) == 0
    capsys.readouterr()
    assert main(["score", str(src), "--out", str(tmp_path / "o3.csv"), "--sheet", "Sheet1", "--map", "text=客户意见",
                 "--bundle", str(TINY), "--quiet", *CONFIGS]) == 1
    err = capsys.readouterr().err
    assert "[E235]" in err and "封面, 数据, 说明" in err
    assert main(["score", str(src), "--out", str(tmp_path / "o4.csv"), "--map", "text=意见",
                 "--bundle", str(TINY), "--quiet", *CONFIGS]) == 1
    err = capsys.readouterr().err
    assert "[E232]" in err or "[E222]" in err
    assert main(["score", str(src), "--out", str(tmp_path / "o5.csv"), "--text-column", "意见",
                 "--bundle", str(TINY), "--quiet", *CONFIGS]) == 1
    err = capsys.readouterr().err
    assert "[E222]" in err and "封面, 数据, 说明" in err and "--sheet" in err


def test_a_workbook_with_an_empty_first_row_a_title_and_a_merged_two_row_header(parts, tmp_path):
    """Row 1 empty; row 2 a title merged across; rows 3-4 the header: 编号 and 客户意见 merged down over
    both rows, 客户信息 merged across above 渠道 and 客户等级; data from row 5."""
    src, out = tmp_path / "导出.xlsx", tmp_path / "out.csv"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A2"] = "2026年11月客户意见"
    sheet.merge_cells("A2:D2")
    sheet["A3"], sheet["B3"], sheet["C3"] = "编号", "客户意见", "客户信息"
    sheet.merge_cells("A3:A4")
    sheet.merge_cells("B3:B4")
    sheet.merge_cells("C3:D3")
    sheet["C4"], sheet["D4"] = "渠道", "客户等级"
    for i, (id_, text, channel) in enumerate(ROWS, 5):
        sheet.append([id_, text, channel, "vip" if i == 5 else "普通"])
    book.save(src)

    summary = score(parts, src, out, column_map=(("text", "客户意见"), ("id", "编号"), ("channel", "渠道"),
                                                 ("customer_tier", "客户等级")))
    assert summary.scored == 3 and summary.rows == 3 and summary.accounted, summary
    rows = read_csv(out)
    assert list(rows[0])[:4] == ["编号", "客户意见", "渠道", "客户等级"]
    assert [(r["编号"], r["客户意见"], r["渠道"]) for r in rows] == list(ROWS)
    assert [r["row"] for r in rows] == ["1", "2", "3"]

    # An empty text in the first data row stays a data row (E210), not a second header row.
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([])
    sheet.append(["编号", "客户意见", "渠道"])
    sheet.append(["1", None, "app"])
    sheet.append(["2", "花呗怎么还款", "app"])
    book.save(src)
    summary = score(parts, src, out, column_map=(("text", "客户意见"),))
    assert (summary.rows, summary.scored, summary.errors) == (2, 1, 1) and summary.accounted
    assert read_csv(out)[0]["error"].startswith("E210")


def test_a_deadline_in_a_year_without_holiday_data_is_flagged(parts, tmp_path):
    import chinese_calendar

    last = max(chinese_calendar.constants.holidays).year  # the package's last year (2026 for 1.11)
    src = tmp_path / "in.csv"
    src.write_text(f"id,text,received_at\n1,花呗怎么还款,{last}-06-01 09:00\n2,花呗怎么还款,{last}-12-30 09:00\n"
                   "3,花呗怎么还款,不详\n", encoding="utf-8")
    summary = score(parts, src, tmp_path / "out.csv")
    inside, edge, unknown = read_csv(tmp_path / "out.csv")
    assert inside["calendar_uncovered"] == "False"
    assert edge["calendar_uncovered"] == "True" and edge["resolve_by"].startswith(str(last + 1))
    assert unknown["calendar_uncovered"] == "" and unknown["resolve_by"] == ""  # no deadline, no flag
    assert summary.calendar_uncovered == 1
    assert any("calendar_uncovered" in w and "triage calendar import" in w for w in summary.warnings)
    header = list(read_csv(tmp_path / "out.csv")[0])
    assert header.index("calendar_uncovered") == header.index("resolve_by") + 1
