"""Labelled-data schema, readers and ``triage data validate`` (fixtures in tests/fixtures/data/)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from classifier.cli import main
from classifier.errors import BadEncoding, DataError, InvalidData, UnsupportedFormat
from classifier.labels import LABELS
from training.data.schema import (
    FIELDS,
    MAX_TEXT_CHARS,
    RowProblem,
    data_version,
    label_distribution,
    load_labelled,
    read_labelled,
    to_dataset,
    validate_file,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "data"
LABELED = ROOT / "data" / "labeled"
COLUMN_MAP = {
    "id": "编号",
    "text": "content",
    "category": "类别",
    "category_secondary": "次类别",
    "sentiment": "情感",
    "urgency": "紧急度",
    "source": "渠道",
}
MAP_ARGS = [arg for field, column in COLUMN_MAP.items() for arg in ("--map", f"{field}={column}")]

BAD_JSONL_PROBLEMS = [
    "line 2: text: missing text",
    "line 3: text: empty or whitespace-only text",
    "line 4: text: empty or whitespace-only text",
    "line 5: category: unknown label 'fee'; expected one of product_service, fees, contract_legal, other",
    "line 6: sentiment: unknown label 'angry'; expected one of negative, neutral, positive",
    "line 6: urgency: unknown label 'urgent'; expected one of high, medium, low",
    "line 7: sentiment: missing label",
    "line 7: urgency: missing label",
    "line 8: category_secondary: same as category ('fees')",
    "line 9: category_secondary: unknown label 'legal'; expected one of product_service, fees, contract_legal, other or empty",
    "line 10: id: duplicate id 'b1' (first on line 1)",
    "line 11: id: missing id",
    "line 12: json: malformed JSON: Expecting ',' delimiter (column 50)",
    "line 14: json: expected a JSON object, got list",
    "line 15: text: too long (10,001 characters; at most 10,000)",
    "line 17: text: expected a string, got list",
    "line 19: urgency: unknown label 'HIGH'; expected one of high, medium, low",
]


def _row(**overrides) -> dict:
    row = {"id": "r1", "text": "年费怎么收", "category": "fees", "category_secondary": None,
           "sentiment": "neutral", "urgency": "low", "source": "test"}
    row.update(overrides)
    return row


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# --- good files -----------------------------------------------------------------------------------
def test_good_jsonl_rows_follow_the_schema():
    rows = read_labelled(FIXTURES / "good.jsonl")
    assert [r["id"] for r in rows] == ["101", "102", "103", "104", "105", "106"]
    assert all(tuple(r) == FIELDS for r in rows)
    assert rows[2]["category_secondary"] == "fees" and rows[0]["category_secondary"] is None
    assert rows[3]["source"] is None
    assert rows[5]["text"] == "  Ｕ盾插上没反应 "  # stored as given: no strip, no NFKC
    assert validate_file(FIXTURES / "good.jsonl") == []


@pytest.mark.parametrize("name", ["good_mapped.csv", "good_mapped.xlsx", "good_mapped.parquet"])
def test_tabular_formats_with_column_map_read_the_same_rows(name):
    # The CSV has a BOM, CRLF line ends, a quoted field spanning two lines and an extra column;
    # the workbook and the Parquet file store ids (and the text "666") as numbers.
    expected = read_labelled(FIXTURES / "good.jsonl")
    assert read_labelled(FIXTURES / name, column_map=COLUMN_MAP) == expected


def test_bom_and_crlf_jsonl_is_accepted(tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_row(), ensure_ascii=False).encode() + b"\r\n\r\n")
    assert read_labelled(path) == [_row()]


def test_text_length_limit_is_inclusive(tmp_path):
    path = _write_jsonl(tmp_path / "long.jsonl", [_row(id="a", text="长" * MAX_TEXT_CHARS),
                                                   _row(id="b", text="长" * (MAX_TEXT_CHARS + 1))])
    assert [str(p) for p in validate_file(path)] == ["line 2: text: too long (10,001 characters; at most 10,000)"]


# --- bad files ------------------------------------------------------------------------------------
def test_bad_jsonl_reports_every_problem():
    problems = validate_file(FIXTURES / "bad.jsonl")
    assert all(isinstance(p, RowProblem) for p in problems)
    assert [str(p) for p in problems] == BAD_JSONL_PROBLEMS


def test_read_labelled_raises_invalid_data_with_all_problems():
    with pytest.raises(InvalidData) as info:
        read_labelled(FIXTURES / "bad.jsonl")
    assert info.value.code == "E201"
    assert info.value.details == BAD_JSONL_PROBLEMS


def test_bad_csv_lines_count_physical_lines():
    # Line 1 is the header, the first record spans lines 2-3 and line 7 is a blank row.
    assert [str(p) for p in validate_file(FIXTURES / "bad_mapped.csv", column_map=COLUMN_MAP)] == [
        "line 4: text: missing text",
        "line 5: row: 8 fields but the header has 7",
        "line 6: category: unknown label '费用'; expected one of product_service, fees, contract_legal, other",
        "line 8: id: duplicate id 'c2' (first on line 4)",
    ]


def test_missing_column_is_reported_once_on_the_header():
    problems = validate_file(FIXTURES / "missing_column.csv")
    assert [str(p) for p in problems] == [
        "line 1: category: column 'category' not found (columns: id, text, sentiment, urgency)"
    ]


def test_excel_and_parquet_report_row_numbers(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    rows = [_row(id="x1"), _row(id="x2", sentiment="angry"), _row(id="x1", text=" ")]

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(FIELDS))
    sheet.append([rows[0][f] for f in FIELDS])  # row 2
    sheet.append([None] * len(FIELDS))  # row 3: blank, skipped
    sheet.append([rows[1][f] for f in FIELDS])  # row 4
    sheet.append([rows[2][f] for f in FIELDS])  # row 5
    workbook.save(tmp_path / "bad.xlsx")
    assert [str(p) for p in validate_file(tmp_path / "bad.xlsx")] == [
        "line 4: sentiment: unknown label 'angry'; expected one of negative, neutral, positive",
        "line 5: text: empty or whitespace-only text",
        "line 5: id: duplicate id 'x1' (first on line 2)",
    ]

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bad.parquet")
    assert [str(p) for p in validate_file(tmp_path / "bad.parquet")] == [
        "line 2: sentiment: unknown label 'angry'; expected one of negative, neutral, positive",
        "line 3: text: empty or whitespace-only text",
        "line 3: id: duplicate id 'x1' (first on line 1)",
    ]
    pq.write_table(pa.Table.from_pylist([{"id": "p1", "text": "x"}]), tmp_path / "cols.parquet")
    assert [p.field for p in validate_file(tmp_path / "cols.parquet")] == ["category", "sentiment", "urgency"]
    assert {p.line for p in validate_file(tmp_path / "cols.parquet")} == {0}


@pytest.mark.parametrize("name, line", [("bad_encoding.jsonl", 3), ("bad_encoding.csv", 3)])
def test_non_utf8_bytes_raise_bad_encoding_with_position(name, line):
    path = FIXTURES / name
    data = path.read_bytes()
    offset = data.index("手续费".encode("gbk"))
    for call in (read_labelled, validate_file):
        with pytest.raises(BadEncoding) as info:
            call(path)
        assert info.value.code == "E203"
        assert info.value.details == {"line": line, "byte_offset": offset}
        assert f"line {line}, byte offset {offset}" in info.value.message


def test_empty_file_has_no_rows(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    assert [str(p) for p in validate_file(tmp_path / "empty.jsonl")] == ["line 0: file: no data rows"]


def test_unsupported_extension_missing_file_and_bad_map(tmp_path):
    (tmp_path / "labels.txt").write_text("x", encoding="utf-8")
    with pytest.raises(UnsupportedFormat) as info:
        read_labelled(tmp_path / "labels.txt")
    assert info.value.code == "E202"
    with pytest.raises(DataError):
        read_labelled(tmp_path / "absent.jsonl")
    with pytest.raises(DataError, match="unknown field"):
        read_labelled(FIXTURES / "good.jsonl", column_map={"content": "text"})


# --- datasets and provenance ------------------------------------------------------------------------
def test_to_dataset_uses_classlabels_from_labels():
    pytest.importorskip("datasets")
    rows = read_labelled(FIXTURES / "good.jsonl")
    ds = to_dataset(rows)
    assert len(ds) == len(rows) and ds.column_names == list(FIELDS)
    for head, labels in LABELS.items():
        assert ds.features[head].names == list(labels)
        assert ds[head] == [labels.index(r[head]) for r in rows]
    assert ds.features["category_secondary"].names == list(LABELS["category"])
    assert ds["category_secondary"] == [None, None, 1, 1, None, None]
    assert ds["text"] == [r["text"] for r in rows]


def test_data_version_is_sha256_prefix_of_the_bytes(tmp_path):
    good, bad = FIXTURES / "good.jsonl", FIXTURES / "bad.jsonl"
    assert data_version(good) == hashlib.sha256(good.read_bytes()).hexdigest()[:16]
    assert data_version([good, bad]) == hashlib.sha256(good.read_bytes() + bad.read_bytes()).hexdigest()[:16]
    assert data_version([good, bad]) != data_version([bad, good])
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(good.read_bytes() + b"\n")
    assert data_version(copy) != data_version(good)


def test_label_distribution_counts_every_label():
    dist = label_distribution(read_labelled(FIXTURES / "good.jsonl"))
    assert dist["category"] == {"product_service": 3, "fees": 1, "contract_legal": 1, "other": 1}
    assert list(dist["urgency"]) == list(LABELS["urgency"])


# --- CLI ------------------------------------------------------------------------------------------
def test_cli_validate_bad_file_prints_every_problem(capsys):
    assert main(["data", "validate", str(FIXTURES / "bad.jsonl")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:-1] == BAD_JSONL_PROBLEMS
    assert "17 problems" in out[-1]


def test_cli_validate_good_file_with_map_prints_summary(capsys):
    assert main(["data", "validate", str(FIXTURES / "good_mapped.csv"), *MAP_ARGS]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "6 rows OK" in out[0]
    assert "category product_service=3 fees=1 contract_legal=1 other=1" in out[0]
    assert data_version(FIXTURES / "good_mapped.csv") in out[0]


def test_cli_file_errors_carry_codes(capsys, tmp_path):
    assert main(["data", "validate", str(FIXTURES / "bad_encoding.jsonl")]) == 1
    assert "[E203]" in capsys.readouterr().err
    (tmp_path / "labels.tsv").write_text("x", encoding="utf-8")
    assert main(["data", "validate", str(tmp_path / "labels.tsv")]) == 1
    assert "[E202]" in capsys.readouterr().err


def test_cli_rejects_malformed_map():
    with pytest.raises(SystemExit) as info:
        main(["data", "validate", str(FIXTURES / "good.jsonl"), "--map", "text"])
    assert info.value.code == 2


# --- the project's labelled data --------------------------------------------------------------------
def test_project_labelled_files_are_clean():
    train = read_labelled(LABELED / "train.jsonl")
    dev = read_labelled(LABELED / "dev.jsonl")
    test = read_labelled(LABELED / "test.jsonl")
    test_hard = read_labelled(LABELED / "test_hard.jsonl")
    assert (len(train), len(dev), len(test), len(test_hard)) == (11557, 1217, 1797, 600)
    assert not {r["id"] for r in train} & {r["id"] for r in dev}
    for name in ("train", "dev", "forum_new", "round4"):
        assert read_labelled(LABELED.parent / "maintainers" / f"{name}.jsonl")


def test_extra_training_files_are_read_after_the_main_one_and_ids_stay_unique(tmp_path):
    from training.config import TrainConfig
    from training.data.schema import read_labelled_files

    def write(name, ids):
        path = tmp_path / name
        path.write_text("".join(json.dumps({"id": i, "text": f"花呗还款 {i}", "category": "fees", "sentiment": "neutral",
                                            "urgency": "low"}, ensure_ascii=False) + "\n" for i in ids), encoding="utf-8")
        return str(path)

    cfg = TrainConfig(train_file=write("train.jsonl", ["a", "b"]), extra_train_files=[write("review.jsonl", ["review-1"])])
    assert cfg.train_files == [cfg.train_file, *cfg.extra_train_files]
    assert TrainConfig.from_dict(cfg.to_dict()).extra_train_files == cfg.extra_train_files
    assert [r["id"] for r in read_labelled_files(cfg.train_files)] == ["a", "b", "review-1"]
    with pytest.raises(InvalidData) as info:
        read_labelled_files([cfg.train_file, write("again.jsonl", ["b", "c"])])
    assert info.value.details == [f"{tmp_path / 'again.jsonl'}: id 'b' is also in {cfg.train_file}"]


def test_cli_validate_accepts_the_documented_example_without_an_id_column(tmp_path, capsys):
    """Issue 28: docs/data-scientists.md's `--map text=content --map category=类别` file has no id column."""
    import csv

    path = tmp_path / "my_labels.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["content", "类别", "sentiment", "urgency"],
                                  ["信用卡年费没经过我同意就扣了", "fees", "negative", "medium"],
                                  ["贷款合同条款不清楚", "contract_legal", "negative", "high"]])
    assert main(["data", "validate", str(path), "--map", "text=content", "--map", "category=类别"]) == 0
    out = capsys.readouterr().out
    assert "no 'id' column: rows are identified as my_labels-LINE" in out and "2 rows OK" in out
    rows = load_labelled(path, {"text": "content", "category": "类别"})[0]
    assert [r["id"] for r in rows] == ["my_labels-2", "my_labels-3"]
    # A mapped id column that is not there is still refused, and so is a row without an id in a file that has them.
    assert main(["data", "validate", str(path), "--map", "text=content", "--map", "category=类别",
                 "--map", "id=编号"]) == 1
    assert "'编号' not found" in capsys.readouterr().out
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_text('{"id": "a", "text": "年费", "category": "fees", "sentiment": "neutral", "urgency": "low"}\n'
                     '{"text": "年费", "category": "fees", "sentiment": "neutral", "urgency": "low"}\n', encoding="utf-8")
    assert [str(p) for p in validate_file(jsonl)] == ["line 2: id: missing id"]


def test_cli_validate_reads_back_the_chinese_labels_that_score_labels_zh_writes(tmp_path, capsys):
    """Issue 28: a file scored with --labels zh, corrected by an analyst, is labelled data."""
    import csv

    tiny = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_bundle"
    src = tmp_path / "导出.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["编号", "内容"], ["1", "信用卡年费没经过我同意就扣了，我要投诉"],
                                  ["2", "贷款合同条款不清楚"], ["3", "理财收益怎么算"]])
    scored = tmp_path / "scored.csv"
    assert main(["score", str(src), "--out", str(scored), "--map", "text=内容", "--labels", "zh",
                 "--bundle", str(tiny), "--quiet"]) == 0
    written = list(csv.DictReader(scored.open(encoding="utf-8-sig")))  # score writes a BOM for Excel
    assert all(r["category"] in ("产品及服务质量", "费用及收费标准", "合同及法律法规", "其他") for r in written)
    with scored.open("a", newline="", encoding="utf-8") as fh:  # the analyst's correction, in Chinese too
        row = {**written[0], "编号": "4", "category": "合同及法律法规", "category_secondary": "费用及收费标准",
               "sentiment": "负面", "urgency": "高"}
        csv.DictWriter(fh, fieldnames=list(written[0])).writerow(row)
    assert main(["data", "validate", str(scored), "--map", "id=编号", "--map", "text=内容"]) == 0, capsys.readouterr().out
    rows = load_labelled(scored, {"id": "编号", "text": "内容"})[0]
    assert rows[-1] == {"id": "4", "text": written[0]["内容"], "category": "contract_legal",
                        "category_secondary": "fees", "sentiment": "negative", "urgency": "high", "source": None}
    assert {r["category"] for r in rows} <= set(LABELS["category"])


def test_an_active_learning_selection_is_kept_and_marks_rows_that_are_not_traffic(tmp_path):
    """Round 4's ``selection`` survives reading, so fitting can tell the rows a model chose from traffic."""
    from training.data.schema import is_traffic, read_labelled

    base = {"text": "征信有逾期", "category": "contract_legal", "sentiment": "negative", "urgency": "medium"}
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({**base, "id": i, **extra}, ensure_ascii=False) for i, extra in
                              (("a", {"selection": " boundary_contract_legal "}), ("b", {"selection": "  "}), ("c", {})))
                    + "\n", encoding="utf-8")
    rows = read_labelled(path)
    assert rows[0]["selection"] == "boundary_contract_legal" and "selection" not in rows[1] and "selection" not in rows[2]
    assert [is_traffic(r) for r in rows] == [False, True, True]
    shipped = read_labelled("data/labeled/train.jsonl")
    assert sum(1 for r in shipped if r.get("selection")) == 2400  # round 4's rows in train, none of dev
    assert not any(r.get("selection") for r in read_labelled("data/labeled/dev.jsonl"))
