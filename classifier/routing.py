"""Route feedback to the queue of the team that owns it (configs/routing.yaml).

Rules are tried in file order and the first whose ``when`` matches wins; when none does, the
``default`` queue is used. ``when`` may test ``category`` (primary), ``category_secondary``,
``level`` (P1–P4 from the priority matrix), ``sentiment``, ``urgency`` and request ``metadata``
(allowed values or comparisons, see :class:`classifier.rules.Condition`); every field present
must match. The config is validated when loaded: unknown keys, labels, levels or queues, duplicate
rule names and empty conditions are ``ConfigError``\\ s naming the rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from classifier.rules import Condition, check_keys, config_error, load_yaml
from classifier.labels import CATEGORY, SENTIMENT, URGENCY
from classifier.priority import LEVELS

# field name -> allowed values, for the ``when`` of a routing rule
ROUTING_FIELDS: dict[str, tuple[str, ...]] = {
    "category": CATEGORY,
    "category_secondary": CATEGORY,
    "level": LEVELS,
    "sentiment": SENTIMENT,
    "urgency": URGENCY,
}


@dataclass(frozen=True)
class Queue:
    name: str
    description: str = ""


@dataclass(frozen=True)
class RoutingRule:
    name: str
    condition: Condition
    queue: str


@dataclass(frozen=True)
class RouteDecision:
    queue: str
    rule: str | None  # the name of the rule that matched; None when the default queue was used

    def to_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "rule": self.rule}


class Router:
    TOP_KEYS = ("queues", "default", "rules", "channels")
    REQUIRED = ("queues", "default", "rules")

    def __init__(self, queues: list[Queue], default: str, rules: list[RoutingRule],
                 channels: Mapping[str, str] | None = None):
        self.queues = {q.name: q for q in queues}
        self.default = default
        self.rules = tuple(rules)
        # metadata.channel code -> the name people read (the review page shows it instead of the code)
        self.channels = dict(channels or {})

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Router":
        return cls.from_dict(load_yaml(path), source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> "Router":
        check_keys(data, cls.TOP_KEYS, source, "routing config", required=cls.REQUIRED)

        queues_data = data["queues"]
        if not isinstance(queues_data, list) or not queues_data:
            raise config_error(source, "queues", "must be a non-empty list of {name, description}")
        queues: list[Queue] = []
        for i, entry in enumerate(queues_data):
            where = f"queues[{i}]"
            if isinstance(entry, str):
                entry = {"name": entry}
            check_keys(entry, ("name", "description"), source, where, required=("name",))
            name, description = entry["name"], entry.get("description", "")
            if not isinstance(name, str) or not name.strip():
                raise config_error(source, where, f"queue name must be a non-empty string, got {name!r}")
            if any(q.name == name for q in queues):
                raise config_error(source, f"{where} {name!r}", "duplicate queue name")
            if not isinstance(description, str):
                raise config_error(source, f"{where} {name!r}.description", "must be a string")
            queues.append(Queue(name, description))
        names = [q.name for q in queues]

        default = data["default"]
        if default not in names:
            raise config_error(source, "default", f"unknown queue {default!r}; expected one of {', '.join(names)}")

        rules_data = data["rules"]
        if not isinstance(rules_data, list):
            raise config_error(source, "rules", "must be a list of {name, when, queue} rules")
        rules: list[RoutingRule] = []
        seen: set[str] = set()
        for i, rule in enumerate(rules_data):
            where = f"rules[{i}]"
            check_keys(rule, ("name", "when", "queue"), source, where, required=("name", "when", "queue"))
            name = rule["name"]
            if not isinstance(name, str) or not name.strip():
                raise config_error(source, where, f"name must be a non-empty string, got {name!r}")
            where = f"rules[{i}] {name!r}"
            if name in seen:
                raise config_error(source, where, "duplicate rule name")
            seen.add(name)
            if rule["queue"] not in names:
                raise config_error(
                    source, f"{where}.queue", f"unknown queue {rule['queue']!r}; expected one of {', '.join(names)}"
                )
            condition = Condition.compile(rule["when"], ROUTING_FIELDS, source, where)
            rules.append(RoutingRule(name, condition, rule["queue"]))

        channels = data.get("channels") or {}
        if not isinstance(channels, dict) or not all(
                isinstance(k, (str, int)) and isinstance(v, str) and v.strip() for k, v in channels.items()):
            raise config_error(source, "channels", "must map channel codes (metadata.channel) to display names")
        return cls(queues, default, rules, {str(k): v for k, v in channels.items()})

    def route(
        self,
        category: str,
        category_secondary: str | None = None,
        sentiment: str | None = None,
        urgency: str | None = None,
        level: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> RouteDecision:
        """The queue of the first matching rule, else the default queue.

        A field passed as ``None`` never satisfies a rule that tests it. Unknown labels raise
        ``ValueError`` (they would otherwise silently fall through to the default queue).
        """
        values = {
            "category": category,
            "category_secondary": category_secondary,
            "level": level,
            "sentiment": sentiment,
            "urgency": urgency,
        }
        for name, value in values.items():
            if (value is not None or name == "category") and value not in ROUTING_FIELDS[name]:
                raise ValueError(f"unknown {name} value {value!r}; expected one of {', '.join(ROUTING_FIELDS[name])}")
        for rule in self.rules:
            if rule.condition.matches(values, metadata):
                return RouteDecision(rule.queue, rule.name)
        return RouteDecision(self.default, None)
