"""The working-day calendar: schedules entered from the State Council's notice, coverage, and the
``triage calendar check`` / ``import`` commands (on copies of the shipped priority config)."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import yaml

from classifier import calendar as calendar_mod
from classifier import calendar_cli
from classifier.calendar import Schedule, WorkingCalendar, coverage, replace_calendar_block
from classifier.rules import load_yaml
from classifier.errors import ConfigError
from classifier.priority import PriorityMatrix

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "priority.yaml"
SCHEDULE_2026 = ROOT / "tests" / "fixtures" / "calendar" / "2026.yaml"
SH = ZoneInfo("Asia/Shanghai")
LAST_LIBRARY_YEAR = max(chinese_calendar.constants.holidays).year


def run(argv: list[str]) -> int:
    """``triage calendar ARGS`` through the command's own parser (its entry point is tested below)."""
    parser = argparse.ArgumentParser(prog="triage")
    calendar_cli.register(parser.add_subparsers())
    args = parser.parse_args(["calendar", *argv])
    return args.func(args)


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "priority.yaml"
    shutil.copyfile(CONFIG, path)
    return path


def schedule_file(tmp_path: Path, data: dict, name: str = "schedule.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def made_up(year: int = 2099, **changes) -> dict:
    """A made-up schedule (not any real year's): 2099-01-01 is a Thursday, 2099-01-04 a Sunday."""
    data = {"year": year, "notice": "示例：并非真实通知", "festivals": [
        {"name": "元旦", "holidays": [f"{year}-01-01..{year}-01-03"], "working_days": [f"{year}-01-04"]}]}
    data.update(changes)
    return data


# --- the 2026 round trip --------------------------------------------------------------------------


def test_the_2026_schedule_entered_by_import_reproduces_the_library_exactly(config, capsys):
    assert run(["import", str(SCHEDULE_2026), "--priority-config", str(config)]) == 0
    assert "2026" in capsys.readouterr().out
    calendar = PriorityMatrix.from_yaml(config).calendar
    schedule = calendar.schedule(2026)
    assert schedule is not None and len(schedule.festivals) == 7
    # A scheduled year is answered by the schedule alone (chinese_calendar is not consulted), so
    # this compares the entered schedule with the package, day by day.
    day, differ = date(2026, 1, 1), []
    while day.year == 2026:
        if calendar.is_working_day(day) != (chinese_calendar.is_workday(day), False):
            differ.append(day)
        day += timedelta(days=1)
    assert differ == []
    assert calendar.disagreements(2026) == []
    assert schedule.holidays == {d for d in chinese_calendar.constants.holidays if d.year == 2026}
    assert schedule.working_days == {d for d in chinese_calendar.constants.workdays if d.year == 2026}


def test_a_schedule_is_the_whole_answer_for_its_year(config, tmp_path):
    # One make-up Saturday moved by a week: the schedule wins over the package, and check says so.
    data = load_yaml(SCHEDULE_2026)
    data["festivals"][1]["working_days"] = ["2026-02-14", "2026-03-07"]
    run(["import", str(schedule_file(tmp_path, data)), "--priority-config", str(config)])
    calendar = PriorityMatrix.from_yaml(config).calendar
    assert calendar.is_working_day(date(2026, 3, 7)) == (True, False)
    assert calendar.is_working_day(date(2026, 2, 28)) == (False, False)  # a plain Saturday now
    assert calendar.disagreements(2026) == [(date(2026, 2, 28), False, True), (date(2026, 3, 7), True, False)]


# --- import: validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("change,code,message", [
    ({"festivals": [{"name": "元旦", "holidays": ["2099-01-01"], "working_days": ["2099-01-05"]}]},
     "E304", "2099-01-05 is a Monday"),
    ({"festivals": [{"name": "春节", "holidays": ["2098-02-01..2098-02-07"]}]}, "E305", "is not a date of 2099"),
    ({"festivals": [{"name": "元旦", "holidays": ["2099-01-01"], "working_days": ["2100-01-03"]}]},
     "E305", "2100-01-03 is not a date of 2099"),
    ({"festivals": [{"name": "元旦", "holidays": ["2099-01-01..2099-01-03"]},
                    {"name": "春节", "holidays": ["2099-01-03"]}]}, "E306", "2099-01-03 is already listed"),
    ({"festivals": [{"name": "元旦", "holidays": ["2099-01-03"], "working_days": ["2099-01-03"]}]},
     "E306", "already listed"),
    ({"festivals": [{"name": "元旦", "holidays": ["2099-01-01"]}, {"name": "元旦", "holidays": ["2099-01-02"]}]},
     "E306", "listed twice"),
    ({"festivals": [{"name": "元旦", "holidays": ["2099-13-01"]}]}, "E303", "not a date"),
    ({"festivals": [{"name": "元旦", "holidays": ["2099-01-03..2099-01-01"]}]}, "E303", "ends before it starts"),
    ({"festivals": [{"name": "元旦", "holidays": "2099-01-01"}]}, "E303", "must be a list"),
    ({"festivals": [{"name": "元旦", "holidays": []}]}, "E303", "lists no day"),
    ({"festivals": []}, "E303", "non-empty list"),
    ({"year": "2099"}, "E303", "must be a year"),
    ({"notice": ""}, "E303", "notice"),
    ({"holidays": ["2099-01-01"]}, "E303", "unknown key"),
])
def test_import_validation(config, tmp_path, capsys, change, code, message):
    before = config.read_bytes()
    assert run(["import", str(schedule_file(tmp_path, made_up(**change))), "--priority-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"error: [{code}]" in err and message in err
    assert f"错误：[{code}]" in err  # and in Chinese
    assert config.read_bytes() == before  # nothing written


def test_a_missing_key_and_an_unreadable_file(config, tmp_path, capsys):
    data = made_up()
    del data["festivals"]
    assert run(["import", str(schedule_file(tmp_path, data)), "--priority-config", str(config)]) == 1
    assert "[E303]" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("year: [2099\n", encoding="utf-8")
    assert run(["import", str(bad), "--priority-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "[E303]" in err and "invalid YAML" in err and "无法读取" in err


def test_the_new_year_bridge_may_start_in_the_december_before():
    # The 2019 notice: 2018-12-29 (Saturday) worked, 2018-12-30..2019-01-01 off — as the package has it.
    schedule = Schedule.from_dict({"year": 2019, "notice": "2019", "festivals": [
        {"name": "元旦", "holidays": ["2018-12-30..2019-01-01"], "working_days": ["2018-12-29"]}]})
    assert chinese_calendar.is_workday(date(2018, 12, 29)) and chinese_calendar.is_holiday(date(2018, 12, 31))
    calendar = WorkingCalendar(schedules=(schedule,))
    assert calendar.is_working_day(date(2018, 12, 29)) == (True, False)
    assert calendar.is_working_day(date(2018, 12, 31)) == (False, False)
    assert calendar.source_of(2018) == "library"  # a bridge date does not make its year scheduled
    with pytest.raises(ConfigError, match="not a date of 2019"):
        Schedule.from_dict({"year": 2019, "notice": "2019", "festivals": [
            {"name": "元旦", "holidays": ["2018-12-24"]}]})


def test_an_invalid_schedule_in_the_config_is_refused_at_load(tmp_path):
    raw = load_yaml(CONFIG)
    raw["calendar"]["schedules"] = [made_up(festivals=[{"name": "元旦", "holidays": ["2099-01-01"],
                                                        "working_days": ["2099-01-02"]}])]
    with pytest.raises(ConfigError) as exc:
        PriorityMatrix.from_dict(raw, source="p.yaml")
    assert exc.value.code == "E304" and "calendar.schedules[0].festivals[0] 元旦.working_days" in exc.value.message
    raw["calendar"]["schedules"] = [made_up(), made_up()]
    with pytest.raises(ConfigError) as exc:
        PriorityMatrix.from_dict(raw)
    assert exc.value.code == "E306"


# --- import: writing the config -------------------------------------------------------------------


def test_import_rewrites_only_the_calendar_block(config, tmp_path, capsys):
    before = config.read_text(encoding="utf-8")
    path = schedule_file(tmp_path, made_up(url="https://example.invalid/notice"))
    assert run(["import", str(path), "--priority-config", str(config)]) == 0
    after = config.read_text(encoding="utf-8")
    head = before[:before.index("\ncalendar:")]
    assert after.startswith(head)  # every other key and comment, byte for byte
    assert "# 费用及收费标准类投诉" in after and "国务院办公厅" in after
    data = load_yaml(config)
    assert {k: v for k, v in data.items() if k != "calendar"} == {k: v for k, v in load_yaml(CONFIG).items()
                                                                  if k != "calendar"}
    assert data["calendar"]["schedules"][0]["url"] == "https://example.invalid/notice"
    calendar = PriorityMatrix.from_yaml(config).calendar
    assert calendar.is_working_day(date(2099, 1, 2)) == (False, False)
    assert calendar.is_working_day(date(2099, 1, 4)) == (True, False)  # the make-up Sunday
    assert calendar.is_working_day(date(2099, 1, 5)) == (True, False)
    capsys.readouterr()
    # the same file again: nothing to do; another year: both kept, in year order
    assert run(["import", str(path), "--priority-config", str(config)]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert run(["import", str(schedule_file(tmp_path, made_up(2098), "s2.yaml")), "--priority-config", str(config)]) == 0
    assert [s.year for s in PriorityMatrix.from_yaml(config).calendar.schedules] == [2098, 2099]


def test_a_different_schedule_for_a_year_needs_replace(config, tmp_path, capsys):
    run(["import", str(schedule_file(tmp_path, made_up())), "--priority-config", str(config)])
    other = made_up(festivals=[{"name": "元旦", "holidays": ["2099-01-01..2099-01-04"]}])
    path = schedule_file(tmp_path, other, "other.yaml")
    before = config.read_bytes()
    assert run(["import", str(path), "--priority-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "[E307]" in err and "--replace" in err and config.read_bytes() == before
    assert run(["import", str(path), "--priority-config", str(config), "--replace"]) == 0
    assert "replaced" in capsys.readouterr().out
    assert PriorityMatrix.from_yaml(config).calendar.is_working_day(date(2099, 1, 4)) == (False, False)


def test_dry_run_prints_the_block_and_writes_nothing(config, tmp_path, capsys):
    before = config.read_bytes()
    assert run(["import", str(SCHEDULE_2026), "--priority-config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("calendar:") and "2026-02-15..2026-02-23" in out
    assert config.read_bytes() == before


def test_replace_calendar_block_keeps_what_surrounds_it():
    text = "a: 1\n# about the calendar\ncalendar:\n  holidays: []\n  # inside\n\n  working_days: []\n\n# about b\nb: 2\n"
    assert replace_calendar_block(text, "calendar: NEW\n") == "a: 1\n# about the calendar\ncalendar: NEW\n\n# about b\nb: 2\n"
    assert replace_calendar_block("a: 1\n", "calendar: {}\n") == "a: 1\n\ncalendar: {}\n"
    assert replace_calendar_block("calendar: {holidays: []}\n", "calendar: X\n") == "calendar: X\n"
    assert replace_calendar_block("calendars: 1\n", "calendar: X\n") == "calendars: 1\n\ncalendar: X\n"


# --- coverage and `triage calendar check` ---------------------------------------------------------


def test_coverage_of_the_package_alone():
    calendar = WorkingCalendar()
    inside = coverage(calendar, date(LAST_LIBRARY_YEAR, 6, 1), 60)
    assert inside.ok and inside.covered_until == date(LAST_LIBRARY_YEAR, 12, 31) and inside.affected_from is None
    near = coverage(calendar, date(LAST_LIBRARY_YEAR, 12, 7), 60, reach_working_days=10)
    assert not near.ok and near.uncovered_years == (LAST_LIBRARY_YEAR + 1,)
    assert near.first_uncovered == date(LAST_LIBRARY_YEAR + 1, 1, 1)
    # the first receipt date whose 10th working day (Mon-Fri assumed after 12-31) is in the next year
    first = near.affected_from
    assert calendar.add_working_days(first, 10, warn=False)[0].year == LAST_LIBRARY_YEAR + 1
    assert calendar.add_working_days(first - timedelta(days=1), 10, warn=False)[0].year == LAST_LIBRARY_YEAR
    assert str(LAST_LIBRARY_YEAR + 1) in near.message() and str(LAST_LIBRARY_YEAR + 1) in near.message_zh()
    assert coverage(calendar, date(2150, 3, 1), 0).covered_until == date(2150, 2, 28)  # today's year unknown


def test_check_covered_window(config, capsys):
    assert run(["check", "--priority-config", str(config), "--today", f"{LAST_LIBRARY_YEAR}-06-01",
                "--within", "60d"]) == 0
    out = capsys.readouterr().out
    assert f"2004–{LAST_LIBRARY_YEAR}" in out and f"covered until / 覆盖至: {LAST_LIBRARY_YEAR}-12-31" in out
    assert "OK:" in out and "正常：" in out


def test_check_uncovered_window_names_the_year(config, capsys):
    code = run(["check", "--priority-config", str(config), "--today", f"{LAST_LIBRARY_YEAR}-12-07"])
    out, err = capsys.readouterr()
    year = str(LAST_LIBRARY_YEAR + 1)
    assert code == calendar_cli.EXIT_UNCOVERED
    assert f"NOT COVERED / 未覆盖: {year}" in out
    assert f"error: [E302] {year} is not covered" in err and f"错误：[E302] {year} 年的节假日安排尚未录入" in err


def test_check_after_the_next_year_is_imported(config, tmp_path, capsys):
    year = LAST_LIBRARY_YEAR + 1
    path = schedule_file(tmp_path, made_up(year, festivals=[{"name": "元旦", "holidays": [f"{year}-01-01"]}]))
    assert run(["import", str(path), "--priority-config", str(config)]) == 0
    capsys.readouterr()
    assert run(["check", "--priority-config", str(config), "--today", f"{LAST_LIBRARY_YEAR}-12-07", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["schedule_years"] == [year] and report["covered_until"] == f"{year}-12-31"
    assert report["window_days"] == 60


def test_check_window_argument(config, capsys):
    today = f"{LAST_LIBRARY_YEAR}-12-01"
    assert run(["check", "--priority-config", str(config), "--today", today, "--within", "30"]) == 0
    assert run(["check", "--priority-config", str(config), "--today", today, "--within", "31d"]) == 3
    with pytest.raises(ConfigError, match="--within"):
        run(["check", "--priority-config", str(config), "--within", "soon"])


# --- the flag on results ----------------------------------------------------------------------------


def test_priority_flags_an_uncovered_deadline(monkeypatch, caplog):
    monkeypatch.setattr(calendar_mod, "_warned_years", set())
    caplog.set_level(logging.WARNING, logger="classifier.calendar")
    matrix = PriorityMatrix.from_yaml(CONFIG)
    edge = matrix.assess("other", "neutral", "low", None, datetime(LAST_LIBRARY_YEAR, 12, 28, 10, tzinfo=SH))
    assert edge.calendar_uncovered and edge.to_dict()["calendar_uncovered"] is True
    assert "triage calendar import" in caplog.text
    inside = matrix.assess("other", "neutral", "low", None, datetime(LAST_LIBRARY_YEAR, 6, 1, 10, tzinfo=SH))
    assert not inside.calendar_uncovered and inside.to_dict()["calendar_uncovered"] is False


# --- packaging ------------------------------------------------------------------------------------


def test_the_command_is_registered_and_light():
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["feedback_triage.commands"]
    assert entry["calendar"] == "classifier.calendar_cli:register"
    code = ("import sys, classifier.calendar_cli; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('serving', 'training', 'torch', 'onnxruntime', "
            "'fastapi', 'sqlalchemy')); print(heavy); sys.exit(bool(heavy))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
