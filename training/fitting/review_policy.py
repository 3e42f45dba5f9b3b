"""Fitting the review policy: confidence thresholds and watch thresholds sharing one review budget.

Measured on the maintainers' held-out sample, moving confidence thresholds gains little for urgent
items: the ranking, not the cut-off, limits them, and reviewing the items with the highest P(high)
catches far more of them per reviewed item. So the budget (``max_share`` of all items) is spent in
this order:

1. a watch threshold per high-stakes class, the highest one at which the class's *seen recall*
   (predicted as the class or in review for any reason) reaches ``target + recall_margin`` on the
   fitting scores;
2. the confidence rule per head (lowest threshold whose accepted items reach ``target_accuracy``),
   scaled down step by step while the total share exceeds ``max_share`` — it yields to the targets;
3. if even without the confidence rule the targets do not fit in ``max_share``, every watched class
   gives up the same fraction of its target until they do, and the result says the targets were
   not met (the budget is a hard limit: reviewers who drown miss things too); what the watch leaves
   of the budget goes back to the confidence rule.

The fitting scores are out-of-fold scores of every training row (cross-fitting) plus the dev split,
never the test split (training/data/splits.py).

Rates of traffic are measured on the rows that are a sample of it (``traffic``): the review share, the
confidence rule's accuracy and the watch's flag rate. Rows chosen by active learning (round 4's
``selection``) are not: they were picked for being rare-class-like or uncertain, so a fifth of the
fitting rows would count the budget as spent on hard cases the traffic seldom holds, and traffic would
get less review than its budget (reports/2026-12-07-round4-levers/). Seen recall is measured on every
row: those rows hold most of the urgent examples, and each is an urgent text to be seen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from classifier.errors import ConfigError
from classifier.labels import HEADS
from classifier.resources import resource_path
from classifier.review import parse_class, review_mask, signal_flags
from classifier.signals import BY_NAME, SIGNALS

DEFAULT_CONFIG = resource_path("configs/review.yaml")  # from any working directory (classifier/resources.py)
SCALE_STEPS = np.round(np.linspace(1.0, 0.0, 21), 3)
# Abstention: the lowest threshold at which the accepted dev items reach this accuracy.
DEFAULT_TARGET_ACCURACY = {"category": 0.95, "sentiment": 0.92, "urgency": 0.92}


def abstention_threshold(probs: np.ndarray, targets: np.ndarray, target_accuracy: float) -> float:
    """Smallest confidence threshold whose accepted set reaches ``target_accuracy`` (0 if all do)."""
    conf = probs.max(1)
    correct = probs.argmax(1) == targets
    order = np.argsort(-conf)
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(running >= target_accuracy)[0]
    if len(ok) == 0:
        return 1.0
    # the largest accepted prefix that still meets the target
    k = ok.max()
    return 0.0 if k == len(order) - 1 else float(conf[order[k]])


@dataclass
class ReviewConfig:
    recall_targets: dict[str, float] = field(default_factory=lambda: {"urgency.high": 0.95, "category.contract_legal": 0.90})
    recall_margin: float = 0.03
    max_share: float = 0.15
    target_accuracy: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TARGET_ACCURACY))
    # guideline rule signals (classifier/signals.py) a bundle may apply, each adopted only when at least
    # this share of the fitting rows it fires on truly hold a class the rule implies
    signals: list[str] = field(default_factory=lambda: [s.name for s in SIGNALS])
    signal_min_precision: float = 0.2
    signal_min_support: int = 3

    def __post_init__(self):
        for key, t in self.recall_targets.items():
            try:
                parse_class(key)
            except ValueError as exc:
                raise ConfigError(f"review.recall_targets: {exc}") from None
            if not 0.0 < float(t) <= 1.0:
                raise ConfigError(f"review.recall_targets.{key} must be in (0, 1], not {t}")
        if not 0.0 < self.max_share <= 1.0:
            raise ConfigError(f"review.max_share must be in (0, 1], not {self.max_share}")
        unknown = set(self.target_accuracy) - set(HEADS)
        if unknown:
            raise ConfigError(f"review.target_accuracy has unknown heads {sorted(unknown)}")
        self.target_accuracy = {**DEFAULT_TARGET_ACCURACY, **self.target_accuracy}
        unknown_signals = sorted(set(self.signals) - set(BY_NAME))
        if unknown_signals:
            raise ConfigError(f"review.signals has unknown names {unknown_signals}: known are {', '.join(BY_NAME)}")
        if not 0.0 <= self.signal_min_precision <= 1.0:
            raise ConfigError(f"review.signal_min_precision must be in [0, 1], not {self.signal_min_precision}")

    def to_dict(self) -> dict:
        return {"recall_targets": dict(self.recall_targets), "recall_margin": self.recall_margin,
                "max_share": self.max_share, "target_accuracy": dict(self.target_accuracy),
                "signals": list(self.signals), "signal_min_precision": self.signal_min_precision,
                "signal_min_support": self.signal_min_support}

    @classmethod
    def from_dict(cls, data: dict) -> "ReviewConfig":
        unknown = set(data) - {"recall_targets", "recall_margin", "max_share", "target_accuracy", "signals",
                               "signal_min_precision", "signal_min_support"}
        if unknown:
            raise ConfigError(f"unknown review options: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> "ReviewConfig":
        path = Path(path) if path else DEFAULT_CONFIG
        if not path.is_file():
            if path == DEFAULT_CONFIG:
                return cls()
            raise ConfigError(f"review config {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read review config {path}: {exc}") from exc
        return cls.from_dict(data.get("review", data))


def seen_recall(probs: dict[str, np.ndarray], targets: dict[str, np.ndarray], key: str, in_review: np.ndarray) -> tuple[float, int]:
    """(seen recall, support) of class ``key``: predicted as it or in review, among its true items."""
    head, k = parse_class(key)
    true = targets[head] == k
    if not true.any():
        return float("nan"), 0
    seen = (probs[head].argmax(1) == k) | in_review
    return float(seen[true].mean()), int(true.sum())


def share_of_traffic(in_review: np.ndarray, traffic: np.ndarray | None) -> float:
    """The share of traffic rows in review (all rows when ``traffic`` is None)."""
    return float((in_review if traffic is None else in_review[traffic]).mean())


def largest_confidence_scale(probs, base: dict[str, float], watch: dict[str, float], max_share: float,
                             also: np.ndarray | None = None, traffic: np.ndarray | None = None) -> tuple[float, dict, float]:
    """(scale, thresholds, share): the confidence rule scaled down (``base`` × scale, largest of
    ``SCALE_STEPS``) until, with ``watch`` fixed, the review share fits ``max_share`` — scale 0 if none
    does. The share only grows with the scale, so the first fit from the top is the largest."""
    for scale in SCALE_STEPS:
        thresholds = {h: float(base[h] * scale) for h in HEADS}
        share = share_of_traffic(review_mask(probs, thresholds, watch, also), traffic)
        if share <= max_share or scale == 0.0:
            return float(scale), thresholds, share
    raise AssertionError("SCALE_STEPS ends at 0")


def _watch_threshold(probs, targets, key: str, others: np.ndarray, goal: float) -> float:
    """Highest threshold on P(class) at which seen recall reaches ``goal``, given the items already in
    review for other reasons (``others``)."""
    head, k = parse_class(key)
    true = targets[head] == k
    n = int(true.sum())
    if n == 0:
        return 1.0
    p = probs[head][:, k]
    seen = (probs[head].argmax(1) == k) | others
    missing = np.sort(p[true & ~seen])[::-1]  # unseen true items, most probable first
    need = int(np.ceil(goal * n - 1e-9)) - int(seen[true].sum())
    if need <= 0:
        return 1.0
    if need > len(missing):
        return 0.0
    return float(missing[need - 1])


def measurable_fires(config: ReviewConfig) -> int:
    """How many fitting rows a signal must fire on for its precision to be judged: the fewest at which
    ``signal_min_support`` true rows reach ``signal_min_precision``."""
    return int(np.ceil(config.signal_min_support / max(config.signal_min_precision, 1e-9) - 1e-9))


def adopt_signals(probs: dict[str, np.ndarray], targets: dict[str, np.ndarray], hits: list[list[str]],
                  config: ReviewConfig) -> tuple[tuple[str, ...], dict]:
    """(adopted signal names, report per signal) on the fitting rows: a signal is adopted when it fires
    on at least ``signal_min_support`` rows that truly hold a class it implies, at a precision of at
    least ``signal_min_precision``. A signal that fires on fewer rows than that can be judged by
    (``measurable_fires``) is adopted unmeasured: each encodes a rule the guideline states in so many
    words, and one too rare to measure is also too rare to cost (it fires on fewer than that many
    fitting rows; in round 4, ``due_today_failure`` — one of the urgent kinds nobody saw — fired on 2 of
    12,774 and would otherwise have been dropped). Its recall per implied class, and how many of those
    items nothing else in the policy would send to review, are reported either way."""
    adopted, report = [], {}
    enough = measurable_fires(config)
    for name in config.signals:
        fired = np.array([name in h for h in hits], dtype=bool)
        implied = [parse_class(key) for key in BY_NAME[name].implies]
        true_any = np.zeros(len(fired), dtype=bool)
        entry: dict = {"fires": int(fired.sum()), "share": float(fired.mean()) if len(fired) else 0.0, "classes": {}}
        for key, (head, k) in zip(BY_NAME[name].implies, implied):
            true = targets[head] == k
            true_any |= true
            entry["classes"][key] = {"precision": float(true[fired].mean()) if fired.any() else float("nan"),
                                     "recall": float(fired[true].mean()) if true.any() else float("nan"),
                                     "hits": int((fired & true).sum())}
        hits_any = int((fired & true_any).sum())
        entry["precision_any"] = hits_any / int(fired.sum()) if fired.any() else float("nan")
        entry["measured"] = bool(fired.sum() >= enough)
        # once measured, a precision of signal_min_precision means at least signal_min_support true rows
        entry["adopted"] = bool(not entry["measured"] or entry["precision_any"] >= config.signal_min_precision)
        if entry["adopted"]:
            adopted.append(name)
        report[name] = entry
    return tuple(adopted), report


def fit_review_policy(probs: dict[str, np.ndarray], targets: dict[str, np.ndarray], config: ReviewConfig,
                      also: np.ndarray | None = None, traffic: np.ndarray | None = None) -> tuple[dict, dict, dict]:
    """(confidence thresholds, watch thresholds, report) from calibrated fitting scores. ``also``: the
    rows in review whatever the thresholds (the adopted rule signals): they count as seen and take
    their share of the budget first. ``traffic``: the rows that are a sample of traffic, on which the
    budget and the confidence rule are measured (all rows when None)."""
    sample = np.ones(len(targets[HEADS[0]]), dtype=bool) if traffic is None else np.asarray(traffic, dtype=bool)
    base = {h: abstention_threshold(probs[h][sample], targets[h][sample], config.target_accuracy[h]) for h in HEADS}

    def fit_watch(thresholds: dict, goals: dict[str, float]) -> dict:
        watch = {key: 1.0 for key in goals}
        for _ in range(3):  # a lower threshold for one class can help another: iterate to a fixed point
            changed = False
            for key, goal in goals.items():
                others = review_mask(probs, thresholds, {k: v for k, v in watch.items() if k != key}, also)
                t = _watch_threshold(probs, targets, key, others, goal)
                if t != watch[key]:
                    watch[key], changed = t, True
            if not changed:
                break
        return watch

    def share_of(thresholds: dict, watch: dict) -> float:
        return share_of_traffic(review_mask(probs, thresholds, watch, also), sample)

    with_margin = {k: min(1.0, t + config.recall_margin) for k, t in config.recall_targets.items()}
    chosen = None
    for scale in SCALE_STEPS:
        thresholds = {h: float(base[h] * scale) for h in HEADS}
        watch = fit_watch(thresholds, with_margin)
        share = share_of(thresholds, watch)
        if share <= config.max_share:
            chosen = (scale, thresholds, watch, share)
            break
    met = chosen is not None
    if not met:
        # Even without the confidence rule the targets do not fit: every class gives up the same
        # fraction of its target (binary search on that fraction) until the share fits the budget.
        thresholds = {h: 0.0 for h in HEADS}
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            if share_of(thresholds, fit_watch(thresholds, {k: t * mid for k, t in with_margin.items()})) <= config.max_share:
                lo = mid
            else:
                hi = mid
        watch = fit_watch(thresholds, {k: t * lo for k, t in with_margin.items()})
        # what the watch leaves of the budget (it grows in steps of one item) goes to the confidence rule
        scale, thresholds, share = largest_confidence_scale(probs, base, watch, config.max_share, also, sample)
        chosen = (scale, thresholds, watch, share)
    scale, thresholds, watch, share = chosen
    in_review = review_mask(probs, thresholds, watch, also)
    report = {
        "config": config.to_dict(),
        "fitting_rows": int(len(in_review)),
        "traffic_rows": int(sample.sum()),
        "confidence_scale": float(scale),
        "thresholds": thresholds,
        "watch": watch,
        "review_share": share,
        "review_share_all_rows": float(in_review.mean()),
        "signal_share": share_of_traffic(also, sample) if also is not None else 0.0,
        "targets_met": met,
        "seen_recall": {},
    }
    for key, target in config.recall_targets.items():
        r, n = seen_recall(probs, targets, key, in_review)
        report["seen_recall"][key] = {"value": r, "support": n, "target": target}
        if r < target:
            report["targets_met"] = False
    if not report["targets_met"]:
        report["warning"] = (f"the recall targets cannot be met within max_share {config.max_share:.1%} of traffic "
                             "on the fitting scores; thresholds keep the share within budget")
    return thresholds, watch, report


def signal_mask(probs: dict[str, np.ndarray], hits: list[list[str]], adopted: tuple[str, ...]) -> np.ndarray:
    """Rows the adopted signals send to review (the runtime's rule, classifier/review.py)."""
    return signal_flags(probs, hits, adopted)[1].any(axis=1)


def flag_rate(probs: dict[str, np.ndarray], key: str, threshold: float, traffic: np.ndarray | None = None) -> float:
    """Share of (traffic) items the watch on ``key`` flags at ``threshold`` (not predicted as it, P ≥ threshold)."""
    head, k = parse_class(key)
    p = probs[head]
    return share_of_traffic((p.argmax(1) != k) & (p[:, k] >= threshold), traffic)


def transfer_watch(fit_probs: dict[str, np.ndarray], served_probs: dict[str, np.ndarray], watch: dict[str, float],
                   traffic: np.ndarray | None = None) -> dict[str, float]:
    """Watch thresholds on the served model's probability scale that flag the same share of items as
    the fitted thresholds flag on the fitting scores.

    Why: the fitting scores are mostly out-of-fold scores of the cross-fitting models, each trained on
    (N-1)/N of the rows; the served model, trained on all of them, spreads P(high) differently, so the
    same probability flags a different share of items (measured: 0.017 flagged 13.8 % of dev with the
    served model against 9-10 % of the fitting rows). What carries over between the models is the
    ranking: flag the same top share. ``served_probs`` are the served model's calibrated scores on
    rows it did not train on (dev); no labels are used. The share is that of the fitting rows'
    ``traffic`` (dev is traffic).
    """
    out = {}
    for key, t in watch.items():
        if t >= 1.0:
            out[key] = t
            continue
        head, k = parse_class(key)
        p = served_probs[head]
        candidates = np.sort(p[p.argmax(1) != k, k])[::-1]
        n = int(round(flag_rate(fit_probs, key, t, traffic) * len(p)))
        out[key] = 1.0 if n == 0 else float(candidates[min(n, len(candidates)) - 1])
    return out


def serve_policy(probs: dict[str, np.ndarray], targets: dict[str, np.ndarray], served_rows: int,
                 thresholds: dict, watch: dict, report: dict, config: ReviewConfig,
                 also: np.ndarray | None = None, traffic: np.ndarray | None = None) -> tuple[dict, dict, dict]:
    """The fitted policy moved to the served model: the first ``served_rows`` of the fitting scores
    are its own (dev) scores, the rest come from the cross-fitting models. The watch thresholds move
    to its scale by flag rate (``transfer_watch``), then the confidence rule yields until its share on
    those rows fits the budget too. Returns (thresholds, watch, report with both versions)."""
    served = {h: probs[h][:served_rows] for h in HEADS}
    served_targets = {h: targets[h][:served_rows] for h in HEADS}
    moved = transfer_watch(probs, served, watch, traffic)
    served_also = None if also is None else also[:served_rows]
    _, scaled, share = largest_confidence_scale(served, thresholds, moved, config.max_share, served_also)
    in_review = review_mask(served, scaled, moved, served_also)
    report = {**report, "fitted_watch": watch, "watch": moved, "fitted_thresholds": thresholds, "thresholds": scaled,
              "served_rows": {"rows": served_rows, "review_share": share,
                              "seen_recall": {k: dict(zip(("value", "support"), seen_recall(served, served_targets, k, in_review)))
                                              for k in config.recall_targets}}}
    return scaled, moved, report
