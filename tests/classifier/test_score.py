"""Batch scoring (``triage score``) on the real tiny bundle: formats, bad rows, resume, shards."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from classifier.cli import main
from classifier.errors import (
    BadEncoding,
    CheckpointExists,
    CheckpointMismatch,
    ColumnClash,
    ScoreOptionError,
    UnscorableFile,
    UnsupportedFormat,
)
from classifier.labels import HEADS, LABELS
from classifier.priority import PriorityMatrix
from classifier.routing import Router
from classifier.runtime import Classifier
from classifier.batch.score import ScoreOptions, checkpoint_path, score_file
from classifier.io.tables import read_records, write_table

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny_bundle"
TEXTS = [
    "信用卡年费没经过我同意就扣了，要求退还",
    "手机银行转账一直失败",
    "花呗怎么还款",
    "催收天天打电话骚扰我家人，我要投诉",
    "服务很好，谢谢",
    "借呗提前还款要收手续费吗",
    "app更新以后闪退，登录一直提示网络异常",
    "未经同意开通会员自动扣费，霸王条款",
    "理财产品到期了钱什么时候到账",
    "保险合同条款和销售说的不一样",
]


@pytest.fixture(scope="module")
def parts():
    return (Classifier.load(TINY, threads=1), PriorityMatrix.from_yaml(ROOT / "configs" / "priority.yaml"),
            Router.from_yaml(ROOT / "configs" / "routing.yaml"))


def survey(n: int = len(TEXTS)) -> list[dict]:
    return [{"id": f"s{i}", "text": TEXTS[i % len(TEXTS)], "channel": "app", "score_given": i} for i in range(n)]


def read_out(path: Path) -> list[dict]:
    rows = []
    for _line, record, problem in read_records(path):
        assert problem is None
        rows.append(record)
    return rows


def score(parts, src: Path, out: Path, **kw) -> object:
    resume = kw.pop("resume", False)
    progress = kw.pop("progress", None)
    return score_file(src, out, *parts, ScoreOptions(**kw), resume=resume, progress=progress)


@pytest.mark.parametrize("suffix_in,suffix_out", [(".csv", ".csv"), (".jsonl", ".parquet"), (".xlsx", ".jsonl"),
                                                  (".parquet", ".xlsx")])
def test_every_row_is_scored_and_keeps_its_columns_in_every_format(parts, tmp_path, suffix_in, suffix_out):
    src, out = tmp_path / f"in{suffix_in}", tmp_path / f"out{suffix_out}"
    rows = survey()
    write_table(src, rows, ["id", "text", "channel", "score_given"])
    summary = score(parts, src, out)
    assert (summary.rows, summary.scored, summary.errors) == (10, 10, 0)
    got = read_out(out)
    assert [str(r["id"]) for r in got] == [r["id"] for r in rows]  # same rows, same order
    assert list(got[0])[:4] == ["id", "text", "channel", "score_given"]
    for r, original in zip(got, rows):
        assert r["text"] == original["text"]
        for head in HEADS:
            assert r[head] in LABELS[head]
            assert 0.0 < float(r[f"{head}_confidence"]) <= 1.0
        assert r["priority_level"] in {"P1", "P2", "P3", "P4"}
        assert r["route"] and r["model_version"] == parts[0].model_version
        assert r["error"] in (None, "")
    assert not checkpoint_path(out).exists()


def test_predictions_match_the_runtime(parts, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_table(src, survey(), ["id", "text"])
    score(parts, src, out, scores=True)
    expected = parts[0].predict(TEXTS)  # one call, as the scorer's single chunk
    for r, pred in zip(read_out(out), expected):
        for head in HEADS:
            assert r[head] == pred.heads[head].label
            assert r[f"{head}_confidence"] == pytest.approx(pred.heads[head].confidence, abs=1e-6)
            for label in LABELS[head]:
                assert r[f"{head}_score_{label}"] == pytest.approx(pred.heads[head].scores[label], abs=1e-6)
        assert r["needs_review"] == pred.needs_review


def test_bad_rows_are_written_with_an_error_not_dropped(parts, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.csv"
    src.write_text("\n".join([
        json.dumps({"id": "a", "text": "花呗怎么还款"}, ensure_ascii=False),
        json.dumps({"id": "b", "text": "   "}),
        "{not json",
        json.dumps({"id": "d", "body": "no text key"}),
        json.dumps({"id": "e", "text": "\u200b\u200b"}),  # empty only after normalization
        json.dumps({"id": "f", "text": 12345}),
    ]) + "\n", encoding="utf-8")
    summary = score(parts, src, out)
    assert summary.rows == 6 and summary.scored == 2 and summary.errors == 4
    assert summary.error_counts == {"E210": 2, "E223": 1, "E224": 1}
    with out.open(encoding="utf-8-sig", newline="") as f:
        got = list(csv.DictReader(f))
    assert [r["id"] for r in got] == ["a", "b", "", "d", "e", "f"]
    errors = [r["error"] for r in got]
    assert errors[0] == "" and errors[5] == ""
    assert errors[1].startswith("E210 line 2") and errors[2].startswith("E223 line 3: json: malformed JSON")
    assert errors[3].startswith("E224 line 4") and errors[4].startswith("E210 line 5")
    assert got[3]["body"] == "no text key"  # the unscorable row keeps its data
    assert got[5]["category"] in LABELS["category"]


def test_file_level_problems_stop_with_their_code(parts, tmp_path):
    no_text = tmp_path / "no_text.csv"
    write_table(no_text, [{"id": "1", "content": "花呗"}], ["id", "content"])
    with pytest.raises(UnscorableFile, match="column 'text' not found"):
        score(parts, no_text, tmp_path / "o.csv")
    summary = score(parts, no_text, tmp_path / "o.csv", text_column="content")
    assert summary.scored == 1

    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("id,text\n1,花呗怎么还款\n".encode("gbk"))
    with pytest.raises(BadEncoding, match="not valid UTF-8 at line 2"):
        score(parts, gbk, tmp_path / "o2.csv", encoding="utf-8")  # auto-detection: see test_encodings.py
    mixed = tmp_path / "mixed.csv"  # UTF-8 with a GBK fragment pasted in: no guess garbles the rest
    mixed.write_bytes("id,text\n1,花呗怎么还款\n2,借呗提前还款\n".encode() + "3,手续费\n".encode("gbk"))
    with pytest.raises(BadEncoding, match="line 4"):
        score(parts, mixed, tmp_path / "o2.csv")
    with pytest.raises(UnsupportedFormat):
        score(parts, no_text, tmp_path / "o.txt", text_column="content")
    with pytest.raises(ScoreOptionError):
        score(parts, no_text, no_text, text_column="content")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(Exception) as info:
        score(parts, broken, tmp_path / "o3.csv")
    assert getattr(info.value, "code", None) == "E200"
    assert not (tmp_path / "o2.csv").exists() and not (tmp_path / "o3.csv").exists()


def test_an_input_column_is_never_overwritten(parts, tmp_path):
    src = tmp_path / "labelled.csv"
    write_table(src, [{"id": "1", "text": "花呗怎么还款", "category": "fees"}], ["id", "text", "category"])
    with pytest.raises(ColumnClash, match="category"):
        score(parts, src, tmp_path / "o.csv")
    score(parts, src, tmp_path / "o.csv", prefix="pred_")
    (row,) = read_out(tmp_path / "o.csv")
    assert row["category"] == "fees" and row["pred_category"] in LABELS["category"]


def test_metadata_columns_feed_the_priority_and_routing_rules(parts, tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [{"id": "1", "text": "手机银行转账一直失败", "channel": "12378"},
            {"id": "2", "text": "手机银行转账一直失败", "channel": "app"}]
    write_table(src, rows, ["id", "text", "channel"])
    score(parts, src, out)
    regulator, app = read_out(out)
    assert regulator["quadrant"] in {"urgent_important", "important_not_urgent"}  # regulator_or_media rule
    assert regulator["route"] in {"duty_supervisor", "compliance"}
    assert app["route"] != "compliance" or app["category"] == "contract_legal"


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_where_it_stopped(parts, tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_table(src, survey(10), ["id", "text", "channel", "score_given"])
    fresh = tmp_path / "fresh.csv"
    score(parts, src, fresh, chunk_size=4)

    def stop_after_first_chunk(done, total, resumed, seconds):
        raise Interrupt

    with pytest.raises(Interrupt):
        score(parts, src, out, chunk_size=4, progress=stop_after_first_chunk)
    checkpoint = checkpoint_path(out)
    assert not out.exists() and len(checkpoint.read_text(encoding="utf-8").splitlines()) == 1 + 4
    with checkpoint.open("a", encoding="utf-8") as f:
        f.write('{"index": 4, "values": {"categ')  # a line cut short when the machine went down

    with pytest.raises(CheckpointExists, match="--resume"):
        score(parts, src, out, chunk_size=4)
    with pytest.raises(CheckpointMismatch, match="options"):
        score(parts, src, out, chunk_size=4, scores=True, resume=True)

    seen = []
    summary = score(parts, src, out, chunk_size=4, resume=True, progress=lambda d, t, r, s: seen.append((d, r)))
    assert summary.resumed == 4 and summary.scored == 10
    assert seen == [(8, 4), (10, 4)]  # only the missing rows were scored
    assert out.read_bytes() == fresh.read_bytes()
    assert not checkpoint.exists()


def test_a_changed_input_is_not_resumed_into_an_old_checkpoint(parts, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_table(src, survey(6), ["id", "text"])
    with pytest.raises(Interrupt):
        score(parts, src, out, chunk_size=2, progress=lambda *a: (_ for _ in ()).throw(Interrupt()))
    write_table(src, survey(7), ["id", "text"])
    with pytest.raises(CheckpointMismatch, match="input_sha256"):
        score(parts, src, out, chunk_size=2, resume=True)


def test_shards_split_the_file_without_overlap(parts, tmp_path):
    src = tmp_path / "in.csv"
    write_table(src, survey(10), ["id", "text"])
    whole = {r["id"]: r for r in (score(parts, src, tmp_path / "all.jsonl", chunk_size=1), read_out(tmp_path / "all.jsonl"))[1]}
    seen = []
    for k in (1, 2, 3):
        out = tmp_path / f"part{k}.jsonl"
        summary = score(parts, src, out, shard=(k, 3), chunk_size=1)
        rows = read_out(out)
        assert summary.rows == len(rows) == len(range(k - 1, 10, 3))
        for r in rows:
            assert {h: r[h] for h in HEADS} == {h: whole[r["id"]][h] for h in HEADS}
        seen += [r["id"] for r in rows]
    assert sorted(seen) == sorted(whole)
    with pytest.raises(ScoreOptionError):
        ScoreOptions(shard=(4, 3))


def test_cli_prints_a_summary_and_progress(tmp_path, capsys):
    src, out = tmp_path / "survey.csv", tmp_path / "scored.xlsx"
    write_table(src, survey(5), ["id", "text", "channel", "score_given"])
    code = main(["score", str(src), "--out", str(out), "--bundle", str(TINY), "--shard", "1/1",
                 "--priority-config", str(ROOT / "configs/priority.yaml"), "--routing-config", str(ROOT / "configs/routing.yaml")])
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["scored"] == 5 and summary["errors"] == 0
    assert "scored 5/5 rows (100.0%)" in captured.err
    assert len(read_out(out)) == 5

    assert main(["score", str(src), "--out", str(tmp_path / "x.csv"), "--bundle", str(TINY), "--shard", "two"]) == 1
    assert "[E220]" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.csv"), "--bundle", str(TINY)]) == 1
    assert "no such file" in capsys.readouterr().err


def test_shard_outputs_merge_back_in_input_order(parts, tmp_path, capsys):
    from classifier.errors import ShardMismatch
    from classifier.batch.score import merge_shards

    src = tmp_path / "in.csv"
    write_table(src, survey(10), ["id", "text", "channel"])
    score(parts, src, tmp_path / "all.jsonl", chunk_size=1)
    outs = []
    for k, suffix in ((1, ".csv"), (2, ".parquet"), (3, ".jsonl")):  # parts may differ in format
        outs.append(tmp_path / f"part{k}{suffix}")
        score(parts, src, outs[-1], shard=(k, 3), chunk_size=1)
    assert main(["score-merge", *map(str, outs), "--out", str(tmp_path / "merged.jsonl")]) == 0
    assert "merged 10 rows from 3 parts" in capsys.readouterr().err
    merged, whole = read_out(tmp_path / "merged.jsonl"), read_out(tmp_path / "all.jsonl")
    assert [str(r["id"]) for r in merged] == [r["id"] for r in whole] and [r["row"] for r in merged] == list(range(1, 11))
    assert [{h: r[h] for h in HEADS} for r in merged] == [{h: r[h] for h in HEADS} for r in whole]

    with pytest.raises(ShardMismatch) as info:
        merge_shards(outs[:2], tmp_path / "x.jsonl")  # a shard is missing
    assert info.value.details["missing_rows"] == [3, 6, 9]
    with pytest.raises(ShardMismatch) as info:  # the missing shard holds the last row: known from the sidecars
        merge_shards(outs[1:], tmp_path / "x.jsonl")
    assert info.value.details["missing_rows"] == [1, 4, 7, 10]  # was [1, 4, 7]: counted up to the highest present
    assert json.loads((tmp_path / "merged.jsonl.score.json").read_text(encoding="utf-8"))["text_column"] == "text"
    with pytest.raises(ShardMismatch) as info:
        merge_shards([*outs, outs[0]], tmp_path / "x.jsonl")  # one given twice
    assert info.value.details["duplicate_rows"] == [1, 4, 7, 10]
    assert not (tmp_path / "x.jsonl").exists()
    assert main(["score-merge", str(src), "--out", str(tmp_path / "x.jsonl")]) == 1  # not a score output
    assert "[E222]" in capsys.readouterr().err


def test_unwritable_outputs_fail_with_a_code_not_a_traceback(tmp_path, capsys):
    src = tmp_path / "in.csv"
    write_table(src, survey(2), ["id", "text"])
    args = ["--bundle", str(TINY), "--quiet"]
    assert main(["score", str(src), "--out", str(tmp_path / "new" / "folder" / "out.csv"), *args]) == 0  # made
    assert (tmp_path / "new" / "folder" / "out.csv").is_file()
    (tmp_path / "a-file").write_text("")
    assert main(["score", str(src), "--out", str(tmp_path / "a-file" / "out.csv"), *args]) == 1  # cannot be made
    assert "[E204]" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "out.csv.partial.jsonl").mkdir()  # the checkpoint's name is taken by a folder
    assert main(["score", str(src), "--out", str(locked / "out.csv"), "--resume", *args]) == 1
    err = capsys.readouterr().err
    assert "[E204]" in err and "Traceback" not in err


def test_broken_unicode_in_a_row_does_not_stop_the_run(parts, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "1", "text": "花呗\\ud800还款"}\n{"id": "2", "text": "\\udc80"}\n', encoding="utf-8")
    summary = score(parts, src, out)
    assert (summary.scored, summary.errors, summary.error_counts) == (1, 1, {"E210": 1})
    first, second = read_out(out)
    assert first["category"] in LABELS["category"] and second["error"].startswith("E210")
    assert first["text"] == "花呗\ufffd还款"  # written as the replacement character: valid UTF-8


def test_classify_reads_stdin_as_utf8_only():
    import subprocess
    import sys

    run = lambda data: subprocess.run([sys.executable, "-m", "classifier.cli", "classify", "--bundle", str(TINY)],  # noqa: E731
                                      input=data, capture_output=True, cwd=ROOT, timeout=120)
    bad = run("花呗怎么还款\n".encode("gbk"))
    assert bad.returncode == 1 and b"[E203]" in bad.stderr and b"Traceback" not in bad.stderr
    good = run("\ufeff花呗怎么还款\r\n\r\n年费\n".encode("utf-8"))
    assert good.returncode == 0 and good.stdout.count(b"  category ") == 2


def test_two_runs_on_one_output_do_not_mix(parts, tmp_path):
    import fcntl

    from classifier.errors import CheckpointLocked

    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_table(src, survey(3), ["id", "text"])
    with checkpoint_path(out).open("a") as other:  # as a first run still at work would hold it
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CheckpointLocked, match="another `triage score` is writing"):
            score(parts, src, out, resume=True)
    # The empty checkpoint it leaves behind does not block a fresh run.
    assert score(parts, src, out).scored == 3 and not checkpoint_path(out).exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_review_reasons_are_written_per_row(watched_bundle, tmp_path, suffix):
    clf = Classifier.load(watched_bundle, threads=1)
    src, out = tmp_path / "in.csv", tmp_path / f"out{suffix}"
    write_table(src, survey(), ["id", "text", "channel"])
    summary = score_file(src, out, clf, PriorityMatrix.from_yaml(ROOT / "configs" / "priority.yaml"),
                         Router.from_yaml(ROOT / "configs" / "routing.yaml"), ScoreOptions())
    rows = read_out(out)
    preds = clf.predict(TEXTS)
    assert summary.needs_review == len(TEXTS)
    assert summary.review_reasons.get("possible_high_urgency") == sum(p.urgency.label != "high" for p in preds)
    assert len(rows) == len(TEXTS)
    for r, pred in zip(rows, preds):
        reasons = r["review_reasons"]
        if isinstance(reasons, str):  # CSV and xlsx cells hold the list as text
            reasons = json.loads(reasons) if reasons.startswith("[") else reasons.split(",")
        assert list(reasons) == pred.review_reasons
        if pred.urgency.label != "high":
            assert "possible_high_urgency" in reasons
