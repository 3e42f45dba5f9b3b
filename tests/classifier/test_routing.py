"""Routing rules: first match wins, secondary category, metadata comparisons, validation."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from classifier.rules import load_yaml
from classifier.errors import ConfigError
from classifier.priority import PriorityMatrix
from classifier.routing import RouteDecision, Router

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.from_yaml(CONFIGS / "routing.yaml")


@pytest.fixture()
def raw() -> dict:
    return copy.deepcopy(load_yaml(CONFIGS / "routing.yaml"))


def small(rules, default="general") -> dict:
    return {
        "queues": [{"name": "general"}, {"name": "large", "description": "large amounts"}, "medium", "vip"],
        "default": default,
        "rules": rules,
    }


# --- the default config ---------------------------------------------------------------------------


def test_default_config_loads(router):
    assert router.default == "customer_service"
    assert set(router.queues) == {"duty_supervisor", "compliance", "billing", "private_banking", "customer_service"}
    assert [r.name for r in router.rules][0] == "p1_to_duty_supervisor"


@pytest.mark.parametrize(
    "kwargs, queue, rule",
    [
        # P1 beats the category rules below it
        (dict(category="fees", sentiment="negative", urgency="high", level="P1"), "duty_supervisor", "p1_to_duty_supervisor"),
        (dict(category="fees", sentiment="negative", urgency="low", level="P2"), "billing", "fees_to_billing"),
        (dict(category="contract_legal", sentiment="neutral", urgency="low", level="P4"), "compliance", "legal_to_compliance"),
        # regulator channel comes before fees
        (dict(category="fees", level="P2", metadata={"channel": 12378}), "compliance", "regulator_to_compliance"),
        (dict(category="fees", level="P2", metadata={"channel": "regulator"}), "compliance", "regulator_to_compliance"),
        # fees (earlier rule) wins over private banking (later rule)
        (dict(category="fees", level="P2", metadata={"customer_tier": "private_banking"}), "billing", "fees_to_billing"),
        (dict(category="product_service", level="P2", metadata={"customer_tier": "private_banking"}), "private_banking", "private_banking_clients"),
        (dict(category="product_service", sentiment="neutral", level="P4"), "customer_service", None),
        (dict(category="other"), "customer_service", None),
    ],
)
def test_default_rules(router, kwargs, queue, rule):
    assert router.route(**kwargs) == RouteDecision(queue, rule)


def test_secondary_category(router):
    d = router.route("product_service", "contract_legal", "negative", "low", "P3", None)
    assert d == RouteDecision("compliance", "legal_secondary_negative_to_compliance")
    # same secondary, not negative → no match
    assert router.route("product_service", "contract_legal", "positive", "low", "P4", None).rule is None
    # the secondary category does not satisfy a `category` rule
    assert router.route("product_service", "fees", "neutral", "low", "P4", None).queue == "customer_service"
    # no secondary given → rule testing it cannot match
    assert router.route("product_service", None, "negative", "low", "P3", None).rule is None


def test_routes_a_priority(router):
    matrix = PriorityMatrix.from_yaml(CONFIGS / "priority.yaml")
    from datetime import datetime, timezone

    p = matrix.assess("contract_legal", "negative", "high", None, datetime(2025, 6, 3, tzinfo=timezone.utc))
    d = router.route(p.category, None, p.sentiment, p.urgency, p.level, None)
    assert d.queue == "duty_supervisor"
    assert d.to_dict() == {"queue": "duty_supervisor", "rule": "p1_to_duty_supervisor"}


# --- first-match order and metadata ---------------------------------------------------------------


def test_first_match_order_follows_the_file():
    rules = [
        {"name": "big", "when": {"metadata": {"amount": {"gte": 100000}}}, "queue": "large"},
        {"name": "mid", "when": {"metadata": {"amount": {"gte": 10000, "lt": 100000}}}, "queue": "medium"},
        {"name": "neg", "when": {"sentiment": ["negative"]}, "queue": "vip"},
    ]
    r = Router.from_dict(small(rules))
    assert r.route("other", sentiment="negative", metadata={"amount": 150000}) == RouteDecision("large", "big")
    assert r.route("other", sentiment="negative", metadata={"amount": "100000"}) == RouteDecision("large", "big")
    assert r.route("other", sentiment="negative", metadata={"amount": 99999.5}) == RouteDecision("medium", "mid")
    assert r.route("other", sentiment="negative", metadata={"amount": 9999}) == RouteDecision("vip", "neg")
    # reversed order: the negative rule now shadows the amount rules
    r2 = Router.from_dict(small(list(reversed(rules))))
    assert r2.route("other", sentiment="negative", metadata={"amount": 150000}) == RouteDecision("vip", "neg")


@pytest.mark.parametrize(
    "test, metadata, matches",
    [
        ({"amount": {"gt": 100}}, {"amount": 100}, False),
        ({"amount": {"gt": 100}}, {"amount": 100.01}, True),
        ({"amount": {"lte": 100}}, {"amount": "100"}, True),
        ({"amount": {"lt": 100}}, {"amount": "abc"}, False),
        ({"amount": {"lt": 100}}, {"amount": True}, False),
        ({"amount": {"gte": 1}}, {}, False),
        ({"amount": {"gte": 1}}, {"amount": None}, False),
        ({"channel": {"ne": "app"}}, {"channel": "web"}, True),
        ({"channel": {"ne": "app"}}, {"channel": "app"}, False),
        ({"channel": {"ne": "app"}}, {}, False),  # a missing key never matches
        ({"channel": {"in": ["app", "web"]}}, {"channel": "web"}, True),
        ({"channel": {"not_in": ["app", "web"]}}, {"channel": "phone"}, True),
        ({"channel": {"not_in": ["app", "web"]}}, {"channel": "app"}, False),
        ({"channel": {"eq": 95588}}, {"channel": "95588"}, True),
        ({"channel": ["app", "web"]}, {"channel": "app"}, True),
        ({"channel": "app"}, {"channel": "web"}, False),
        ({"customer_tier": ["vip"], "amount": {"gte": 10}}, {"customer_tier": "vip", "amount": 5}, False),
        ({"customer_tier": ["vip"], "amount": {"gte": 10}}, {"customer_tier": "vip", "amount": 50}, True),
    ],
)
def test_metadata_comparisons(test, metadata, matches):
    r = Router.from_dict(small([{"name": "t", "when": {"metadata": test}, "queue": "vip"}]))
    d = r.route("other", metadata=metadata)
    assert d == (RouteDecision("vip", "t") if matches else RouteDecision("general", None))


def test_default_queue():
    r = Router.from_dict(small([{"name": "fees", "when": {"category": "fees"}, "queue": "medium"}], default="vip"))
    assert r.route("product_service") == RouteDecision("vip", None)
    assert r.route("fees") == RouteDecision("medium", "fees")


def test_unknown_label_at_route_time(router):
    with pytest.raises(ValueError, match="level"):
        router.route("fees", level="P9")
    with pytest.raises(ValueError, match="category"):
        router.route(None)


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["rules"][4].update(queue="billling"), r"rules\[4\] 'fees_to_billing'\.queue.*'billling'"),
        (lambda d: d["rules"][2]["when"].update(category=["legal"]), r"rules\[2\] 'legal_to_compliance'.*'legal'"),
        (lambda d: d["rules"][3]["when"].update(category_secondary=["law"]), r"'legal_secondary_negative_to_compliance'.*category_secondary.*'law'"),
        (lambda d: d["rules"][0]["when"].update(level=["P5"]), r"'p1_to_duty_supervisor'.*level.*'P5'"),
        (lambda d: d["rules"][0]["when"].update(urgency=["critical"]), r"'p1_to_duty_supervisor'.*urgency.*'critical'"),
        (lambda d: d["rules"][4]["when"].update(priority=["P1"]), r"'fees_to_billing'.*unknown key.*'priority'"),
        (lambda d: d["rules"][1]["when"]["metadata"].update(amount={"between": [1, 2]}), r"'regulator_to_compliance'.*unknown comparison 'between'"),
        (lambda d: d["rules"][1]["when"]["metadata"].update(amount={"gte": "5w"}), r"'regulator_to_compliance'.*amount\.gte"),
        (lambda d: d["rules"][1]["when"]["metadata"].update(tags=[["a"]]), r"'regulator_to_compliance'.*metadata\.tags"),
        (lambda d: d["rules"].append({"name": "fees_to_billing", "when": {"category": ["fees"]}, "queue": "billing"}), r"rules\[6\] 'fees_to_billing'.*duplicate"),
        (lambda d: d["rules"].append({"name": "all", "when": {}, "queue": "billing"}), r"rules\[6\] 'all'.*no conditions"),
        (lambda d: d["rules"].append({"name": "nowhen", "queue": "billing"}), r"rules\[6\].*missing.*when"),
        (lambda d: d["rules"].append({"name": "x", "when": {"level": ["P1"]}, "queue": "billing", "stop": True}), r"rules\[6\].*unknown key.*'stop'"),
        (lambda d: d["rules"].append({"name": "", "when": {"level": ["P1"]}, "queue": "billing"}), r"rules\[6\].*name"),
        (lambda d: d.update(default="nobody"), r"default.*'nobody'"),
        (lambda d: d["queues"].append({"name": "billing"}), r"queues\[5\] 'billing'.*duplicate"),
        (lambda d: d["queues"].append({"name": "x", "owner": "y"}), r"queues\[5\].*unknown key.*'owner'"),
        (lambda d: d.pop("default"), r"missing.*default"),
    ],
)
def test_config_errors_name_the_rule(raw, mutate, expected):
    mutate(raw)
    with pytest.raises(ConfigError, match=expected) as info:
        Router.from_dict(raw, source="routing.yaml")
    assert info.value.code == "E300"
    assert "routing.yaml" in str(info.value)


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text(
        "queues: [a, b]\ndefault: a\nrules:\n  - {name: r1, when: {category: [fees]}, queue: c}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"routing\.yaml: rules\[0\] 'r1'\.queue: unknown queue 'c'"):
        Router.from_yaml(path)


def test_channel_names_are_optional_and_checked(router, raw):
    assert router.channels["app"] == "手机银行 App" and router.channels["12378"].startswith("12378")
    del raw["channels"]
    assert Router.from_dict(raw).channels == {}
    for bad in (["app"], {"app": ""}, {"app": 3}):
        with pytest.raises(ConfigError, match="channels"):
            Router.from_dict({**raw, "channels": bad})
