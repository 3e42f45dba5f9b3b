"""``triage calendar check`` and ``triage calendar import FILE``: how far the working-day calendar
reaches, and entering a year's published holiday schedule into the priority config.

``check`` exits 0 when every date from today through the window (``--within``, default 60 days:
two months' notice before deadlines reach an unknown year) is covered, 3 naming the year when one
is not — for a cron job or a deployment pipeline; 1 on a config error. ``import`` validates the
schedule (E303–E307, see classifier/calendar.py), rewrites only the config's ``calendar:`` block,
re-reads the whole config before replacing the file, and never loads anything at import time but
the runtime's light modules.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from classifier.calendar import Coverage, Schedule, WorkingCalendar, coverage, replace_calendar_block
from classifier.rules import load_yaml, parse_duration
from classifier.errors import CalendarError, ConfigError, ScheduleInvalid, YearAlreadyScheduled
from classifier.priority import PriorityMatrix
from classifier.resources import default_priority_config

EXIT_UNCOVERED = 3
DEFAULT_WINDOW = "60d"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calendar", help="working-day calendar: check its coverage, import a year's holiday schedule",
        description="Resolution deadlines count Chinese working days (chinese-calendar, plus the schedules entered "
                    "in the priority config). `check` says how far that reaches; `import` adds a year's schedule "
                    "as the State Council publishes it (docs/operators.md).",
    )
    sub = p.add_subparsers(dest="calendar_command", metavar="ACTION", required=True)
    config_help = "priority rules (default: TRIAGE_PRIORITY_CONFIG, else the shipped configs/priority.yaml)"

    c = sub.add_parser("check", help="years covered; exit 3 naming the year when a date in the window is not",
                       description="Print the years the working-day calendar covers (chinese-calendar and the "
                                   "config) and check every date from today through the window. Exit status: 0 "
                                   "covered, 3 not covered (the year is named), 1 a config error.")
    c.add_argument("--priority-config", type=Path, default=default_priority_config(), help=config_help)
    c.add_argument("--within", default=DEFAULT_WINDOW, metavar="DURATION",
                   help=f"how far ahead of today to check, in days: 60d or 60 (default {DEFAULT_WINDOW})")
    c.add_argument("--today", type=date.fromisoformat, metavar="YYYY-MM-DD",
                   help="check as of this date (default: today in the config's time zone)")
    c.add_argument("--json", action="store_true", help="print the result as one JSON object")
    c.set_defaults(func=run_check)

    i = sub.add_parser("import", help="add a year's published holiday schedule to the priority config",
                       description="Validate FILE (a year's holidays and make-up working days, the YAML form in "
                                   "docs/operators.md) and write it under calendar.schedules in the priority config. "
                                   "Only the calendar: block is rewritten; restart the service to use it.")
    i.add_argument("file", type=Path, help="the schedule (YAML)")
    i.add_argument("--priority-config", type=Path, default=default_priority_config(), help=config_help)
    i.add_argument("--replace", action="store_true", help="replace a different schedule already entered for the year")
    i.add_argument("--dry-run", action="store_true", help="validate and print the new calendar: block; write nothing")
    i.set_defaults(func=run_import)


# --- check --------------------------------------------------------------------------------------


def window_days(text: str) -> int:
    """``"60d"`` → 60; a bare number is days; a duration below a day rounds up to one."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as exc:
        raise ConfigError(f"--within: {exc}") from None
    return max(1, math.ceil(seconds / 86400))


def _years(first_last: tuple[int, int] | None) -> str:
    return f"{first_last[0]}–{first_last[1]}" if first_last else "—"


def describe(cov: Coverage, calendar: WorkingCalendar, config: Path) -> list[str]:
    """The report's lines, each in English and Chinese."""
    schedules = [f"{s.year} ({s.notice})" for s in calendar.schedules] or ["none / 无"]
    lines = [
        f"Working-day calendar / 工作日日历 ({config})",
        f"  {cov.library}: {_years(cov.library_years)}",
        f"  config schedules / 配置中的年度安排: {schedules[0]}",
        *(f"    {s}" for s in schedules[1:]),
    ]
    if cov.date_years:
        lines.append(f"  config single dates only / 仅单独日期: {', '.join(map(str, cov.date_years))}")
    lines += [
        f"  covered until / 覆盖至: {cov.covered_until}",
        f"  window / 检查范围: {cov.today} – {cov.window_end} ({(cov.window_end - cov.today).days} days / 天)",
    ]
    if cov.affected_from:
        lines.append(f"  items received from this day get approximate deadlines / 自此日起收到的工单期限为估算: {cov.affected_from}")
    for year in sorted(calendar.schedule_years):
        differ = calendar.disagreements(year)
        if differ:
            shown = ", ".join(f"{d} ({'work' if mine else 'off'} vs {'work' if lib else 'off'})" for d, mine, lib in differ[:10])
            lines.append(f"  note / 注意: {year}: the config's schedule and {cov.library} differ on {len(differ)} day(s) "
                         f"/ 配置与程序库有 {len(differ)} 天不一致: {shown}")
    return lines


def _print_error(exc: CalendarError) -> int:
    print(f"error: [{exc.code}] {exc.message}", file=sys.stderr)
    print(f"错误：[{exc.code}] {exc.message_zh}", file=sys.stderr)
    return 1


def run_check(args: argparse.Namespace) -> int:
    try:
        matrix = PriorityMatrix.from_yaml(args.priority_config)
    except CalendarError as exc:  # a schedule in the config is invalid
        return _print_error(exc)
    today = args.today or datetime.now(matrix.tz).date()
    cov = coverage(matrix.calendar, today, window_days(args.within), matrix.longest_resolve_working_days)
    if args.json:
        print(json.dumps({**cov.to_dict(), "config": str(args.priority_config)}, ensure_ascii=False))
    else:
        print("\n".join(describe(cov, matrix.calendar, args.priority_config)))
        print(f"OK: {cov.message()}\n正常：{cov.message_zh()}" if cov.ok else f"NOT COVERED / 未覆盖: "
              f"{', '.join(map(str, cov.uncovered_years))}")
    if not cov.ok:
        print(f"error: [{CalendarError.code}] {cov.message()}", file=sys.stderr)
        print(f"错误：[{CalendarError.code}] {cov.message_zh()}", file=sys.stderr)
        return EXIT_UNCOVERED
    return 0


# --- import -------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    schedule: Schedule
    config: Path
    changed: bool  # False: the same schedule was there already
    replaced: Schedule | None = None
    written: bool = False
    block: str = ""
    warnings: list[str] = field(default_factory=list)


def read_schedule(path: Path) -> Schedule:
    try:
        data = load_yaml(path)
    except CalendarError:
        raise
    except ConfigError as exc:  # unreadable, not YAML, not a mapping
        raise ScheduleInvalid(exc.message, f"无法读取年度安排文件：{exc.message}", details=exc.details) from None
    return Schedule.from_dict(data, source=str(path))


def import_schedule(config: Path, schedule_file: Path, replace: bool = False, dry_run: bool = False) -> ImportResult:
    """Validate ``schedule_file`` and write it into ``config``'s ``calendar.schedules``.

    The file is replaced atomically and only after the new text has been read back as a valid
    priority config whose other keys are unchanged and whose calendar is the intended one."""
    schedule = read_schedule(schedule_file)
    source = str(config)
    old_text = config.read_text(encoding="utf-8")
    matrix = PriorityMatrix.from_yaml(config)  # the config must be valid before it is touched
    calendar = matrix.calendar
    existing = calendar.schedule(schedule.year)
    result = ImportResult(schedule, config, changed=existing != schedule, replaced=existing if existing != schedule else None)
    if existing is not None and existing != schedule and not replace:
        raise YearAlreadyScheduled(
            f"{source}: calendar.schedules already holds a different schedule for {schedule.year} "
            f"({existing.notice}); pass --replace to replace it",
            f"{source}：calendar.schedules 中已有不同的 {schedule.year} 年安排（{existing.notice}）；如需替换请加 --replace",
            details={"file": source, "year": schedule.year})
    singles = sorted(d for d in calendar.holidays | calendar.working_days if d.year == schedule.year)
    if singles:
        result.warnings.append(
            f"single dates under calendar.holidays/working_days take precedence over the schedule for "
            f"{schedule.year}: {', '.join(map(str, singles))} / 这些单独日期优先于年度安排")
    others = tuple(s for s in calendar.schedules if s.year != schedule.year)
    updated = WorkingCalendar(calendar.holidays, calendar.working_days,
                              tuple(sorted(others + (schedule,), key=lambda s: s.year)))
    result.block = updated.yaml_block()
    if not result.changed:
        return result
    new_text = replace_calendar_block(old_text, result.block)
    _verify(new_text, source, load_yaml(config), updated)
    if not dry_run:
        _write_atomically(config, new_text)
        result.written = True
    return result


def _verify(new_text: str, source: str, old_data: dict, intended: WorkingCalendar) -> None:
    import yaml

    from classifier.rules import _unique_key_loader

    problem = None
    try:
        data = yaml.load(new_text, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader subclass
        rebuilt = PriorityMatrix.from_dict(data, source=source).calendar
        if {k: v for k, v in data.items() if k != "calendar"} != {k: v for k, v in old_data.items() if k != "calendar"}:
            problem = "other keys would change"
        elif rebuilt != intended:
            problem = "the calendar read back differs from the one written"
    except (yaml.YAMLError, ConfigError, AttributeError) as exc:
        problem = str(exc)
    if problem:
        raise ConfigError(f"{source}: the calendar: block could not be rewritten safely ({problem}); nothing was "
                          "written — add the schedule under calendar.schedules by hand (docs/operators.md)",
                          details={"file": source})


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_import(args: argparse.Namespace) -> int:
    try:
        result = import_schedule(args.priority_config, args.file, replace=args.replace, dry_run=args.dry_run)
    except CalendarError as exc:
        return _print_error(exc)
    s = result.schedule
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    summary = (f"{s.year}: {len(s.festivals)} festivals / 个节日, {len(s.holidays)} days off / 天放假, "
               f"{len(s.working_days)} make-up working days / 天调休上班 ({s.notice})")
    if args.dry_run:
        print(result.block, end="")
        print(f"dry run, nothing written / 试运行，未写入: {summary}", file=sys.stderr)
    elif not result.changed:
        print(f"unchanged / 无变化: {args.priority_config} already holds this schedule / 已包含此安排: {summary}")
    else:
        verb = "replaced / 已替换" if result.replaced else "added / 已录入"
        print(f"{verb}: {summary} -> {args.priority_config}")
        print("restart the service (or re-run `triage score`) to use it / 重启服务后生效; "
              "check: triage calendar check")
    return 0
