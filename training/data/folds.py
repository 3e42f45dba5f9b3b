"""Cross-fitting folds of the training rows: which rows a ``triage train --fold K/N`` run holds out.

Every consumer of a fold — the run itself, its TF-IDF model, the learning curve — draws it here, so
that all of them hold out the same rows for the same config.
"""
from __future__ import annotations

import random

from training.config import TrainConfig


def fold_of(rows: list[dict], folds: int, seed: int) -> list[int]:
    """Fold index per row, stratified by urgency × category (seeded, independent of row order)."""
    rng = random.Random(seed)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["urgency"], r["category"]), []).append(i)
    fold = [0] * len(rows)
    offset = 0
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda i: rows[i]["id"])
        rng.shuffle(members)
        for j, i in enumerate(members):
            fold[i] = (offset + j) % folds
        offset += len(members)  # rotate so that small classes do not all start in fold 0
    return fold


def split_fold(rows: list[dict], cfg: TrainConfig) -> tuple[list[dict], list[dict]]:
    """(training rows, held-out rows) for the config's fold; all rows and none without folds."""
    if not cfg.cv_folds:
        return rows, []
    fold = fold_of(rows, cfg.cv_folds, cfg.seed)
    return ([r for r, f in zip(rows, fold) if f != cfg.cv_fold], [r for r, f in zip(rows, fold) if f == cfg.cv_fold])
