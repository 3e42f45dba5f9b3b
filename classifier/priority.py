"""Priority matrix: urgent × important quadrant (紧急-重要四象限) → level P1–P4 → deadlines.

* **urgent** comes from the model: the predicted urgency label is in ``urgent_labels``.
* **important** comes from rules (any-of) over category, sentiment and request metadata
  (``customer_tier``, ``channel``, ``amount`` …), see :class:`classifier.rules.Condition`.
* the quadrant maps to a level through ``quadrant_levels``; each level has a first-response
  limit (wall-clock duration, e.g. ``"30m"``/``"24h"``) and a resolution limit in **working days**
  on the Chinese calendar (statutory holidays and make-up working days, 调休, from
  ``chinese_calendar``), in the configured time zone (default Asia/Shanghai).

Working-day counting (the choice documented in configs/priority.yaml): the day the feedback is
received is not counted — counting starts the next day, as for periods under the Civil Code
(民法典 第二百零一条) — and ``resolve_by`` is the end (23:59:59 local) of the N-th working day
after it (``resolve_deadline: end_of_day``, the default, cf. 第二百零三条: a period ends at 24:00
of its last day); ``resolve_deadline: same_time`` ends at the received time of day instead.
The working-day calendar itself — ``chinese_calendar``, the config's ``calendar:`` block (each
year's published schedule, single corrected dates) and what happens in a year nobody knows (Monday
to Friday, flagged ``calendar_uncovered``) — is classifier/calendar.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The calendar lives in classifier/calendar.py; these names stay importable from here.
from classifier.calendar import PACKAGE_CALENDAR, WorkingCalendar, add_working_days, is_working_day  # noqa: F401
from classifier.rules import Condition, check_keys, config_error, load_yaml, parse_duration
from classifier.labels import CATEGORY, HEADS, LABELS, SENTIMENT, URGENCY
from classifier.review import watch_reason
from classifier.signals import BY_NAME as SIGNALS_BY_NAME, REASON_PREFIX as RULE_PREFIX

# Quadrant codes, in display order (most to least pressing under the default mapping).
URGENT_IMPORTANT = "urgent_important"
IMPORTANT_NOT_URGENT = "important_not_urgent"
URGENT_NOT_IMPORTANT = "urgent_not_important"
NOT_URGENT_NOT_IMPORTANT = "not_urgent_not_important"
QUADRANTS: tuple[str, ...] = (URGENT_IMPORTANT, IMPORTANT_NOT_URGENT, URGENT_NOT_IMPORTANT, NOT_URGENT_NOT_IMPORTANT)

LEVELS: tuple[str, ...] = ("P1", "P2", "P3", "P4")

RESOLVE_DEADLINES = ("end_of_day", "same_time")
END_OF_DAY = time(23, 59, 59)
DEFAULT_TIMEZONE = "Asia/Shanghai"

# Fields an importance rule's ``when`` may test (urgency is the other axis, so it is not here).
IMPORTANCE_FIELDS: dict[str, tuple[str, ...]] = {"category": LABELS["category"], "sentiment": LABELS["sentiment"]}


def quadrant_of(urgent: bool, important: bool) -> str:
    if urgent and important:
        return URGENT_IMPORTANT
    if important:
        return IMPORTANT_NOT_URGENT
    if urgent:
        return URGENT_NOT_IMPORTANT
    return NOT_URGENT_NOT_IMPORTANT


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelDeadlines:
    respond_within: timedelta
    resolve_working_days: int
    respond_within_text: str = ""  # as written in the config, for explanations


@dataclass(frozen=True)
class Priority:
    """The outcome of :meth:`PriorityMatrix.assess`; datetimes are aware, in the matrix time zone."""

    category: str
    sentiment: str
    urgency: str
    urgent: bool
    important: bool
    quadrant: str
    level: str
    received_at: datetime
    respond_by: datetime
    resolve_by: datetime
    matched_rules: tuple[str, ...] = ()  # names of the importance rules that fired
    reasons: tuple[str, ...] = ()  # human-readable explanation, one line per decision
    # True when resolve_by counted days of a year without holiday data (Mon-Fri assumed): the
    # deadline is approximate (classifier/calendar.py).
    calendar_uncovered: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; datetimes as ISO 8601 with offset (e.g. ``2025-10-14T23:59:59+08:00``)."""
        return {
            "category": self.category,
            "sentiment": self.sentiment,
            "urgency": self.urgency,
            "urgent": self.urgent,
            "important": self.important,
            "quadrant": self.quadrant,
            "level": self.level,
            "received_at": self.received_at.isoformat(),
            "respond_by": self.respond_by.isoformat(),
            "resolve_by": self.resolve_by.isoformat(),
            "matched_rules": list(self.matched_rules),
            "reasons": list(self.reasons),
            "calendar_uncovered": self.calendar_uncovered,
        }


@dataclass
class MatrixCounts:
    """Counts per quadrant cell and per category × quadrant (the GET /v1/matrix payload)."""

    cells: dict[str, int] = field(default_factory=lambda: {q: 0 for q in QUADRANTS})
    by_category: dict[str, dict[str, int]] = field(
        default_factory=lambda: {c: {q: 0 for q in QUADRANTS} for c in CATEGORY}
    )
    total: int = 0

    def add(self, category: str, quadrant: str, n: int = 1) -> None:
        if quadrant not in QUADRANTS:
            raise ValueError(f"unknown quadrant {quadrant!r}; expected one of {', '.join(QUADRANTS)}")
        if category not in CATEGORY:
            raise ValueError(f"unknown category {category!r}; expected one of {', '.join(CATEGORY)}")
        self.cells[quadrant] += n
        self.by_category[category][quadrant] += n
        self.total += n

    def to_dict(self) -> dict[str, Any]:
        return {
            "cells": dict(self.cells),
            "by_category": {c: dict(v) for c, v in self.by_category.items()},
            "total": self.total,
        }


def _get(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def aggregate(items: Iterable[Any]) -> MatrixCounts:
    """Count ``items`` per quadrant and per category.

    Each item is a :class:`Priority`; or a result object/mapping with a ``priority`` (a
    ``Priority`` or its ``to_dict()``) and optionally its own ``category``; or a mapping with
    ``category`` and ``quadrant`` (e.g. ``Priority.to_dict()`` read back from storage).
    """
    counts = MatrixCounts()
    for i, item in enumerate(items):
        prio = item if isinstance(item, Priority) else _get(item, "priority")
        source = prio if prio is not None else item
        quadrant = _get(source, "quadrant")
        category = (_get(item, "category") if prio is not item else None) or _get(source, "category")
        if not isinstance(quadrant, str) or not isinstance(category, str):
            raise TypeError(f"item {i}: cannot find a category and a quadrant in {type(item).__name__}")
        counts.add(category, quadrant)
    return counts


# --- watched labels: the review queue's risk order -------------------------------------------------

# possible_<label>[_<head>] -> {head: label}: the inverse of classifier.review.watch_reason, for every
# label, so that a class the review policy starts watching needs no change here.
POSSIBLE_REASONS: dict[str, dict[str, str]] = {
    watch_reason(f"{head}.{label}"): {head: label} for head in HEADS for label in LABELS[head]}


@dataclass(frozen=True)
class WatchTable:
    """Which labels a review reason says may hold although the model did not predict them.

    The review policy queues an item *because* a high-stakes label may hold (``possible_<label>``)
    or a guideline rule signal fired (``rule:<name>``); sorting it by the labels the model predicted
    would put exactly those items last. ``possible_*`` reasons name their label; a rule's labels are
    those the guideline assigns to it (``Signal.implies`` in classifier/signals.py), unless the
    ``watch.rules`` table of the priority config overrides them; a rule known to neither (a bundle
    newer than this runtime) implies ``watch.rule_default`` — so a new rule is sorted up from its
    first day and needs no code."""

    rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    rule_default: Mapping[str, str] = field(default_factory=lambda: {"urgency": "high"})

    def implied(self, reason: str) -> dict[str, str]:
        if reason.startswith(RULE_PREFIX):
            name = reason[len(RULE_PREFIX):]
            if name in self.rules:
                return dict(self.rules[name])
            if name in SIGNALS_BY_NAME:
                return dict(key.split(".", 1) for key in SIGNALS_BY_NAME[name].implies)
            return dict(self.rule_default)
        return dict(POSSIBLE_REASONS.get(reason, {}))

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> "WatchTable":
        if data is None:
            return cls()
        check_keys(data, ("rules", "rule_default"), source, "watch")

        def labels(spec: Any, where: str) -> dict[str, str]:
            check_keys(spec, ("category", "sentiment", "urgency"), source, where)
            if not spec:
                raise config_error(source, where, "names no label (give category, sentiment and/or urgency)")
            for head, label in spec.items():
                if label not in LABELS[head]:
                    raise config_error(source, f"{where}.{head}",
                                       f"unknown {head} label {label!r}; expected one of {', '.join(LABELS[head])}")
            return dict(spec)

        rules_data = data.get("rules") or {}
        if not isinstance(rules_data, dict):
            raise config_error(source, "watch.rules", "must map rule names to labels, e.g. money_gone: {urgency: high}")
        rules = {str(name): labels(spec, f"watch.rules.{name}") for name, spec in rules_data.items()}
        default = labels(data["rule_default"], "watch.rule_default") if "rule_default" in data else {"urgency": "high"}
        return cls(rules, default)


@dataclass(frozen=True)
class SortLevel:
    """Where the review queue sorts an item: ``level`` is the most pressing of the level in force
    and the levels its watched labels would give; ``raised_by`` the reasons that made it more
    pressing (empty when the level in force stands)."""

    level: str
    raised_by: tuple[str, ...] = ()


# --- the matrix -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportanceRule:
    name: str
    condition: Condition


class PriorityMatrix:
    """Configured urgent × important matrix; build with :meth:`from_yaml` or :meth:`from_dict`."""

    TOP_KEYS = ("timezone", "urgent_labels", "importance_rules", "quadrant_levels", "levels", "resolve_deadline",
                "calendar", "watch", "metadata_rules_skip_categories")
    REQUIRED = ("urgent_labels", "importance_rules", "quadrant_levels", "levels")

    def __init__(
        self,
        *,
        urgent_labels: Iterable[str],
        importance_rules: Iterable[ImportanceRule],
        quadrant_levels: Mapping[str, str],
        levels: Mapping[str, LevelDeadlines],
        tz: str = DEFAULT_TIMEZONE,
        resolve_deadline: str = "end_of_day",
        calendar: WorkingCalendar = PACKAGE_CALENDAR,
        watch: WatchTable | None = None,
        metadata_rules_skip_categories: Iterable[str] = (),
    ):
        self.urgent_labels = tuple(urgent_labels)
        self.importance_rules = tuple(importance_rules)
        self.quadrant_levels = dict(quadrant_levels)
        self.levels = dict(levels)
        self.timezone_name = tz
        self.tz = ZoneInfo(tz)
        self.resolve_deadline = resolve_deadline
        self.calendar = calendar
        self.watch = watch or WatchTable()
        self.metadata_rules_skip_categories = frozenset(metadata_rules_skip_categories)

    @property
    def longest_resolve_working_days(self) -> int:
        """How many working days ahead the longest deadline reaches (the calendar must cover them)."""
        return max(spec.resolve_working_days for spec in self.levels.values())

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path) -> "PriorityMatrix":
        return cls.from_dict(load_yaml(path), source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> "PriorityMatrix":
        """Validate ``data``; any problem is a ``ConfigError`` naming the key or rule."""
        check_keys(data, cls.TOP_KEYS, source, "priority config", required=cls.REQUIRED)

        tz = data.get("timezone", DEFAULT_TIMEZONE)
        try:
            if not isinstance(tz, str):
                raise ValueError
            ZoneInfo(tz)
        except (ValueError, ZoneInfoNotFoundError):
            raise config_error(source, "timezone", f"unknown time zone {tz!r}") from None

        resolve_deadline = data.get("resolve_deadline", "end_of_day")
        if resolve_deadline not in RESOLVE_DEADLINES:
            raise config_error(
                source, "resolve_deadline", f"{resolve_deadline!r} is not one of {', '.join(RESOLVE_DEADLINES)}"
            )

        urgent = data["urgent_labels"]
        urgent = urgent if isinstance(urgent, list) else [urgent]
        if not urgent:
            raise config_error(source, "urgent_labels", "must list at least one urgency label")
        for label in urgent:
            if label not in URGENCY:
                raise config_error(
                    source, "urgent_labels", f"unknown urgency label {label!r}; expected one of {', '.join(URGENCY)}"
                )

        rules_data = data["importance_rules"]
        if not isinstance(rules_data, list):
            raise config_error(source, "importance_rules", "must be a list of {name, when} rules")
        rules: list[ImportanceRule] = []
        seen: set[str] = set()
        for i, rule in enumerate(rules_data):
            where = f"importance_rules[{i}]"
            check_keys(rule, ("name", "when"), source, where, required=("name", "when"))
            name = rule["name"]
            if not isinstance(name, str) or not name.strip():
                raise config_error(source, where, f"name must be a non-empty string, got {name!r}")
            where = f"importance_rules[{i}] {name!r}"
            if name in seen:
                raise config_error(source, where, "duplicate rule name")
            seen.add(name)
            rules.append(ImportanceRule(name, Condition.compile(rule["when"], IMPORTANCE_FIELDS, source, where)))

        qmap = check_keys(data["quadrant_levels"], QUADRANTS, source, "quadrant_levels", required=QUADRANTS)
        for quadrant, level in qmap.items():
            if level not in LEVELS:
                raise config_error(
                    source, f"quadrant_levels.{quadrant}", f"unknown level {level!r}; expected one of {', '.join(LEVELS)}"
                )

        levels_data = check_keys(data["levels"], LEVELS, source, "levels")
        levels: dict[str, LevelDeadlines] = {}
        for level, spec in levels_data.items():
            where = f"levels.{level}"
            check_keys(spec, ("respond_within", "resolve_working_days"), source, where,
                       required=("respond_within", "resolve_working_days"))
            try:
                respond = parse_duration(spec["respond_within"])
            except ValueError as exc:
                raise config_error(source, f"{where}.respond_within", str(exc)) from None
            days = spec["resolve_working_days"]
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
                raise config_error(source, f"{where}.resolve_working_days", f"must be an integer 1..366, got {days!r}")
            levels[level] = LevelDeadlines(respond, days, str(spec["respond_within"]).strip())
        for quadrant, level in qmap.items():
            if level not in levels:
                raise config_error(source, f"quadrant_levels.{quadrant}", f"level {level} has no entry under levels")

        return cls(
            urgent_labels=urgent,
            importance_rules=rules,
            quadrant_levels=qmap,
            levels=levels,
            tz=tz,
            resolve_deadline=resolve_deadline,
            calendar=WorkingCalendar.from_dict(data.get("calendar"), source),
            watch=WatchTable.from_dict(data.get("watch"), source),
            metadata_rules_skip_categories=cls._skip_categories(data.get("metadata_rules_skip_categories"), source),
        )

    @staticmethod
    def _skip_categories(value: Any, source: str | None) -> tuple[str, ...]:
        if value is None:
            return ()
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v not in CATEGORY:
                raise config_error(source, "metadata_rules_skip_categories",
                                   f"unknown category {v!r}; expected one of {', '.join(CATEGORY)}")
        return tuple(values)

    # -- assessment ---------------------------------------------------------------------------

    def assess(
        self,
        category: str,
        sentiment: str,
        urgency: str,
        metadata: Mapping[str, Any] | None = None,
        received_at: datetime | None = None,
    ) -> Priority:
        """Place one feedback in the matrix and compute its deadlines.

        ``received_at`` must be timezone-aware (any zone; it is converted to the matrix zone);
        ``None`` means now. Unknown labels raise ``ValueError``.
        """
        for head, value, known in (("category", category, CATEGORY), ("sentiment", sentiment, SENTIMENT),
                                   ("urgency", urgency, URGENCY)):
            if value not in known:
                raise ValueError(f"unknown {head} label {value!r}; expected one of {', '.join(known)}")
        if received_at is None:
            received_at = datetime.now(timezone.utc)
        if not isinstance(received_at, datetime):
            raise TypeError(f"received_at must be a datetime, got {type(received_at).__name__}")
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware (e.g. datetime.now(timezone.utc))")
        received = received_at.astimezone(self.tz)
        metadata = metadata or {}
        reasons: list[str] = []

        urgent = urgency in self.urgent_labels
        shown = ", ".join(self.urgent_labels)
        reasons.append(
            f"urgent: urgency {urgency!r} is in urgent_labels [{shown}]" if urgent
            else f"not urgent: urgency {urgency!r} is not in urgent_labels [{shown}]"
        )

        values = {"category": category, "sentiment": sentiment}
        matched = tuple(r.name for r in self.importance_rules if r.condition.matches(values, metadata))
        if category in self.metadata_rules_skip_categories:
            skipped = tuple(r.name for r in self.importance_rules if r.name in matched and not r.condition.fields)
            if skipped:
                matched = tuple(n for n in matched if n not in skipped)
                reasons.append(f"category {category!r} is in metadata_rules_skip_categories: "
                               f"metadata-only rule(s) {', '.join(map(repr, skipped))} not applied")
        important = bool(matched)
        if important:
            by_name = {r.name: r for r in self.importance_rules}
            reasons += [f"important: rule {n!r} ({by_name[n].condition.describe()})" for n in matched]
        else:
            reasons.append("not important: no importance rule matched")

        quadrant = quadrant_of(urgent, important)
        level = self.quadrant_levels[quadrant]
        limits = self.levels[level]
        reasons.append(
            f"{quadrant} -> {level}: respond within {limits.respond_within_text}, "
            f"resolve within {limits.resolve_working_days} working days"
        )

        respond_by = received + limits.respond_within
        last_day, uncovered_years = self.calendar.add_working_days(received.date(), limits.resolve_working_days)
        at = END_OF_DAY if self.resolve_deadline == "end_of_day" else received.time().replace(tzinfo=None)
        resolve_by = datetime.combine(last_day, at, tzinfo=self.tz)
        if uncovered_years:
            reasons.append(
                "calendar uncovered: no Chinese holiday data for "
                f"{', '.join(map(str, uncovered_years))}; counted Mon-Fri as working days "
                "(enter the year's schedule: triage calendar import FILE)"
            )

        return Priority(
            category=category,
            sentiment=sentiment,
            urgency=urgency,
            urgent=urgent,
            important=important,
            quadrant=quadrant,
            level=level,
            received_at=received,
            respond_by=respond_by,
            resolve_by=resolve_by,
            matched_rules=matched,
            reasons=tuple(reasons),
            calendar_uncovered=bool(uncovered_years),
        )

    # -- the review queue's order ------------------------------------------------------------

    def sort_level(self, labels: Mapping[str, Any], reasons: Iterable[str], metadata: Mapping[str, Any] | None,
                   received_at: datetime, level: str | None = None) -> SortLevel:
        """The level the review queue sorts an item at: the most pressing of its ``level`` in force
        (computed from ``labels`` when not given) and the level the matrix gives with the labels its
        review ``reasons`` watch for substituted — each reason's alone and all of them together.

        A guideline rule (``rule:*``) that would make the item urgent sorts it with the urgent and
        important ones (``quadrant_levels.urgent_important``) whatever the model said of its category
        and sentiment: the rules name the guideline's urgent cases (money gone, a charge not made, a
        lost phone, a repayment blocked today), which are all important, at a precision of about
        0.5-0.7. The model's own watch (``possible_high_urgency``) is not raised that far: it fires
        on most queued items, and lifting them all above P2 buried the truly urgent ones deeper
        (bench/bench_queue_rank.py; reports/2026-12-07-round4/queue-rank.md).
        """
        current = {h: labels[h] for h in ("category", "sentiment", "urgency")}
        if level is None:
            level = self.assess(current["category"], current["sentiment"], current["urgency"], metadata, received_at).level
        best, raised, together, contributing = level, [], dict(current), []
        for reason in reasons:
            changed = {h: v for h, v in self.watch.implied(reason).items() if current.get(h) != v}
            if not changed:
                continue
            together.update(changed)
            contributing.append(reason)
            alone = self._watched_level({**current, **changed}, current, metadata, received_at,
                                        rule=reason.startswith(RULE_PREFIX))
            if LEVELS.index(alone) < LEVELS.index(level):
                raised.append(reason)
                best = min(best, alone, key=LEVELS.index)
        if len(contributing) > 1:
            joint = self._watched_level(together, current, metadata, received_at,
                                        rule=any(r.startswith(RULE_PREFIX) for r in contributing))
            if LEVELS.index(joint) < LEVELS.index(best):
                best, raised = joint, contributing
        return SortLevel(best, tuple(raised))

    def _watched_level(self, watched: Mapping[str, str], current: Mapping[str, str],
                       metadata: Mapping[str, Any] | None, received_at: datetime, rule: bool) -> str:
        level = self.assess(**watched, metadata=metadata, received_at=received_at).level
        if rule and watched["urgency"] in self.urgent_labels and current["urgency"] not in self.urgent_labels:
            level = min(level, self.quadrant_levels[URGENT_IMPORTANT], key=LEVELS.index)
        return level
