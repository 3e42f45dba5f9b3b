"""What would more labels buy? Rare-class F1 against the number of training examples.

The jieba + TF-IDF model is refitted on nested, stratified fractions of the training rows (seconds
each, so several points), evaluated on dev; transformer runs trained on different amounts of data
(cross-fitting folds see (N-1)/N of the rows, the full run all of them) add their dev points. Only
the dev split is read for scores: the learning curve informs labelling plans, and the test split stays
out of every decision.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.labels import HEADS, LABELS
from training.config import TrainConfig
from training.data.folds import split_fold
from training.data.splits import guard_fitting_rows
from training.run_dir import BEST_DIR, CONFIG_FILE, DEV_LOGITS_FILE
from training.stats import class_f1

RARE = (("urgency", "high"), ("category", "contract_legal"), ("category", "other"), ("category", "fees"))
FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def nested_subsets(rows: Sequence[dict], fractions: Sequence[float], seed: int = 13) -> list[list[dict]]:
    """Stratified (urgency × category) nested subsets: each fraction's rows include the smaller ones'."""
    rng = random.Random(seed)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["urgency"], r["category"]), []).append(r)
    for members in groups.values():
        members.sort(key=lambda r: r["id"])
        rng.shuffle(members)
    return [[r for members in groups.values() for r in members[: max(1, round(f * len(members)))]] for f in fractions]


def _point(model_name: str, train_rows: Sequence[dict], dev_rows: Sequence[dict], pred: dict[str, list[str]]) -> dict:
    point = {"model": model_name, "train_rows": len(train_rows)}
    f1 = {h: class_f1(np.array([LABELS[h].index(r[h]) for r in dev_rows]),
                      np.array([LABELS[h].index(p) for p in pred[h]]), len(LABELS[h])) for h in HEADS}
    for head, label in RARE:
        point[f"{head}.{label}"] = {"train_examples": sum(r[head] == label for r in train_rows),
                                    "dev_f1": round(float(f1[head][LABELS[head].index(label)]), 4)}
    for h in HEADS:
        point[f"{h}_macro_f1"] = round(float(f1[h].mean()), 4)
    return point


def linear_curve(train_rows: Sequence[dict], dev_rows: Sequence[dict], fractions: Sequence[float] = FRACTIONS) -> list[dict]:
    from training.fitting.baseline import fit_baseline

    guard_fitting_rows(train_rows, "training data")
    guard_fitting_rows(dev_rows, "dev data")
    points = []
    for subset in nested_subsets(train_rows, fractions):
        model = fit_baseline(subset)
        points.append(_point("tfidf", subset, dev_rows, model.predict([r["text"] for r in dev_rows])))
    return points


def run_points(run_dirs: Sequence[str | Path], train_rows: Sequence[dict], dev_rows: Sequence[dict]) -> list[dict]:
    """Dev points of transformer runs (their saved dev logits), with the training rows each one saw."""
    points = []
    for d in run_dirs:
        d = Path(d)
        cfg = TrainConfig.from_yaml(d / CONFIG_FILE)
        seen, _ = split_fold(list(train_rows), cfg)
        logits = np.load(d / BEST_DIR / DEV_LOGITS_FILE)
        pred = {h: [LABELS[h][i] for i in logits[h].argmax(1)] for h in HEADS}
        points.append(_point(f"transformer ({d.name})", seen, dev_rows, pred))
    return points


def render(points: list[dict]) -> str:
    lines = ["# Learning curve (dev split)", "",
             "Rare-class F1 on dev against the number of training examples of that class.", "",
             "| model | train rows | " + " | ".join(f"{h}.{lab} (n → F1)" for h, lab in RARE) + " | "
             + " | ".join(f"{h} macro-F1" for h in HEADS) + " |",
             "|---|---|" + "---|" * (len(RARE) + len(HEADS))]
    for p in points:
        lines.append(f"| {p['model']} | {p['train_rows']:,} | "
                     + " | ".join(f"{p[f'{h}.{lab}']['train_examples']} → {p[f'{h}.{lab}']['dev_f1']:.3f}" for h, lab in RARE)
                     + " | " + " | ".join(f"{p[f'{h}_macro_f1']:.3f}" for h in HEADS) + " |")
    return "\n".join(lines) + "\n"


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(RARE), figsize=(4 * len(RARE), 3.4))
    for ax, (h, lab) in zip(axes, RARE):
        for model, marker in (("tfidf", "o-"), ("transformer", "s")):
            pts = sorted((p[f"{h}.{lab}"]["train_examples"], p[f"{h}.{lab}"]["dev_f1"]) for p in points
                         if p["model"].startswith(model))
            if pts:
                ax.plot(*zip(*pts), marker, label=model)
        ax.set_title(f"{h}.{lab}")
        ax.set_xlabel("training examples")
        ax.set_ylabel("dev F1")
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(points: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning_curve.json").write_text(json.dumps(points, indent=1))
    (out / "learning_curve.md").write_text(render(points) + "\n![learning curve](learning_curve.png)\n", encoding="utf-8")
    plot(points, out / "learning_curve.png")
