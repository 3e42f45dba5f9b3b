"""Which items a person must see, and why: the review policy.

An item goes to review for two kinds of reasons, reported together in ``review_reasons``:

- ``<head>_uncertain``: the head's calibrated confidence is under its threshold (the model does not
  know; thresholds in ``Calibration.thresholds``);
- ``possible_<label>`` (``possible_high_urgency``, ``possible_contract_legal``): the model did not
  predict a high-stakes class, but its probability reaches that class's watch threshold;
- ``rule:<name>``: a guideline rule signal fired (classifier/signals.py) and the model does not predict
  every class that rule implies.

Why the second kind: what matters most is that no urgent or regulatory complaint goes unseen. A
truly urgent item predicted `medium` with confidence 0.8 passes every confidence rule and gets a
P2–P4 deadline; its P(high) of, say, 0.12 is still far above that of a typical item. Thresholds on
those probabilities are fitted for a recall target ("seen recall": predicted as the class or sent
to review) within a review budget shared with the confidence rule (training/fitting/review_policy.py), and
stored in the bundle's ``calibration.json`` under ``watch``.
"""
from __future__ import annotations

import numpy as np

from classifier.errors import BundleManifestInvalid
from classifier.labels import HEADS, LABELS
from classifier.signals import BY_NAME, SIGNALS, reason as signal_reason

DEFAULT_WATCH_CLASSES = ("urgency.high", "category.contract_legal")

# Reasons as supervisors read them (review page).
REASON_ZH = {
    "category_uncertain": "类别置信度低",
    "sentiment_uncertain": "情感置信度低",
    "urgency_uncertain": "紧急度置信度低",
    "possible_high_urgency": "可能为高紧急度",
    "possible_contract_legal": "可能涉及合同及法律法规",
    **{signal_reason(s.name): s.zh for s in SIGNALS},
}


def parse_class(key: str) -> tuple[str, int]:
    """``"urgency.high"`` → ("urgency", index of high); ``ValueError`` for an unknown head or label."""
    head, _, label = key.partition(".")
    if head not in LABELS or label not in LABELS[head]:
        raise ValueError(f"unknown class {key!r}: expected HEAD.LABEL such as urgency.high "
                         f"(heads {', '.join(HEADS)})")
    return head, LABELS[head].index(label)


def watch_reason(key: str) -> str:
    """Review reason of a watched class: ``possible_contract_legal``, ``possible_high_urgency``."""
    head, _, label = key.partition(".")
    return f"possible_{label}" if head == "category" else f"possible_{label}_{head}"


def uncertain_reason(head: str) -> str:
    return f"{head}_uncertain"


def check_watch(watch: dict) -> dict[str, float]:
    out = {}
    for key, value in watch.items():
        try:
            parse_class(key)
            t = float(value)
        except (TypeError, ValueError) as exc:
            raise BundleManifestInvalid(f"calibration.json watch entry {key!r}: {exc}", details={"file": "calibration.json"}) from exc
        if not 0.0 <= t <= 1.0:
            raise BundleManifestInvalid(f"calibration.json watch threshold of {key} is {t}, not in [0, 1]",
                                        details={"file": "calibration.json"})
        out[key] = t
    return out


def signal_flags(probs: dict[str, np.ndarray], hits: list[list[str]], applied) -> tuple[list[str], np.ndarray]:
    """Reason names (``rule:<name>``, one per applied signal) and an (items, signals) boolean matrix: the
    signal fired on the item's text (``hits``: names per item) and the model does not predict every
    class the rule implies."""
    n = len(hits)
    names = [signal_reason(name) for name in applied]
    flags = np.zeros((n, len(applied)), dtype=bool)
    if not applied or n == 0:
        return names, flags
    best = {h: probs[h].argmax(1) for h in HEADS}
    for j, name in enumerate(applied):
        implied = [parse_class(key) for key in BY_NAME[name].implies]
        predicted = np.ones(n, dtype=bool)
        for head, k in implied:
            predicted &= best[head] == k
        fired = np.array([name in h for h in hits], dtype=bool)
        flags[:, j] = fired & ~predicted
    return names, flags


def _flags(probs: dict[str, np.ndarray], thresholds: dict[str, float], watch: dict[str, float]) -> tuple[list[str], np.ndarray]:
    """Reason names and an (items, reasons) boolean matrix: which reason applies to which item."""
    names: list[str] = []
    columns: list[np.ndarray] = []
    for h in HEADS:
        names.append(uncertain_reason(h))
        columns.append(probs[h].max(1) < thresholds.get(h, 0.0))
    for key, t in watch.items():
        head, k = parse_class(key)
        p = probs[head]
        names.append(watch_reason(key))
        columns.append((p.argmax(1) != k) & (p[:, k] >= t))
    return names, np.stack(columns, axis=1)


def review_mask(probs: dict[str, np.ndarray], thresholds: dict[str, float], watch: dict[str, float],
                also: np.ndarray | None = None) -> np.ndarray:
    """Per item, whether it goes to review for any reason (what fitting the policy needs, vectorised);
    ``also``: items in review for reasons outside the thresholds (rule signals)."""
    mask = _flags(probs, thresholds, watch)[1].any(axis=1)
    return mask if also is None else mask | also


def review_reasons(probs: dict[str, np.ndarray], thresholds: dict[str, float], watch: dict[str, float],
                   hits: list[list[str]] | None = None, applied=()) -> list[list[str]]:
    """Per item, the reasons it goes to review (empty: it does not). ``probs`` are calibrated, per head
    (n, labels); ``hits`` the rule signals found in each text, of which ``applied`` count; reasons in a
    fixed order (heads, watched classes, then rule signals)."""
    names, flags = _flags(probs, thresholds, watch)
    if hits is not None:
        more, extra = signal_flags(probs, hits, tuple(applied))
        names, flags = names + more, np.concatenate([flags, extra], axis=1)
    return [[names[j] for j in np.flatnonzero(row)] for row in flags]
