"""Fitting calibration on the fitting scores (dev + out-of-fold training scores): blend weight and
temperature per head, then the review policy on the calibrated scores (training/fitting/review_policy.py,
which this module calls and which never calls back)."""
from __future__ import annotations

import numpy as np

from classifier.bundle import Calibration
from classifier.calibration import blend, calibrate
from classifier.labels import HEADS, LABELS
from training.fitting.review_policy import ReviewConfig, adopt_signals, fit_review_policy, serve_policy, signal_mask
from training.stats import macro_f1 as _macro_f1

BLEND_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def nll(probs: np.ndarray, targets: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(targets)), targets], 1e-12, 1.0)).mean())


def fit_temperature(probs: np.ndarray, targets: np.ndarray) -> float:
    """Temperature minimising dev NLL, by golden-section search over log T in [-3, 3]."""
    lo, hi = -3.0, 3.0
    g = (np.sqrt(5) - 1) / 2
    f = lambda log_t: nll(calibrate(probs, float(np.exp(log_t))), targets)  # noqa: E731
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return float(np.exp((lo + hi) / 2))


def macro_f1(probs: np.ndarray, targets: np.ndarray, head: str) -> float:
    return _macro_f1(targets, probs.argmax(1), len(LABELS[head]))


def fit_calibration(
    transformer: dict[str, np.ndarray],
    linear: dict[str, np.ndarray] | None,
    targets: dict[str, np.ndarray],
    review=None,
    blend_grid: tuple[float, ...] = BLEND_GRID,
    served_rows: int | None = None,
    hits: list[list[str]] | None = None,
    traffic: np.ndarray | None = None,
) -> tuple[Calibration, dict]:
    """Per head the blend weight with the best macro-F1 and the temperature minimising NLL on the
    fitting scores, then the review policy (confidence and watch thresholds, training/fitting/review_policy.py)
    on the calibrated scores. ``review`` is a ``ReviewConfig`` (default: configs/review.yaml's defaults).
    ``served_rows``: the first rows of the fitting scores are the served model's own scores (dev)
    and the rest come from other models (cross-fitting): the watch thresholds are then moved to the
    served model's scale by flag rate (``transfer_watch``), and the confidence rule yields until the
    served model's share on those rows is within the budget too. ``hits``: the rule signals found in
    each fitting row's text; those the fitting rows justify are adopted (``adopt_signals``) and their
    reviews count in the policy's seen recall and budget. ``traffic``: the rows that are a sample of
    traffic (not chosen by active learning); temperatures, the confidence rule and the review budget are
    fitted on them (training/fitting/review_policy.py says why); None: every row.

    Returns the calibration and a report of what was tried (written into the bundle's export report).
    """
    review = review or ReviewConfig()
    sample = slice(None) if traffic is None else traffic
    cal = Calibration()
    report: dict = {}
    calibrated = {}
    for h in HEADS:
        tried = {}
        for w in blend_grid if linear is not None else (0.0,):
            tried[w] = macro_f1(blend(transformer[h], linear[h] if linear else None, w), targets[h], h)
        best_w = max(tried, key=lambda w: (round(tried[w], 4), -w))  # ties go to the simpler model
        probs = blend(transformer[h], linear[h] if linear else None, best_w)
        t = fit_temperature(probs[sample], targets[h][sample])
        calibrated[h] = calibrate(probs, t)
        cal.blend[h], cal.temperature[h] = best_w, t
        report[h] = {"blend_macro_f1": {str(k): v for k, v in tried.items()}, "blend": best_w, "temperature": t}
    also = None
    if hits is not None:
        cal.signals, report["signals"] = adopt_signals(calibrated, targets, hits, review)
        also = signal_mask(calibrated, hits, cal.signals)
    thresholds, watch, policy = fit_review_policy(calibrated, targets, review, also, traffic)
    if served_rows and served_rows < len(targets[HEADS[0]]):
        thresholds, watch, policy = serve_policy(calibrated, targets, served_rows, thresholds, watch, policy, review,
                                                 also, traffic)
    report["review_policy"] = policy
    cal.thresholds, cal.watch = thresholds, watch
    for h in HEADS:
        report[h]["threshold"] = thresholds[h]
        report[h]["target_accuracy"] = review.target_accuracy[h]
    return cal, report

