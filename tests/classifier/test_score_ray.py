"""``triage score --engine ray`` on a local Ray instance: the same output as the local engine.

Ray starts once for this module (2 CPUs, no dashboard) and is shut down at the end. The inputs hold
every kind of row the local engine writes with an error (empty text, text empty after
normalization, an unreadable JSON line, a record without the text field) and are cut into many
small chunks, so two actors score them out of order.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.batch.score import ScoreOptions, score_file
from classifier.io.tables import read_records

ray = pytest.importorskip("ray", reason="the [distributed] extra (ray[data]) is not installed")

from classifier.batch.ray_engine import init_ray, score_file_ray  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny_bundle"
PRIORITY, ROUTING = ROOT / "configs" / "priority.yaml", ROOT / "configs" / "routing.yaml"
TEXTS = ["信用卡年费没经过我同意就扣了，要求退还", "手机银行转账一直失败", "花呗怎么还款", "催收天天打电话骚扰我家人，我要投诉",
         "服务很好，谢谢", "未经同意开通会员自动扣费，霸王条款", "理财产品到期了钱什么时候到账", "保险合同条款和销售说的不一样"]
# Columns that depend on the wall clock when a row is scored (deadlines), if the output has them.
CLOCK_COLUMNS = {"respond_by", "resolve_by", "calendar_uncovered"}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    started = init_ray(num_cpus=2)
    yield
    if started:
        ray.shutdown()


def write_inputs(tmp: Path) -> dict[str, Path]:
    lines = []
    for i in range(40):
        text = TEXTS[i % len(TEXTS)]
        if i == 5:
            text = ""  # E210
        if i == 11:
            text = "\u200b\u200b"  # E210 after normalization, found by the model call
        lines.append(json.dumps({"id": f"r{i}", "text": text, "channel": ["app", "12378", "hotline"][i % 3],
                                 "amount": i * 1000}, ensure_ascii=False))
    lines.insert(17, '{"id": "broken", "text": "没有结尾')  # E223
    lines.insert(23, json.dumps({"id": "no-text", "channel": "app"}))  # E224
    jsonl = tmp / "in.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv_path = tmp / "in.csv"
    rows = ["id,text,channel"] + [f"c{i},{TEXTS[i % len(TEXTS)] if i != 3 else ''},app" for i in range(25)]
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"jsonl": jsonl, "csv": csv_path}


def records(path: Path) -> list[dict]:
    out = []
    for _line, record, problem in read_records(path):
        assert problem is None
        out.append({k: v for k, v in record.items() if k.split("_", 1)[-1] not in CLOCK_COLUMNS and k not in CLOCK_COLUMNS})
    return out


def test_ray_engine_writes_what_the_local_engine_writes(tmp_path, tiny_parts):
    fmt = "jsonl"
    source = write_inputs(tmp_path)[fmt]
    options = ScoreOptions(chunk_size=4, scores=True)
    local = score_file(source, tmp_path / f"local.{fmt}", *tiny_parts, options)
    remote = score_file_ray(source, tmp_path / f"ray.{fmt}", TINY, PRIORITY, ROUTING, options, actors=2)

    assert records(tmp_path / f"ray.{fmt}") == records(tmp_path / f"local.{fmt}")
    raw_columns = {c for k in next(read_records(tmp_path / f"local.{fmt}"))[1] for c in (k, k.split("_", 1)[-1])}
    if not CLOCK_COLUMNS & raw_columns:  # deadlines count from the time of scoring: bytes differ across a second
        assert (tmp_path / f"ray.{fmt}").read_bytes() == (tmp_path / f"local.{fmt}").read_bytes()
    strip = lambda s: {k: v for k, v in s.to_dict().items() if k not in ("seconds", "output")}  # noqa: E731
    assert strip(remote) == strip(local)
    assert local.errors == 4 and set(local.error_counts) == {"E210", "E223", "E224"}


def test_ray_engine_refuses_what_it_cannot_do(tmp_path):
    from classifier.errors import BundleMissingFile, ScoreOptionError

    source = write_inputs(tmp_path)["csv"]
    with pytest.raises(ScoreOptionError):
        score_file_ray(source, tmp_path / "o.csv", TINY, PRIORITY, ROUTING, ScoreOptions(shard=(1, 2)))
    with pytest.raises(BundleMissingFile):  # checked on the driver before any actor starts
        score_file_ray(source, tmp_path / "o.csv", tmp_path / "nowhere", PRIORITY, ROUTING)


def test_the_cli_runs_the_ray_engine(tmp_path, capsys, tiny_parts):
    from classifier.cli import main

    source = write_inputs(tmp_path)["csv"]
    local = score_file(source, tmp_path / "local.csv", *tiny_parts, ScoreOptions())
    code = main(["score", str(source), "--out", str(tmp_path / "cli.csv"), "--engine", "ray", "--actors", "1",
                 "--bundle", str(TINY), "--priority-config", str(PRIORITY), "--routing-config", str(ROUTING), "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == local.rows == 25 and summary["errors"] == local.errors == 1 and summary["engine"] == "ray"
    assert records(tmp_path / "cli.csv") == records(tmp_path / "local.csv")
    assert main(["score", str(source), "--out", str(tmp_path / "x.csv"), "--engine", "ray", "--resume"]) == 1
    assert "[E220]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_parts():
    from classifier.priority import PriorityMatrix
    from classifier.routing import Router
    from classifier.runtime import Classifier

    return Classifier.load(TINY, threads=1), PriorityMatrix.from_yaml(PRIORITY), Router.from_yaml(ROUTING)
