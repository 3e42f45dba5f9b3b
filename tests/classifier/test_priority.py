"""Priority matrix: quadrants, working-day deadlines on the Chinese calendar, config validation."""
from __future__ import annotations

import copy
import logging
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from classifier import calendar as calendar_mod
from classifier.rules import load_yaml, parse_duration
from classifier.errors import ConfigError
from classifier.labels import CATEGORY
from classifier.priority import LEVELS
from classifier.priority import (
    QUADRANTS,
    MatrixCounts,
    Priority,
    PriorityMatrix,
    add_working_days,
    aggregate,
    is_working_day,
)

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "priority.yaml"
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def matrix() -> PriorityMatrix:
    return PriorityMatrix.from_yaml(CONFIG)


@pytest.fixture()
def raw() -> dict:
    return copy.deepcopy(load_yaml(CONFIG))


def at(y, m, d, hh=10, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


# --- quadrants ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "category, sentiment, urgency, metadata, quadrant, level",
    [
        ("contract_legal", "negative", "high", None, "urgent_important", "P1"),
        ("fees", "negative", "low", None, "important_not_urgent", "P2"),
        ("product_service", "negative", "high", None, "urgent_not_important", "P3"),
        ("product_service", "neutral", "low", None, "not_urgent_not_important", "P4"),
        # metadata makes otherwise ordinary feedback important
        ("product_service", "positive", "high", {"customer_tier": "vip"}, "urgent_important", "P1"),
        ("product_service", "neutral", "medium", {"amount": 50000}, "important_not_urgent", "P2"),
        ("product_service", "neutral", "low", {"amount": "80,000.50"}, "important_not_urgent", "P2"),
        ("product_service", "neutral", "low", {"amount": 49999.99}, "not_urgent_not_important", "P4"),
        ("product_service", "neutral", "low", {"amount": "n/a"}, "not_urgent_not_important", "P4"),
        ("product_service", "neutral", "low", {"channel": 12378}, "important_not_urgent", "P2"),
        ("product_service", "neutral", "low", {"customer_tier": "retail"}, "not_urgent_not_important", "P4"),
        # ... but not noise (metadata_rules_skip_categories: [other]): it keeps its own level
        ("other", "neutral", "low", {"customer_tier": "vip"}, "not_urgent_not_important", "P4"),
        ("other", "neutral", "low", {"customer_tier": "private_banking", "amount": 80000, "channel": "regulator"},
         "not_urgent_not_important", "P4"),
        ("other", "positive", "high", {"customer_tier": "vip"}, "urgent_not_important", "P3"),
        # category alone is not enough in the default rules: sentiment must be negative too
        ("contract_legal", "positive", "low", None, "not_urgent_not_important", "P4"),
        ("fees", "neutral", "high", None, "urgent_not_important", "P3"),
    ],
)
def test_quadrants(matrix, category, sentiment, urgency, metadata, quadrant, level):
    p = matrix.assess(category, sentiment, urgency, metadata, at(2025, 6, 3))
    assert (p.quadrant, p.level) == (quadrant, level)
    assert p.urgent == (urgency == "high")
    assert p.important == quadrant.startswith(("urgent_important", "important"))


def test_reasons_name_fired_rules(matrix):
    p = matrix.assess("contract_legal", "negative", "high", {"amount": 60000}, at(2025, 6, 3))
    assert p.matched_rules == ("legal_negative", "large_amount")
    assert any("legal_negative" in r for r in p.reasons)
    assert any("large_amount" in r and "gte 50000" in r for r in p.reasons)
    assert any(r.startswith("urgent:") for r in p.reasons)
    q = matrix.assess("other", "neutral", "low", None, at(2025, 6, 3))
    assert q.matched_rules == ()
    assert "not important: no importance rule matched" in q.reasons


def test_medium_urgency_is_configurable(raw):
    default = PriorityMatrix.from_dict(raw)
    assert not default.assess("other", "neutral", "medium", None, at(2025, 6, 3)).urgent
    raw["urgent_labels"] = ["high", "medium"]
    strict = PriorityMatrix.from_dict(raw)
    p = strict.assess("other", "neutral", "medium", None, at(2025, 6, 3))
    assert p.urgent and p.quadrant == "urgent_not_important" and p.level == "P3"


def test_unknown_input_label_is_an_error(matrix):
    with pytest.raises(ValueError, match="category"):
        matrix.assess("fee", "negative", "high", None, at(2025, 6, 3))


# --- deadlines ------------------------------------------------------------------------------------


def test_calendar_data_assumptions():
    """The cases below rely on these facts of chinese_calendar's data; fail loudly if it changes."""
    # National Day + Mid-autumn 2025: 10-01..10-08 off, Sunday 09-28 and Saturday 10-11 worked.
    assert all(chinese_calendar.is_holiday(date(2025, 10, d)) for d in range(1, 9))
    assert chinese_calendar.is_workday(date(2025, 9, 28))  # Sunday, make-up
    assert chinese_calendar.is_workday(date(2025, 10, 11))  # Saturday, make-up
    # Spring Festival 2025: 01-28..02-04 off, Sunday 01-26 and Saturday 02-08 worked.
    assert all(chinese_calendar.is_holiday(date(2025, 1, d)) for d in range(28, 32))
    assert all(chinese_calendar.is_holiday(date(2025, 2, d)) for d in range(1, 5))
    assert chinese_calendar.is_workday(date(2025, 1, 26))
    assert chinese_calendar.is_workday(date(2025, 2, 8))


def test_national_day_counts_make_up_saturday(matrix):
    # Received the day before National Day; P4 = 5 working days: 10-09, 10-10, 10-11 (Sat, 调休),
    # 10-13, 10-14. Without the make-up Saturday it would be 10-15; ignoring holidays, 10-07.
    p = matrix.assess("other", "neutral", "low", None, at(2025, 9, 30, 10))
    assert p.level == "P4"
    assert p.resolve_by == datetime(2025, 10, 14, 23, 59, 59, tzinfo=SH)
    assert p.respond_by == datetime(2025, 10, 1, 10, 0, tzinfo=SH)  # 24h wall clock, holiday or not
    assert p.to_dict()["resolve_by"] == "2025-10-14T23:59:59+08:00"
    assert not p.calendar_uncovered


def test_national_day_p1_ten_working_days(matrix):
    p = matrix.assess("contract_legal", "negative", "high", None, at(2025, 9, 30, 10))
    assert p.level == "P1"
    assert p.respond_by == at(2025, 9, 30, 10, 30)
    # 10-09, 10, 11(Sat), 13, 14, 15, 16, 17, 20, 21
    assert p.resolve_by == datetime(2025, 10, 21, 23, 59, 59, tzinfo=SH)


def test_received_on_a_holiday(matrix):
    p = matrix.assess("other", "neutral", "low", None, at(2025, 10, 3, 15))
    assert p.resolve_by.date() == date(2025, 10, 14)


def test_spring_festival(matrix):
    # Received Monday 01-27, last day before the break: 02-05, 06, 07, 08 (Sat, 调休), 10.
    p = matrix.assess("product_service", "neutral", "low", None, at(2025, 1, 27, 16))
    assert p.resolve_by == datetime(2025, 2, 10, 23, 59, 59, tzinfo=SH)
    # P2 = 10 working days: ... 02-11, 12, 13, 14, 17
    p2 = matrix.assess("fees", "negative", "low", None, at(2025, 1, 27, 16))
    assert p2.level == "P2"
    assert p2.resolve_by.date() == date(2025, 2, 17)


def test_make_up_sunday_counted(matrix):
    # Received Friday 01-24: Sunday 01-26 is a make-up working day → 01-26, 01-27, 02-05, 02-06, 02-07.
    p = matrix.assess("other", "neutral", "low", None, at(2025, 1, 24, 9))
    assert p.resolve_by.date() == date(2025, 2, 7)
    day, fallback = add_working_days(date(2025, 1, 24), 1)
    assert day == date(2025, 1, 26) and fallback == ()


def test_same_time_mode(raw):
    raw["resolve_deadline"] = "same_time"
    m = PriorityMatrix.from_dict(raw)
    p = m.assess("other", "neutral", "low", None, at(2025, 9, 30, 14, 25))
    assert p.resolve_by == at(2025, 10, 14, 14, 25)


def test_utc_input_converted_to_shanghai(matrix):
    # 2025-10-10 16:30 UTC is 2025-10-11 00:30 in Shanghai (a make-up Saturday): counting starts
    # after 10-11 → 10-13, 14, 15, 16, 17. Counting from the UTC date would give 10-16.
    received = datetime(2025, 10, 10, 16, 30, tzinfo=timezone.utc)
    p = matrix.assess("other", "neutral", "low", None, received)
    assert p.received_at.utcoffset() == timedelta(hours=8)
    assert p.received_at == received
    assert p.received_at.isoformat() == "2025-10-11T00:30:00+08:00"
    assert p.respond_by.isoformat() == "2025-10-12T00:30:00+08:00"
    assert p.resolve_by.isoformat() == "2025-10-17T23:59:59+08:00"


def test_naive_datetime_rejected(matrix):
    with pytest.raises(ValueError, match="timezone-aware"):
        matrix.assess("other", "neutral", "low", None, datetime(2025, 6, 3, 10))


def test_fallback_outside_calendar_range(matrix, monkeypatch, caplog):
    monkeypatch.setattr(calendar_mod, "_warned_years", set())
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2099, 1, 1))  # precondition: no data for 2099
    caplog.set_level(logging.WARNING, logger="classifier.calendar")
    # Thursday 2099-01-01 (New Year, but no data): Mon-Fri rule → 01-02, 05, 06, 07, 08.
    p = matrix.assess("other", "neutral", "low", None, at(2099, 1, 1, 10))
    assert p.resolve_by.date() == date(2099, 1, 8)
    assert p.calendar_uncovered
    assert any("calendar uncovered" in r and "2099" in r for r in p.reasons)
    assert "2099" in caplog.text
    assert is_working_day(date(2099, 1, 3)) == (False, True)  # Saturday


def test_fallback_only_for_uncovered_year(matrix):
    last_year = max(chinese_calendar.constants.holidays).year
    inside = matrix.assess("other", "neutral", "low", None, at(last_year, 6, 1))
    assert not inside.calendar_uncovered
    # 12-30 of the last covered year: some days counted with data, the rest with Mon-Fri.
    edge = matrix.assess("other", "neutral", "low", None, at(last_year, 12, 30))
    assert edge.calendar_uncovered
    assert any(str(last_year + 1) in r for r in edge.reasons)
    assert edge.resolve_by.year == last_year + 1


# --- aggregation ----------------------------------------------------------------------------------


def test_aggregate_counts(matrix):
    t = at(2025, 6, 3)
    ps = [
        matrix.assess("contract_legal", "negative", "high", None, t),  # urgent_important
        matrix.assess("contract_legal", "negative", "low", None, t),  # important_not_urgent
        matrix.assess("fees", "negative", "low", None, t),  # important_not_urgent
        matrix.assess("fees", "neutral", "high", None, t),  # urgent_not_important
        matrix.assess("other", "neutral", "low", None, t),  # not_urgent_not_important
    ]
    counts = aggregate([ps[0], ps[1].to_dict(), {"category": "fees", "priority": ps[2]}, ps[3], ps[4]])
    assert isinstance(counts, MatrixCounts)
    d = counts.to_dict()
    assert d["total"] == 5
    assert d["cells"] == {
        "urgent_important": 1,
        "important_not_urgent": 2,
        "urgent_not_important": 1,
        "not_urgent_not_important": 1,
    }
    assert d["by_category"]["contract_legal"] == {
        "urgent_important": 1, "important_not_urgent": 1, "urgent_not_important": 0, "not_urgent_not_important": 0,
    }
    assert d["by_category"]["fees"]["important_not_urgent"] == 1
    assert d["by_category"]["fees"]["urgent_not_important"] == 1
    assert sum(d["by_category"]["product_service"].values()) == 0
    assert set(d["by_category"]) == set(CATEGORY)
    assert sum(sum(v.values()) for v in d["by_category"].values()) == d["total"]


def test_aggregate_empty_and_bad_items():
    d = aggregate([]).to_dict()
    assert d["total"] == 0 and set(d["cells"]) == set(QUADRANTS)
    with pytest.raises(TypeError):
        aggregate([{"text": "no priority here"}])
    with pytest.raises(ValueError, match="quadrant"):
        aggregate([{"category": "fees", "quadrant": "urgentish"}])


# --- config validation ----------------------------------------------------------------------------


def test_default_config_summary(matrix):
    assert matrix.urgent_labels == ("high",)
    assert matrix.quadrant_levels == {
        "urgent_important": "P1", "important_not_urgent": "P2",
        "urgent_not_important": "P3", "not_urgent_not_important": "P4",
    }
    assert matrix.levels["P1"].respond_within == timedelta(minutes=30)
    assert all(lv.respond_within <= timedelta(hours=24) for lv in matrix.levels.values())
    assert [matrix.levels[x].resolve_working_days for x in ("P1", "P2", "P3", "P4")] == [10, 10, 5, 5]
    assert str(matrix.tz) == "Asia/Shanghai"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["importance_rules"][1]["when"].update(category=["fee"]), r"importance_rules\[1\] 'fees_negative'.*'fee'"),
        (lambda d: d["importance_rules"][0]["when"].update(sentiment="angry"), r"'legal_negative'.*sentiment.*'angry'"),
        (lambda d: d["importance_rules"][0]["when"].update(urgency=["high"]), r"'legal_negative'.*unknown key.*'urgency'"),
        (lambda d: d["importance_rules"][3]["when"]["metadata"]["amount"].update(gte="lots"), r"'large_amount'.*amount\.gte"),
        (lambda d: d["importance_rules"][3]["when"]["metadata"]["amount"].update(about=5), r"'large_amount'.*unknown comparison 'about'"),
        (lambda d: d["importance_rules"].append({"name": "legal_negative", "when": {"category": ["fees"]}}), r"'legal_negative'.*duplicate"),
        (lambda d: d["importance_rules"].append({"name": "everything", "when": {}}), r"'everything'.*no conditions"),
        (lambda d: d["importance_rules"].append({"name": "nothing", "when": {"category": []}}), r"'nothing'.*empty"),
        (lambda d: d.update(urgent_labels=["high", "urgent"]), r"urgent_labels.*'urgent'"),
        (lambda d: d["quadrant_levels"].update(neither="P4"), r"quadrant_levels.*'neither'"),
        (lambda d: d["quadrant_levels"].pop("urgent_important"), r"quadrant_levels.*missing.*urgent_important"),
        (lambda d: d["quadrant_levels"].update(urgent_important="P0"), r"quadrant_levels\.urgent_important.*'P0'"),
        (lambda d: d["levels"].update(P5={"respond_within": "1h", "resolve_working_days": 3}), r"levels.*'P5'"),
        (lambda d: d["levels"].pop("P3"), r"quadrant_levels\.urgent_not_important.*P3"),
        (lambda d: d["levels"]["P1"].update(respond_within="30 minutes"), r"levels\.P1\.respond_within"),
        (lambda d: d["levels"]["P2"].update(respond_within=24), r"levels\.P2\.respond_within"),
        (lambda d: d["levels"]["P2"].update(respond_within="0h"), r"levels\.P2\.respond_within.*positive"),
        (lambda d: d["levels"]["P4"].update(resolve_working_days=0), r"levels\.P4\.resolve_working_days"),
        (lambda d: d.update(timezone="Asia/Beijing"), r"timezone.*Asia/Beijing"),
        (lambda d: d.update(resolve_deadline="noon"), r"resolve_deadline"),
        (lambda d: d.update(extra=1), r"unknown key.*'extra'"),
        (lambda d: d["watch"]["rules"].update(x={"urgency": "urgentest"}), r"watch\.rules\.x\.urgency.*urgentest"),
        (lambda d: d["watch"]["rules"].update(x={"level": "P1"}), r"watch\.rules\.x.*unknown key.*'level'"),
        (lambda d: d["watch"]["rules"].update(x={}), r"watch\.rules\.x: names no label"),
        (lambda d: d["watch"].update(rule_default={"category": "legal"}), r"watch\.rule_default\.category"),
        (lambda d: d["watch"].update(rules=["money_gone"]), r"watch\.rules: must map"),
        (lambda d: d.update(metadata_rules_skip_categories=["noise"]), r"metadata_rules_skip_categories.*'noise'"),
    ],
)
def test_config_errors_name_the_key(raw, mutate, expected):
    mutate(raw)
    with pytest.raises(ConfigError, match=expected) as info:
        PriorityMatrix.from_dict(raw, source="priority.yaml")
    assert info.value.code == "E300"
    assert str(info.value).startswith("[E300] priority.yaml: ")


def test_yaml_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        PriorityMatrix.from_yaml(tmp_path / "missing.yaml")
    dup = tmp_path / "dup.yaml"
    dup.write_text(CONFIG.read_text(encoding="utf-8") + "\nurgent_labels: [low]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key 'urgent_labels'"):
        PriorityMatrix.from_yaml(dup)
    bad = tmp_path / "bad.yaml"
    bad.write_text("levels: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML"):
        PriorityMatrix.from_yaml(bad)


@pytest.mark.parametrize(
    "text, minutes", [("30m", 30), ("2h", 120), ("24h", 1440), ("1d", 1440), ("1h30m", 90), (" 45M ", 45)]
)
def test_parse_duration(text, minutes):
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("bad", ["", "30", "h", "2 hours", "-1h", 30, None, True])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_priority_is_serialisable(matrix):
    import json

    p = matrix.assess("fees", "negative", "high", {"channel": "media"}, at(2025, 6, 3))
    assert isinstance(p, Priority)
    d = json.loads(json.dumps(p.to_dict()))
    assert d["level"] == "P1" and d["respond_by"] == "2025-06-03T10:30:00+08:00"
    assert d["matched_rules"] == ["fees_negative", "regulator_or_media"]


def test_configured_dates_cover_a_year_the_package_does_not_know(raw, monkeypatch, caplog):
    monkeypatch.setattr(calendar_mod, "_warned_years", set())
    caplog.set_level(logging.WARNING, logger="classifier.calendar")
    # A made-up schedule for 2099: Thursday 01-01 and Friday 01-02 off, Sunday 01-04 worked instead.
    raw["calendar"] = {"holidays": [date(2099, 1, 1), "2099-01-02"], "working_days": ["2099-01-04"]}
    m = PriorityMatrix.from_dict(raw)
    p = m.assess("other", "neutral", "low", None, at(2099, 1, 1, 10))
    # From 01-02: 01-04 (Sun, worked), 05, 06, 07, 08.
    assert p.resolve_by.date() == date(2099, 1, 8)
    assert not p.calendar_uncovered and not any("uncovered" in r for r in p.reasons)
    assert m.calendar.is_working_day(date(2099, 1, 2)) == (False, False)
    assert m.calendar.is_working_day(date(2099, 1, 10)) == (False, False)  # a plain Sunday of a covered year
    assert "2099" not in caplog.text


def test_configured_dates_override_the_package(raw):
    # 2025-10-01 is National Day in the package; a desk that worked it (an odd local rule) can say so.
    raw["calendar"] = {"holidays": ["2025-09-30"], "working_days": ["2025-10-01"]}
    m = PriorityMatrix.from_dict(raw)
    assert m.calendar.is_working_day(date(2025, 9, 30)) == (False, False)
    assert m.calendar.is_working_day(date(2025, 10, 1)) == (True, False)
    assert m.calendar.is_working_day(date(2025, 10, 2)) == (False, False)  # the package, unchanged
    assert PriorityMatrix.from_dict({k: v for k, v in raw.items() if k != "calendar"}).calendar.is_working_day(
        date(2025, 10, 1)) == (False, False)


@pytest.mark.parametrize("calendar,expected", [
    ({"holidays": ["2027-13-01"]}, r"calendar.holidays\[0\].*not a date"),
    ({"holidays": "2027-01-01"}, r"calendar.holidays.*must be a list"),
    ({"holidays": ["2027-01-01"], "working_days": ["2027-01-01"]}, r"2027-01-01 listed as holiday and working day"),
    ({"holiday": []}, r"holiday"),
])
def test_calendar_config_errors(raw, calendar, expected):
    raw["calendar"] = calendar
    with pytest.raises(ConfigError, match=expected):
        PriorityMatrix.from_dict(raw)


# --- the review queue's risk order -----------------------------------------------------------------

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("labels, reasons, metadata, level, raised", [
    # the model said low urgency, the policy watches for high: the level urgency high would give
    (("fees", "negative", "low"), ["possible_high_urgency"], None, "P1", ["possible_high_urgency"]),
    (("product_service", "neutral", "low"), ["possible_high_urgency"], None, "P3", ["possible_high_urgency"]),
    (("product_service", "neutral", "low"), ["possible_high_urgency"], {"amount": 80000}, "P1", ["possible_high_urgency"]),
    # contract_legal is important only when negative (legal_negative): a neutral one is not raised
    (("product_service", "negative", "low"), ["possible_contract_legal"], None, "P2", ["possible_contract_legal"]),
    (("product_service", "neutral", "low"), ["possible_contract_legal"], None, "P4", []),
    # each raises it (contract_legal alone to P2, urgency high to P1): both are named
    (("product_service", "negative", "low"), ["possible_contract_legal", "possible_high_urgency"], None, "P1",
     ["possible_contract_legal", "possible_high_urgency"]),
    # a listed rule implies its labels, an unlisted one the default (urgency high); a rule that makes an
    # item urgent sorts it with the urgent and important ones
    (("product_service", "neutral", "low"), ["rule:lost_device"], None, "P1", ["rule:lost_device"]),
    (("product_service", "negative", "low"), ["rule:money_gone"], None, "P1", ["rule:money_gone"]),
    (("product_service", "negative", "low"), ["rule:a_rule_added_tomorrow"], None, "P1", ["rule:a_rule_added_tomorrow"]),
    # confidence reasons say nothing about which label may hold; a watched label already predicted changes nothing
    (("product_service", "negative", "low"), ["category_uncertain", "urgency_uncertain"], None, "P4", []),
    (("contract_legal", "negative", "high"), ["possible_contract_legal", "rule:money_gone"], None, "P1", []),
])
def test_sort_level_is_the_level_the_watched_label_would_give(matrix, labels, reasons, metadata, level, raised):
    current = dict(zip(("category", "sentiment", "urgency"), labels))
    sort = matrix.sort_level(current, reasons, metadata, NOW)
    assert (sort.level, list(sort.raised_by)) == (level, raised)
    own = matrix.assess(*labels, metadata, NOW).level
    assert LEVELS.index(sort.level) <= LEVELS.index(own)  # never below its own level


def test_the_watch_table_comes_from_the_config(raw):
    raw["watch"] = {"rules": {"lost_phone": {"urgency": "high"}}, "rule_default": {"urgency": "medium"}}
    m = PriorityMatrix.from_dict(raw)
    current = {"category": "fees", "sentiment": "negative", "urgency": "low"}
    assert m.sort_level(current, ["rule:lost_phone"], None, NOW).level == "P1"
    assert m.sort_level(current, ["rule:unlisted"], None, NOW).level == "P2"  # medium is not urgent: stays
    del raw["watch"]
    assert PriorityMatrix.from_dict(raw).watch.implied("rule:anything") == {"urgency": "high"}  # the safe default
    # a known guideline rule implies what the guideline assigns it (classifier/signals.py)
    assert PriorityMatrix.from_dict(raw).watch.implied("rule:money_gone") == {"urgency": "high", "category": "contract_legal"}
    assert PriorityMatrix.from_dict(raw).watch.implied("rule:lost_device") == {"urgency": "high"}


def test_noise_is_not_lifted_by_metadata_alone_unless_the_config_says_so(raw):
    vip = {"customer_tier": "vip", "amount": 80000}
    strict = PriorityMatrix.from_dict(raw)
    p = strict.assess("other", "neutral", "low", vip, NOW)
    assert p.level == "P4" and p.matched_rules == ()
    assert any("metadata_rules_skip_categories" in r and "high_value_customer" in r for r in p.reasons)
    assert strict.assess("product_service", "negative", "low", vip, NOW).level == "P2"  # real feedback still is
    # a rule that names the category itself still applies to it
    raw["importance_rules"].append({"name": "other_from_regulator", "when": {"category": ["other"],
                                                                             "metadata": {"channel": ["regulator"]}}})
    assert PriorityMatrix.from_dict(raw).assess("other", "neutral", "low", {"channel": "regulator"}, NOW).level == "P2"
    del raw["metadata_rules_skip_categories"]
    assert PriorityMatrix.from_dict(raw).assess("other", "neutral", "low", vip, NOW).level == "P2"
