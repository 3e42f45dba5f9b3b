"""The Chinese working-day calendar that resolution deadlines count in, and how far it reaches.

Sources, first match wins for a date:

1. ``calendar.holidays`` / ``calendar.working_days`` in the priority config: single dates that
   correct or extend everything below (a desk's own exception);
2. ``calendar.schedules``: a year's schedule as the State Council (国务院办公厅) publishes it —
   its holidays and make-up working days (调休上班) per festival; for a year with a schedule, the
   schedule is the whole answer (its other days: Monday–Friday) and ``chinese_calendar`` is not
   consulted, so a schedule entered before the package catches up is what counts;
3. ``chinese_calendar`` (1.11 covers 2004–2026);
4. for a year that only has single dates under (1), Monday–Friday for its other days.

A year none of these knows is *uncovered*: its days count Monday–Friday, which is logged once per
year and flagged on every result (``Priority.calendar_uncovered``) — an approximate deadline, not
a failure. ``triage calendar check`` and the service's ``triage_calendar_covered_until`` say how
far coverage reaches, so the next year's schedule is entered before deadlines run into it.

A schedule (the ``triage calendar import`` file and each ``calendar.schedules`` entry have the
same form, see docs/operators.md) is validated as a whole: every date in its year (or in the last
week of the December before, where a New Year's Day bridge starts — the 2019 notice has
2018-12-29 worked and 12-30..01-01 off), a make-up working day on a Saturday or Sunday, no date
listed twice. Errors carry a stable code (E303–E307) and a Chinese message.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Iterable

from classifier.rules import check_keys, config_error
from classifier.errors import DateOutsideYear, MakeUpNotWeekend, ScheduleConflict, ScheduleInvalid

log = logging.getLogger(__name__)

LIBRARY = "chinese-calendar"
# A schedule's year ranges (E303 outside): earlier than the package's data is never needed, and a
# year far ahead is a typing slip.
MIN_YEAR, MAX_YEAR = 2000, 2199
# How many days before 1 January a schedule's dates may start: the New Year's Day bridge.
BRIDGE_DAYS = 7
WEEKDAY_ZH = "一二三四五六日"

_warned_years: set[int] = set()


# --- chinese_calendar ---------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _calendar_working_day(day: date) -> bool | None:
    """chinese_calendar's answer, None for a year it has no data for. Cached: every classified
    item walks several days forward from its arrival date, and the lookup is slow Python."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def library_knows(year: int) -> bool:
    return _calendar_working_day(date(year, 7, 1)) is not None


@lru_cache(maxsize=1)
def library_years() -> tuple[int, int] | None:
    """First and last year of ``chinese_calendar``'s data (it raises outside them)."""
    from chinese_calendar import constants

    years = sorted({d.year for d in constants.holidays} | {d.year for d in constants.workdays})
    known = [y for y in years if library_knows(y)]
    return (known[0], known[-1]) if known else None


@lru_cache(maxsize=1)
def library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(LIBRARY)
    except PackageNotFoundError:
        return "unknown"


# --- one year's published schedule ----------------------------------------------------------------


def _where(source: str | None, where: str) -> str:
    return f"{source}: {where}" if source else where


def _invalid(source: str | None, where: str, message: str, message_zh: str) -> ScheduleInvalid:
    return ScheduleInvalid(f"{_where(source, where)}: {message}", f"{_where(source, where)}：{message_zh}",
                           details={"file": source, "key": where})


def _parse_day(value: Any, source: str | None, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):  # YAML reads 2027-01-01 as a date
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise _invalid(source, where, f"{value!r} is not a date (YYYY-MM-DD)",
                       f"{value!r} 不是日期（格式 YYYY-MM-DD）") from None


def _parse_days(values: Any, source: str | None, where: str) -> list[date]:
    """A list of dates and ranges ``"2027-02-06..2027-02-13"`` (both ends included), expanded."""
    if not isinstance(values, list):
        raise _invalid(source, where, "must be a list of dates (YYYY-MM-DD) or ranges (YYYY-MM-DD..YYYY-MM-DD)",
                       "应为日期列表（YYYY-MM-DD）或日期区间（YYYY-MM-DD..YYYY-MM-DD）")
    days: list[date] = []
    for i, value in enumerate(values):
        at = f"{where}[{i}]"
        if isinstance(value, str) and ".." in value:
            first, _, last = value.partition("..")
            start, end = _parse_day(first, source, at), _parse_day(last, source, at)
            if end < start:
                raise _invalid(source, at, f"range {value!r} ends before it starts", f"区间 {value!r} 的结束早于开始")
            if (end - start).days > 31:
                raise _invalid(source, at, f"range {value!r} is longer than a month; no holiday is",
                               f"区间 {value!r} 超过一个月，不可能是一个假期")
            days += [start + timedelta(days=n) for n in range((end - start).days + 1)]
        else:
            days.append(_parse_day(value, source, at))
    return days


def _text(data: dict, key: str, source: str | None, where: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(source, f"{where}.{key}", f"must be a non-empty string, got {value!r}",
                       f"应为非空文字，实际为 {value!r}")
    return value.strip()


def _ranges(days: Iterable[date]) -> list[str]:
    """Sorted days as ISO dates, runs of consecutive days as ``"first..last"``."""
    out: list[str] = []
    ordered = sorted(days)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == timedelta(days=1):
            j += 1
        out.append(ordered[i].isoformat() if i == j else f"{ordered[i].isoformat()}..{ordered[j].isoformat()}")
        i = j + 1
    return out


@dataclass(frozen=True)
class Festival:
    """One item of the notice (e.g. 春节): the days off (the whole run, weekends included, as the
    notice gives it) and the make-up working days that pay for them."""

    name: str
    holidays: tuple[date, ...]
    working_days: tuple[date, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "holidays": _ranges(self.holidays), "working_days": _ranges(self.working_days)}


@dataclass(frozen=True)
class Schedule:
    """A year's holiday schedule as published (国务院办公厅关于 Y 年部分节假日安排的通知)."""

    year: int
    notice: str  # the notice's title (and number, 国办发明电〔…〕…号), to check the entry against it
    festivals: tuple[Festival, ...]
    url: str | None = None

    KEYS = ("year", "notice", "url", "festivals")
    FESTIVAL_KEYS = ("name", "holidays", "working_days")

    @property
    def holidays(self) -> frozenset[date]:
        return frozenset(d for f in self.festivals for d in f.holidays)

    @property
    def working_days(self) -> frozenset[date]:
        return frozenset(d for f in self.festivals for d in f.working_days)

    def is_working_day(self, day: date) -> bool:
        """The answer of this schedule alone (for a date of its year)."""
        if day in self.holidays:
            return False
        return day in self.working_days or day.weekday() < 5

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None, where: str = "schedule") -> "Schedule":
        """Validate one schedule; problems raise E303 (form), E304 (make-up day on a weekday),
        E305 (date outside the year), E306 (a date listed twice) naming the key."""
        if not isinstance(data, dict):
            raise _invalid(source, where, f"must be a mapping (year, notice, festivals), got {type(data).__name__}",
                           "应为包含 year、notice、festivals 的映射")
        unknown = [k for k in data if k not in cls.KEYS]
        missing = [k for k in ("year", "notice", "festivals") if k not in data]
        if unknown or missing:
            what = (f"unknown key(s) {', '.join(map(repr, unknown))}" if unknown else
                    f"missing key(s) {', '.join(missing)}")
            what_zh = (f"未知字段 {', '.join(map(repr, unknown))}" if unknown else f"缺少字段 {', '.join(missing)}")
            raise _invalid(source, where, f"{what}; expected {', '.join(cls.KEYS)} (url optional)",
                           f"{what_zh}；应有 year、notice、festivals（url 可选）")
        year = data["year"]
        if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
            raise _invalid(source, f"{where}.year", f"must be a year {MIN_YEAR}..{MAX_YEAR}, got {year!r}",
                           f"应为 {MIN_YEAR}–{MAX_YEAR} 之间的年份，实际为 {year!r}")
        notice = _text(data, "notice", source, where)
        url = _text(data, "url", source, where, required=False)
        items = data["festivals"]
        if not isinstance(items, list) or not items:
            raise _invalid(source, f"{where}.festivals", "must be a non-empty list of {name, holidays, working_days}",
                           "应为非空列表，每项含 name、holidays、working_days")
        festivals: list[Festival] = []
        for i, item in enumerate(items):
            at = f"{where}.festivals[{i}]"
            if not isinstance(item, dict):
                raise _invalid(source, at, "must be a mapping {name, holidays, working_days}",
                               "应为含 name、holidays、working_days 的映射")
            unknown = [k for k in item if k not in cls.FESTIVAL_KEYS]
            if unknown or "name" not in item or "holidays" not in item:
                raise _invalid(source, at, f"expected keys name, holidays (working_days optional), got {', '.join(map(str, item))}",
                               f"应有 name、holidays（working_days 可选），实际为 {', '.join(map(str, item))}")
            name = _text(item, "name", source, at)
            at = f"{where}.festivals[{i}] {name}"
            holidays = _parse_days(item["holidays"], source, f"{at}.holidays")
            if not holidays:
                raise _invalid(source, f"{at}.holidays", "lists no day", "未列出任何日期")
            working = _parse_days(item.get("working_days") or [], source, f"{at}.working_days")
            festivals.append(Festival(name, tuple(holidays), tuple(working)))
        schedule = cls(year, notice, tuple(festivals), url)
        schedule._check(source, where)
        return schedule

    def _check(self, source: str | None, where: str) -> None:
        first = date(self.year, 1, 1) - timedelta(days=BRIDGE_DAYS)
        last = date(self.year, 12, 31)
        seen: dict[date, str] = {}
        names = set()
        for i, f in enumerate(self.festivals):
            at = f"{where}.festivals[{i}] {f.name}"
            if f.name in names:
                raise ScheduleConflict(f"{_where(source, at)}: festival {f.name!r} is listed twice",
                                       f"{_where(source, at)}：节日 {f.name!r} 重复列出",
                                       details={"file": source, "key": at})
            names.add(f.name)
            for kind, days in (("holidays", f.holidays), ("working_days", f.working_days)):
                label, label_zh = ("holiday", "放假日期") if kind == "holidays" else ("make-up working day", "调休上班日期")
                for day in days:
                    key = f"{at}.{kind}"
                    details = {"file": source, "key": key, "date": day.isoformat()}
                    if not first <= day <= last:
                        raise DateOutsideYear(
                            f"{_where(source, key)}: {label} {day} is not a date of {self.year} "
                            f"(only the last {BRIDGE_DAYS} days of {self.year - 1} may start a New Year's Day bridge)",
                            f"{_where(source, key)}：{label_zh} {day} 不在 {self.year} 年内"
                            f"（仅元旦连休可从 {self.year - 1} 年的最后 {BRIDGE_DAYS} 天开始）", details=details)
                    if kind == "working_days" and day.weekday() < 5:
                        raise MakeUpNotWeekend(
                            f"{_where(source, key)}: make-up working day {day} is a {day.strftime('%A')}; make-up "
                            "days (调休上班) fall on a Saturday or Sunday — check the date against the notice",
                            f"{_where(source, key)}：调休上班日期 {day} 是星期{WEEKDAY_ZH[day.weekday()]}，"
                            "调休上班日应为星期六或星期日，请对照通知核对日期", details=details)
                    if day in seen:
                        raise ScheduleConflict(
                            f"{_where(source, key)}: {day} is already listed ({seen[day]})",
                            f"{_where(source, key)}：{day} 已在别处列出（{seen[day]}）", details=details)
                    seen[day] = f"{f.name} {kind}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"year": self.year, "notice": self.notice}
        if self.url:
            out["url"] = self.url
        out["festivals"] = [f.to_dict() for f in self.festivals]
        return out

    def yaml_lines(self, indent: str = "") -> list[str]:
        """This schedule as YAML (a list item at ``indent``), in the import file's own form.
        Strings are written JSON-quoted, which YAML reads back as they are."""
        q = lambda s: json.dumps(s, ensure_ascii=False)  # noqa: E731
        lines = [f"{indent}- year: {self.year}", f"{indent}  notice: {q(self.notice)}"]
        if self.url:
            lines.append(f"{indent}  url: {q(self.url)}")
        lines.append(f"{indent}  festivals:")
        for f in self.festivals:
            d = f.to_dict()
            lines.append(f"{indent}    - {{name: {q(f.name)}, holidays: [{', '.join(map(q, d['holidays']))}], "
                         f"working_days: [{', '.join(map(q, d['working_days']))}]}}")
        return lines


# --- the calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingCalendar:
    """The working-day calendar of a priority config: ``chinese_calendar``'s data, the config's
    published ``schedules`` and its single corrected dates (``holidays`` / ``working_days``), in
    the precedence the module docstring gives."""

    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    schedules: tuple[Schedule, ...] = ()
    _schedule_holidays: frozenset[date] = field(init=False, repr=False, compare=False)
    _schedule_working: frozenset[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_schedule_holidays", frozenset().union(*(s.holidays for s in self.schedules)))
        object.__setattr__(self, "_schedule_working", frozenset().union(*(s.working_days for s in self.schedules)))

    @property
    def configured_years(self) -> frozenset[int]:
        """Years with single dates in the config (covered: their other days count Monday–Friday)."""
        return frozenset(d.year for d in self.holidays | self.working_days)

    @property
    def schedule_years(self) -> frozenset[int]:
        return frozenset(s.year for s in self.schedules)

    def schedule(self, year: int) -> Schedule | None:
        return next((s for s in self.schedules if s.year == year), None)

    def _lookup(self, day: date) -> tuple[bool, bool]:
        if day in self.holidays:
            return False, False
        if day in self.working_days:
            return True, False
        if day in self._schedule_holidays:
            return False, False
        if day in self._schedule_working:
            return True, False
        if day.year in self.schedule_years:
            return day.weekday() < 5, False
        working = _calendar_working_day(day)
        if working is not None:
            return working, False
        if day.year in self.configured_years:
            return day.weekday() < 5, False
        return day.weekday() < 5, True

    def is_working_day(self, day: date) -> tuple[bool, bool]:
        """``(is_working_day, uncovered)``: statutory holidays are off, make-up working days
        (often a Saturday or Sunday) are on; ``uncovered`` when no source knows ``day.year`` and
        Monday–Friday was assumed (logged once per year)."""
        working, uncovered = self._lookup(day)
        if uncovered and day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("no Chinese holiday data for %d (chinese_calendar, calendar: in priority.yaml); "
                        "counting Mon-Fri as working days; enter the year's schedule with `triage calendar import`",
                        day.year)
        return working, uncovered

    def add_working_days(self, start: date, n: int, warn: bool = True) -> tuple[date, tuple[int, ...]]:
        """The ``n``-th working day strictly after ``start`` (``start`` itself is not counted).

        Returns ``(day, uncovered_years)``: the years for which the Mon–Fri rule had to be used.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        day = start
        counted = 0
        uncovered: set[int] = set()
        while counted < n:
            day += timedelta(days=1)
            working, assumed = self.is_working_day(day) if warn else self._lookup(day)
            if assumed:
                uncovered.add(day.year)
            if working:
                counted += 1
        return day, tuple(sorted(uncovered))

    # -- coverage ---------------------------------------------------------------------------------

    def source_of(self, year: int) -> str | None:
        """Where ``year``'s days come from: ``schedule``, ``library``, ``dates`` or None (uncovered)."""
        if year in self.schedule_years:
            return "schedule"
        if library_knows(year):
            return "library"
        if year in self.configured_years:
            return "dates"
        return None

    def covered_until(self, today: date) -> date:
        """The last day of the unbroken covered run from ``today``: the day before the first
        uncovered date on or after it (``today - 1`` when today's own year is uncovered)."""
        year = today.year
        while year <= MAX_YEAR and self.source_of(year) is not None:
            year += 1
        return max(today, date(year, 1, 1)) - timedelta(days=1) if year <= MAX_YEAR else date(MAX_YEAR, 12, 31)

    def uncovered_years(self, start: date, end: date) -> tuple[int, ...]:
        return tuple(y for y in range(start.year, end.year + 1) if self.source_of(y) is None)

    def disagreements(self, year: int) -> list[tuple[date, bool, bool]]:
        """Days of a scheduled year where the schedule and ``chinese_calendar`` differ:
        ``(day, schedule_says_working, library_says_working)`` (empty when the package has no
        data for the year). Worth a look when the package catches up with a year entered early."""
        schedule = self.schedule(year)
        if schedule is None or not library_knows(year):
            return []
        out = []
        day = date(year, 1, 1)
        while day.year == year:
            mine, theirs = schedule.is_working_day(day), _calendar_working_day(day)
            if mine != theirs:
                out.append((day, mine, bool(theirs)))
            day += timedelta(days=1)
        return out

    # -- config -----------------------------------------------------------------------------------

    KEYS = ("holidays", "working_days", "schedules")

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> "WorkingCalendar":
        if data is None:
            return cls()
        check_keys(data, cls.KEYS, source, "calendar")
        parsed: dict[str, frozenset[date]] = {}
        for key in ("holidays", "working_days"):
            values = data.get(key) or []
            if not isinstance(values, list):
                raise config_error(source, f"calendar.{key}", "must be a list of dates (YYYY-MM-DD)")
            days = set()
            for i, value in enumerate(values):
                try:  # YAML reads an unquoted 2027-01-01 as a date already
                    days.add(value if isinstance(value, date) and not isinstance(value, datetime)
                             else date.fromisoformat(str(value)))
                except ValueError:
                    raise config_error(source, f"calendar.{key}[{i}]", f"{value!r} is not a date (YYYY-MM-DD)") from None
            parsed[key] = frozenset(days)
        both = parsed["holidays"] & parsed["working_days"]
        if both:
            raise config_error(source, "calendar", f"{', '.join(map(str, sorted(both)))} listed as holiday and working day")
        items = data.get("schedules") or []
        if not isinstance(items, list):
            raise _invalid(source, "calendar.schedules", "must be a list of schedules (year, notice, festivals)",
                           "应为年度安排列表（year、notice、festivals）")
        schedules: list[Schedule] = []
        for i, item in enumerate(items):
            schedule = Schedule.from_dict(item, source, f"calendar.schedules[{i}]")
            if any(s.year == schedule.year for s in schedules):
                raise ScheduleConflict(
                    f"{_where(source, f'calendar.schedules[{i}]')}: a second schedule for {schedule.year}",
                    f"{_where(source, f'calendar.schedules[{i}]')}：{schedule.year} 年的安排重复录入",
                    details={"file": source, "key": f"calendar.schedules[{i}]", "year": schedule.year})
            schedules.append(schedule)
        return cls(parsed["holidays"], parsed["working_days"], tuple(sorted(schedules, key=lambda s: s.year)))

    def yaml_block(self) -> str:
        """The ``calendar:`` block of a priority config holding this calendar (what ``triage
        calendar import`` writes in place of the old block)."""
        lines = [
            "calendar:",
            "  # Single dates that correct or extend everything else (a desk's own exceptions).",
            f"  holidays: [{', '.join(d.isoformat() for d in sorted(self.holidays))}]",
            f"  working_days: [{', '.join(d.isoformat() for d in sorted(self.working_days))}]",
            "  # Each year's schedule as the State Council publishes it (国务院办公厅关于…部分节假日安排的通知):",
            "  # add one with `triage calendar import FILE` (docs/operators.md). A year with a schedule is",
            "  # taken from it alone; check coverage with `triage calendar check`.",
        ]
        if not self.schedules:
            lines.append("  schedules: []")
        else:
            lines.append("  schedules:")
            for s in self.schedules:
                lines += s.yaml_lines("    ")
        return "\n".join(lines) + "\n"


# The calendar without a config: the package's data alone.
PACKAGE_CALENDAR = WorkingCalendar()
is_working_day = PACKAGE_CALENDAR.is_working_day
add_working_days = PACKAGE_CALENDAR.add_working_days


# --- coverage of a window -------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Whether the days from ``today`` to ``window_end`` are covered (``triage calendar check``,
    the service's start-up and daily check, /readyz)."""

    today: date
    window_end: date
    covered_until: date
    uncovered_years: tuple[int, ...]
    library: str
    library_years: tuple[int, int] | None
    schedule_years: tuple[int, ...]
    date_years: tuple[int, ...]
    # The first day from today whose longest deadline (``reach_working_days``) already counts days
    # of an uncovered year: items received from then on get approximate deadlines.
    affected_from: date | None = None

    @property
    def ok(self) -> bool:
        return not self.uncovered_years

    @property
    def first_uncovered(self) -> date | None:
        return self.covered_until + timedelta(days=1) if self.uncovered_years else None

    def message(self) -> str:
        if self.ok:
            return (f"working days are covered until {self.covered_until} (checked {self.today}..{self.window_end})")
        years = ", ".join(map(str, self.uncovered_years))
        verb = "is" if len(self.uncovered_years) == 1 else "are"
        affected = (f"; items received from {self.affected_from} on get such deadlines" if self.affected_from else "")
        return (f"{years} {verb} not covered: no holiday schedule for {years}, so resolution deadlines that count days from "
                f"{self.first_uncovered} on fall back to Monday-Friday (approximate, flagged calendar_uncovered){affected}. "
                f"Enter the State Council's schedule for {self.uncovered_years[0]} with `triage calendar import FILE` "
                "(docs/operators.md)")

    def message_zh(self) -> str:
        if self.ok:
            return f"工作日日历已覆盖至 {self.covered_until}（检查范围 {self.today} 至 {self.window_end}）"
        years = "、".join(map(str, self.uncovered_years))
        affected = f"，{self.affected_from} 起收到的工单即受影响" if self.affected_from else ""
        return (f"{years} 年的节假日安排尚未录入：自 {self.first_uncovered} 起计算的办结期限将按周一至周五估算"
                f"（结果标记 calendar_uncovered）{affected}。请在国务院办公厅发布 {self.uncovered_years[0]} 年节假日安排通知后，"
                "用 `triage calendar import 文件` 录入（见 docs/operators.md）")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "today": self.today.isoformat(),
            "window_end": self.window_end.isoformat(),
            "window_days": (self.window_end - self.today).days,
            "covered_until": self.covered_until.isoformat(),
            "uncovered_years": list(self.uncovered_years),
            "library": self.library,
            "library_years": list(self.library_years) if self.library_years else None,
            "schedule_years": list(self.schedule_years),
            "date_years": list(self.date_years),
            "affected_from": self.affected_from.isoformat() if self.affected_from else None,
            "message": self.message(),
            "message_zh": self.message_zh(),
        }


def coverage(calendar: WorkingCalendar, today: date, window_days: int, reach_working_days: int = 0) -> Coverage:
    """Coverage of ``today`` .. ``today + window_days`` (both included) by ``calendar``;
    ``reach_working_days``: the longest deadline in working days (the matrix's largest
    ``resolve_working_days``), to say from which receipt date deadlines are affected."""
    if window_days < 0:
        raise ValueError(f"window_days must be >= 0, got {window_days}")
    end = today + timedelta(days=window_days)
    uncovered = calendar.uncovered_years(today, end)
    affected = None
    if uncovered and reach_working_days > 0:
        day = today
        while day <= end and affected is None:
            if calendar.add_working_days(day, reach_working_days, warn=False)[1]:
                affected = day
            day += timedelta(days=1)
    return Coverage(
        today=today,
        window_end=end,
        covered_until=calendar.covered_until(today),
        uncovered_years=uncovered,
        library=f"{LIBRARY} {library_version()}",
        library_years=library_years(),
        schedule_years=tuple(sorted(calendar.schedule_years)),
        date_years=tuple(sorted(calendar.configured_years - calendar.schedule_years)),
        affected_from=affected,
    )


# --- writing the config ---------------------------------------------------------------------------


def replace_calendar_block(text: str, block: str) -> str:
    """``text`` (a priority config) with its top-level ``calendar:`` block replaced by ``block``,
    or ``block`` appended when there is none. Everything else — the other keys, their comments,
    the comment lines above ``calendar:`` — is kept byte for byte: an operator's config is
    annotated by hand, and a YAML round trip (PyYAML) would drop every comment.

    The block is the ``calendar:`` line and the lines after it up to the last indented one before
    the next top-level key (comment lines at column 0 right before that key stay with it)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"calendar:(\s|$)", line)), None)
    if start is None:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + block
    end = start + 1  # one past the block's last line
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            continue
        if line[0] in " \t":
            end = i + 1
            continue
        break  # the next top-level key
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + block + tail
