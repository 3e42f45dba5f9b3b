"""Turning raw model scores into calibrated probabilities (numpy only; fitting lives in training/)."""
from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def blend(p_transformer: np.ndarray, p_linear: np.ndarray | None, weight: float) -> np.ndarray:
    """Convex combination of the two models' probabilities (weight = linear model's share)."""
    if p_linear is None or weight <= 0.0:
        return p_transformer
    return (1.0 - weight) * p_transformer + weight * p_linear


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling applied to log-probabilities: softmax(log p / T)."""
    return softmax(np.log(np.clip(probs, 1e-12, 1.0)), temperature)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins (the usual definition)."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == targets).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)
