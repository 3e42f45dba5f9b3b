"""The rule language of the YAML rule configs (configs/priority.yaml, configs/routing.yaml).

* :func:`load_yaml` reads a file with ``yaml.safe_load`` but rejects duplicate keys (PyYAML
  silently keeps the last one, which hides mistakes in hand-edited rule files).
* :func:`parse_duration` turns ``"30m"``, ``"2h"``, ``"1h30m"``, ``"1d"`` into a ``timedelta``.
* :class:`Condition` is the compiled form of a rule's ``when:`` mapping, shared by the
  importance rules of the priority matrix and the routing rules: every field present must match
  (AND); a field's list of values is any-of; ``metadata`` maps request-metadata keys to allowed
  values or numeric comparisons.

Every problem is a :class:`~classifier.errors.ConfigError` whose message names the file and the
offending key or rule, e.g. ``configs/routing.yaml: rules[2] 'fees': unknown category label 'fee'``.
Where the shipped rule files are is :mod:`classifier.resources`' business, not this module's.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

from classifier.errors import ConfigError

# --- YAML loading -------------------------------------------------------------------------------


def _unique_key_loader():
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: let the base constructor report it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return UniqueKeyLoader


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; ``ConfigError`` if missing, unparsable or not a mapping."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}", details={"file": str(path)}) from None
    try:
        data = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}", details={"file": str(path)}) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}", details={"file": str(path)})
    return data


# --- error helpers --------------------------------------------------------------------------------


def config_error(source: str | None, where: str, message: str) -> ConfigError:
    """A ``ConfigError`` whose message reads ``"<source>: <where>: <message>"``."""
    prefix = f"{source}: " if source else ""
    return ConfigError(f"{prefix}{where}: {message}", details={"file": source, "key": where})


def check_keys(mapping: Any, allowed: Iterable[str], source: str | None, where: str, required: Iterable[str] = ()) -> dict:
    """Assert ``mapping`` is a dict holding only ``allowed`` keys and all ``required`` ones."""
    if not isinstance(mapping, dict):
        raise config_error(source, where, f"must be a mapping, got {type(mapping).__name__}")
    allowed = list(allowed)
    unknown = [k for k in mapping if k not in allowed]
    if unknown:
        raise config_error(source, where, f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(allowed)}")
    missing = [k for k in required if k not in mapping]
    if missing:
        raise config_error(source, where, f"missing required key(s) {', '.join(missing)}")
    return mapping


# --- durations ------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+)\s*([dhms])")
_DURATION_FULL = re.compile(r"^\s*(?:\d+\s*[dhms]\s*)+$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> timedelta:
    """``"30m"`` / ``"2h"`` / ``"24h"`` / ``"1d"`` / ``"1h30m"`` → ``timedelta`` (wall clock).

    Bare numbers are rejected (the unit would be a guess); the result must be positive.
    Raises ``ValueError`` with a short reason.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"duration must be a string such as '30m', '2h' or '1d', got {value!r}")
    text = value.strip().lower()
    if not _DURATION_FULL.match(text):
        raise ValueError(f"bad duration {value!r}; use digits with units d/h/m/s, e.g. '30m', '2h', '1h30m'")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return timedelta(seconds=seconds)


# --- conditions -----------------------------------------------------------------------------------

_NUMERIC_OPS = ("gt", "gte", "lt", "lte")
_COMPARISON_OPS = _NUMERIC_OPS + ("eq", "ne", "in", "not_in")


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float (JSON allows any number of digits)
        return False


def _as_number(value: Any) -> float | None:
    """Request metadata often arrives as strings ("50000"): accept those, refuse bools/NaN."""
    if isinstance(value, bool):
        return None
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _value_key(value: Any) -> str:
    """Canonical form for equality: 12378 == "12378", 1 == 1.0, True == "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


@dataclass(frozen=True)
class MetadataTest:
    """One ``metadata`` key's test: a set of allowed values and/or comparisons (all must hold)."""

    key: str
    allowed: frozenset[str] | None = None
    comparisons: tuple[tuple[str, Any], ...] = ()

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        if self.key not in metadata or metadata[self.key] is None:
            return False  # a missing key never matches (not even ne / not_in)
        value = metadata[self.key]
        if self.allowed is not None and _value_key(value) not in self.allowed:
            return False
        for op, operand in self.comparisons:
            if op in _NUMERIC_OPS:
                number = _as_number(value)
                if number is None:
                    return False
                if op == "gt" and not number > operand:
                    return False
                if op == "gte" and not number >= operand:
                    return False
                if op == "lt" and not number < operand:
                    return False
                if op == "lte" and not number <= operand:
                    return False
            elif op == "eq" and _value_key(value) != operand:
                return False
            elif op == "ne" and _value_key(value) == operand:
                return False
            elif op == "in" and _value_key(value) not in operand:
                return False
            elif op == "not_in" and _value_key(value) in operand:
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.allowed is not None:
            parts.append(f"in [{', '.join(sorted(self.allowed))}]")
        for op, operand in self.comparisons:
            if isinstance(operand, frozenset):
                shown = f"[{', '.join(sorted(operand))}]"
            elif isinstance(operand, float):
                shown = f"{operand:g}" if not operand.is_integer() else str(int(operand))
            else:
                shown = operand
            parts.append(f"{op} {shown}")
        return f"metadata.{self.key} " + " and ".join(parts)


def _compile_metadata_test(key: Any, spec: Any, source: str | None, where: str) -> MetadataTest:
    if not isinstance(key, str) or not key:
        raise config_error(source, where, f"metadata key must be a non-empty string, got {key!r}")
    here = f"{where}.metadata.{key}"
    if isinstance(spec, dict):
        if not spec:
            raise config_error(source, here, "empty comparison mapping")
        comparisons = []
        for op, operand in spec.items():
            if op not in _COMPARISON_OPS:
                raise config_error(source, here, f"unknown comparison {op!r}; expected one of {', '.join(_COMPARISON_OPS)}")
            if op in _NUMERIC_OPS:
                if not _is_number(operand):
                    raise config_error(source, f"{here}.{op}", f"needs a number, got {operand!r}")
                comparisons.append((op, float(operand)))
            elif op in ("eq", "ne"):
                if not _is_scalar(operand) or operand is None:
                    raise config_error(source, f"{here}.{op}", f"needs a single value, got {operand!r}")
                comparisons.append((op, _value_key(operand)))
            else:
                if not isinstance(operand, list) or not operand or not all(_is_scalar(v) and v is not None for v in operand):
                    raise config_error(source, f"{here}.{op}", f"needs a non-empty list of values, got {operand!r}")
                comparisons.append((op, frozenset(_value_key(v) for v in operand)))
        return MetadataTest(key=key, comparisons=tuple(comparisons))
    values = spec if isinstance(spec, list) else [spec]
    if not values:
        raise config_error(source, here, "empty list of values (would never match)")
    for v in values:
        if v is None or not _is_scalar(v):
            raise config_error(source, here, f"values must be strings or numbers, got {v!r}")
    return MetadataTest(key=key, allowed=frozenset(_value_key(v) for v in values))


@dataclass(frozen=True)
class Condition:
    """A compiled ``when:`` mapping: label fields (any-of per field) AND metadata tests."""

    fields: tuple[tuple[str, frozenset[str]], ...] = ()
    metadata: tuple[MetadataTest, ...] = ()

    @classmethod
    def compile(
        cls,
        when: Any,
        vocab: Mapping[str, Iterable[str]],
        source: str | None,
        where: str,
        allow_metadata: bool = True,
    ) -> "Condition":
        """Validate and compile ``when`` against ``vocab`` (field name → allowed label values).

        Unknown fields, unknown label values, empty lists and malformed metadata tests are
        ``ConfigError``\\ s naming ``where`` (e.g. ``rules[2] 'fees'``).
        """
        allowed_keys = list(vocab) + (["metadata"] if allow_metadata else [])
        check_keys(when, allowed_keys, source, f"{where}.when")
        if not when:
            raise config_error(source, f"{where}.when", "has no conditions (it would match everything)")
        fields = []
        tests: list[MetadataTest] = []
        for name, spec in when.items():
            if name == "metadata":
                if not isinstance(spec, dict):
                    raise config_error(source, f"{where}.when.metadata", f"must be a mapping, got {type(spec).__name__}")
                if not spec:
                    raise config_error(source, f"{where}.when.metadata", "is empty")
                tests.extend(_compile_metadata_test(k, v, source, f"{where}.when") for k, v in spec.items())
                continue
            values = spec if isinstance(spec, list) else [spec]
            if not values:
                raise config_error(source, f"{where}.when.{name}", "empty list of values (would never match)")
            known = tuple(vocab[name])
            for v in values:
                if not isinstance(v, str) or v not in known:
                    raise config_error(
                        source, f"{where}.when.{name}", f"unknown {name} value {v!r}; expected one of {', '.join(known)}"
                    )
            fields.append((name, frozenset(values)))
        return cls(fields=tuple(fields), metadata=tuple(tests))

    def matches(self, values: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> bool:
        """True when every field's value is among its allowed ones and every metadata test holds."""
        for name, allowed in self.fields:
            if values.get(name) not in allowed:
                return False
        meta = metadata or {}
        return all(test.matches(meta) for test in self.metadata)

    def describe(self) -> str:
        parts = [f"{name} in [{', '.join(sorted(allowed))}]" for name, allowed in self.fields]
        parts += [test.describe() for test in self.metadata]
        return " and ".join(parts)
