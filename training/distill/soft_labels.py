"""Soft labels: `triage teacher`'s files read, matched to training rows by normalized text, and
turned into per-example targets; and the teacher model's pooled features (``feature_weight``).

Soft-label files are ``triage teacher``'s ``*.soft.jsonl`` (``{"id", "text", "soft": {head: {label: p}}}``).
A soft-labelled text that is neither a training row nor new — a dev text (early stopping, calibration)
or a test text — is refused, and so is every text of the test split (``guard_fitting_rows``). Held-out
texts of a labelled row never become unlabelled rows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.labels import HEADS, LABELS
from training.data.splits import guard_fitting_rows, text_key
from training.errors import SoftLabelError
from training.modeling.inference import predict_logits
from training.modeling.model import load_model


def read_soft_labels(paths: Sequence[str | Path]) -> list[dict]:
    """``[{"text", "soft": {head: np.ndarray}}]`` from `triage teacher` files, first file wins per text."""
    out, seen = [], set()
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    soft = {h: np.array([float(record["soft"][h][lab]) for lab in LABELS[h]], dtype=np.float32) for h in HEADS}
                    text = str(record["text"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise SoftLabelError(f"{path} line {n}: not a soft label of every head and label ({exc!r})",
                                         details={"file": str(path), "line": n}) from None
                key = text_key(text)
                if key in seen:
                    continue
                seen.add(key)
                out.append({"id": record.get("id") or f"soft:{key}", "text": text, "soft": soft})
    return out


def attach_soft_labels(train_rows: list[dict], all_train_rows: list[dict], dev_rows: list[dict], soft_rows: list[dict],
                       max_unlabeled: int | None = None) -> tuple[list[dict | None], list[dict]]:
    """(soft labels per training row or None, unlabelled rows with soft labels).

    Unlabelled rows are soft-labelled texts that are no labelled training row (of any fold) and no dev
    row; a dev text among them is refused, and so is any test text (E602).
    """
    by_key = {text_key(r["text"]): r["soft"] for r in soft_rows}
    labelled_keys = {text_key(r["text"]) for r in all_train_rows}
    dev_keys = {text_key(r["text"]) for r in dev_rows}
    in_dev = [r["id"] for r in soft_rows if text_key(r["text"]) in dev_keys]
    if in_dev:
        raise SoftLabelError(f"{len(in_dev)} soft-labelled texts are dev texts (early stopping and calibration "
                             f"read dev; the student must not train on it): leave the dev file out of --teacher",
                             details={"rows": len(in_dev), "ids": in_dev[:20]})
    unlabelled = [r for r in soft_rows if text_key(r["text"]) not in labelled_keys][:max_unlabeled]
    guard_fitting_rows(unlabelled, "unlabelled distillation texts")
    return [by_key.get(text_key(r["text"])) for r in train_rows], unlabelled


@dataclass
class SoftTargets:
    """Per training example (labelled rows first, then unlabelled): teacher probabilities, whether
    there are any, and whether the gold labels exist."""
    probs: dict[str, np.ndarray]
    has_soft: np.ndarray
    labelled: np.ndarray
    features: "TeacherFeatures | None" = None  # with feature_weight: the teacher model's pooled outputs


def soft_targets(per_row: list[dict | None], unlabelled: list[dict]) -> SoftTargets:
    rows = list(per_row) + [r["soft"] for r in unlabelled]
    probs = {h: np.stack([s[h] if s is not None else np.full(len(LABELS[h]), 1.0 / len(LABELS[h]), np.float32)
                          for s in rows]) if rows else np.zeros((0, len(LABELS[h])), np.float32) for h in HEADS}
    has_soft = np.array([s is not None for s in rows], dtype=bool)
    labelled = np.arange(len(rows)) < len(per_row)
    return SoftTargets(probs, has_soft, labelled)


@dataclass
class TeacherFeatures:
    """The teacher model's mean-pooled encoder output per training example (labelled rows first, then
    unlabelled, as ``SoftTargets``)."""
    features: np.ndarray  # (examples, hidden) float32
    variance: float  # mean over dimensions of the per-dimension variance: the loss's scale


def teacher_features(teacher_dir: str | Path, input_ids: list[list[int]], pad_id: int) -> TeacherFeatures:
    """The teacher model's mean-pooled encoder output for every training example (``feature_weight``),
    computed once before training: the teacher is frozen, so its features do not change per epoch."""
    pooled = predict_logits(load_model(teacher_dir), input_ids, pad_id, keys=("pooled",))["pooled"]
    return TeacherFeatures(pooled.astype(np.float32), float(pooled.var(axis=0).mean()) or 1.0)
