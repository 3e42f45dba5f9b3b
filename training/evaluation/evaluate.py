"""Evaluation of bundles on labelled files: metrics.json, predictions.jsonl, errors.jsonl, plots, report.md
(the last two rendered by training/evaluation/report.py).

Numbers a release decision can rest on:

- per-class precision/recall/F1 and macro-F1 with bootstrap 95 % intervals (rare classes have a few
  dozen examples in any split: a point estimate alone says little);
- *seen recall* of the high-stakes classes (exact binomial intervals) (urgency `high`, category `contract_legal`): the share of
  truly urgent / regulatory items that were predicted as such **or** sent to review — an item that
  is neither gets a slow deadline and nobody looks at it — and the review share that buys it;
- row-normalised confusion matrices, ECE before and after calibration, a per-source breakdown;
- ``errors.jsonl``: one line per wrong head with the text, gold and predicted labels and
  confidences, so an error analysis needs no join.

``compare`` evaluates several bundles on several files and writes them side by side.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.bundle import Calibration
from classifier.calibration import blend, expected_calibration_error
from classifier.labels import HEADS, LABELS, label_index
from classifier.review import DEFAULT_WATCH_CLASSES, parse_class, watch_reason
from classifier.runtime import Classifier, RawScores
from classifier.signals import REASON_PREFIX as SIGNAL_PREFIX
from training.data.schema import read_labelled
from training.evaluation.report import render_comparison, render_report, write_plots
from training.stats import (BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, class_f1, class_f1_bootstrap, clopper_pearson, interval,
                            paired_differences,
                            macro_f1, resamples)

RANKING_SHARES = (0.05, 0.10, 0.15)


def catch_at_share(score: np.ndarray, true: np.ndarray, shares: Sequence[float] = RANKING_SHARES) -> dict[str, float | None]:
    """Ranking quality of one class: the share of its true items among the top ``share`` of all items
    by ``score`` — what reviewing that many items by this score alone would catch."""
    if not true.any():
        return {f"{s:.2f}": None for s in shares}
    order = np.argsort(-score, kind="stable")
    return {f"{s:.2f}": float(true[order[: int(round(s * len(score)))]].sum() / true.sum()) for s in shares}


def score_metrics(rows: Sequence[dict], probs: dict[str, np.ndarray], watch_classes: Sequence[str] = DEFAULT_WATCH_CLASSES) -> dict:
    """Per-head metrics with intervals and the ranking of the watched classes for bare probabilities
    (an ensemble, a run's PyTorch model): what a bundle's evaluation reports minus the review policy."""
    targets = {h: np.array([label_index(h, r[h]) for r in rows]) for h in HEADS}
    samples = resamples(len(rows))
    out = {"rows": len(rows), "heads": {h: head_metrics(probs[h], probs[h], targets[h], h, 0.0, samples) for h in HEADS},
           "catch_at_share": {}}
    for key in watch_classes:
        head, k = parse_class(key)
        out["catch_at_share"][key] = catch_at_share(probs[head][:, k], targets[head] == k)
    return out


# --- one bundle on one file ---------------------------------------------------------------------
def head_metrics(probs_raw: np.ndarray, probs_final: np.ndarray, targets: np.ndarray, head: str, threshold: float,
                 samples: np.ndarray) -> dict:
    labels = LABELS[head]
    k = len(labels)
    pred = probs_final.argmax(1)
    cm = np.bincount(targets * k + pred, minlength=k * k).reshape(k, k)
    support = cm.sum(1)
    predicted = cm.sum(0)
    tp = np.diag(cm)
    precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
    recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
    f1 = class_f1(targets, pred, k)
    boot = class_f1_bootstrap(targets, pred, k, samples)
    conf = probs_final.max(1)
    accepted = conf >= threshold
    row_norm = cm / np.maximum(support[:, None], 1)
    return {
        "accuracy": float((pred == targets).mean()),
        "macro_f1": float(f1.mean()),
        "macro_f1_ci95": interval(boot["macro"]),
        "per_class": {
            lab: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                  "f1_ci95": interval(boot["per_class"][:, i]), "support": int(support[i])}
            for i, lab in enumerate(labels)
        },
        "ece_before_calibration": expected_calibration_error(probs_raw, targets),
        "ece_after_calibration": expected_calibration_error(probs_final, targets),
        "abstention": {
            "threshold": threshold,
            "coverage": float(accepted.mean()),
            "accuracy_on_covered": float((pred[accepted] == targets[accepted]).mean()) if accepted.any() else None,
        },
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_row_normalised": np.round(row_norm, 4).tolist(),
    }


def _raw_blended(raw: RawScores, cal: Calibration, head: str) -> np.ndarray:
    return blend(raw.transformer[head], raw.linear[head] if raw.linear else None, cal.blend[head])


def _macro_f1(targets: np.ndarray, pred: np.ndarray, head: str) -> float:
    return macro_f1(targets, pred, len(LABELS[head]))


def evaluate_bundle(bundle_dir: str | Path, data_file: str | Path, out_dir: str | Path, plots: bool = True,
                    watch_classes: Sequence[str] = DEFAULT_WATCH_CLASSES, clf: Classifier | None = None) -> dict:
    clf = clf or Classifier.load(bundle_dir)
    rows = read_labelled(data_file)
    texts = [r["text"] for r in rows]
    raw = clf.raw_scores(texts)
    preds = clf.finalize(raw)
    cal = clf.bundle.calibration
    targets = {h: np.array([label_index(h, r[h]) for r in rows]) for h in HEADS}
    final = clf.calibrated(raw)
    samples = resamples(len(rows))

    blended = {h: _raw_blended(raw, cal, h) for h in HEADS}  # before temperature scaling
    metrics: dict = {"model_version": clf.model_version, "bundle": str(bundle_dir), "data_file": str(data_file),
                     "rows": len(rows), "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "seed": BOOTSTRAP_SEED, "ci": 0.95},
                     "heads": {}}
    for h in HEADS:
        metrics["heads"][h] = head_metrics(blended[h], final[h], targets[h], h, cal.thresholds[h], samples)
        metrics["heads"][h]["transformer_only_macro_f1"] = _macro_f1(targets[h], raw.transformer[h].argmax(1), h)
        if raw.linear is not None:
            metrics["heads"][h]["linear_only_macro_f1"] = _macro_f1(targets[h], raw.linear[h].argmax(1), h)

    in_review = np.array([p.needs_review for p in preds])
    reasons = Counter(r for p in preds for r in p.review_reasons)
    metrics["review"] = {
        "share": float(in_review.mean()),
        "share_ci95": interval(in_review[samples].mean(1)),
        "reasons": dict(reasons.most_common()),
        "watch": dict(cal.watch),
        "seen_recall": {},
    }
    # kept for readers of earlier metrics files
    metrics["needs_review_rate"] = metrics["review"]["share"]
    for key in dict.fromkeys([*watch_classes, *cal.watch]):
        head, k = parse_class(key)
        true = targets[head] == k
        predicted = final[head].argmax(1) == k
        seen = predicted | in_review
        metrics["review"]["seen_recall"][key] = {
            "value": float(seen[true].mean()) if true.any() else None,
            "ci95": clopper_pearson(int(seen[true].sum()), int(true.sum())),
            "recall_without_review": float(predicted[true].mean()) if true.any() else None,
            "support": int(true.sum()),
            "unseen": int((true & ~seen).sum()),
            "caught_by_watch": int(sum(1 for i in np.flatnonzero(true & ~predicted) if watch_reason(key) in preds[i].review_reasons)),
            "caught_by_rule": int(sum(1 for i in np.flatnonzero(true & ~predicted)
                                      if any(r.startswith(SIGNAL_PREFIX) for r in preds[i].review_reasons))),
        }
        metrics["review"]["seen_recall"][key]["catch_at_share"] = catch_at_share(final[head][:, k], true)
    metrics["ece"] = {h: metrics["heads"][h]["ece_after_calibration"] for h in HEADS}
    metrics["priority"] = priority_shift(rows, preds)
    metrics["by_source"] = _by_source(rows, final, targets, in_review)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False))
    with open(out / "predictions.jsonl", "w", encoding="utf-8") as fh:
        for row, pred in zip(rows, preds):
            fh.write(json.dumps({"id": row["id"], **pred.to_dict()}, ensure_ascii=False) + "\n")
    _write_errors(out / "errors.jsonl", rows, preds)
    if plots:
        write_plots(metrics, final, blended, targets, out)
    (out / "report.md").write_text(render_report(metrics, plots), encoding="utf-8")
    return metrics


def priority_shift(rows: list[dict], preds: list) -> dict:
    """Where the truly P1 items land: the shipped matrix (configs/priority.yaml, no metadata: text alone)
    applied to the gold labels and to the predicted ones. A P1 item placed lower loses its deadline; the
    cause is the model's category (importance), its urgency, or both; ``seen`` counts those sent to review."""
    from datetime import datetime, timezone

    from classifier.priority import PriorityMatrix
    from classifier.resources import default_priority_config

    matrix = PriorityMatrix.from_yaml(default_priority_config())
    at = datetime(2026, 6, 1, tzinfo=timezone.utc)  # deadlines are not compared: any covered date

    def level(category, sentiment, urgency):
        return matrix.assess(category, sentiment, urgency, received_at=at).level

    gold_p1, lower, causes, seen = 0, 0, Counter(), 0
    for row, pred in zip(rows, preds):
        if level(row["category"], row["sentiment"], row["urgency"]) != "P1":
            continue
        gold_p1 += 1
        got = {h: pred.heads[h].label for h in HEADS}
        if level(got["category"], got["sentiment"], got["urgency"]) == "P1":
            continue
        lower += 1
        seen += bool(pred.needs_review)
        wrong = [h for h in ("category", "urgency", "sentiment") if got[h] != row[h]]
        causes[" + ".join(wrong) or "none"] += 1
    return {"gold_p1": gold_p1, "placed_lower": lower, "placed_lower_seen": seen, "causes": dict(causes.most_common())}


def _by_source(rows: list[dict], final: dict, targets: dict, in_review: np.ndarray) -> dict:
    out = {}
    sources = np.array([r.get("source") or "unknown" for r in rows])
    high = LABELS["urgency"].index("high")
    for source in sorted(set(sources)):
        sel = sources == source
        entry = {"rows": int(sel.sum()), "review_share": float(in_review[sel].mean())}
        for h in HEADS:
            pred = final[h][sel].argmax(1)
            entry[f"{h}_accuracy"] = float((pred == targets[h][sel]).mean())
            entry[f"{h}_macro_f1"] = _macro_f1(targets[h][sel], pred, h)
        true_high = targets["urgency"][sel] == high
        entry["high_support"] = int(true_high.sum())
        if true_high.any():
            seen = (final["urgency"][sel].argmax(1) == high) | in_review[sel]
            entry["high_seen_recall"] = float(seen[true_high].mean())
        out[source] = entry
    return out


def _write_errors(path: Path, rows: list[dict], preds: list) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row, pred in zip(rows, preds):
            for h in HEADS:
                hp = pred.heads[h]
                if hp.label == row[h]:
                    continue
                fh.write(json.dumps({
                    "id": row["id"], "source": row.get("source"), "head": h, "text": row["text"],
                    "gold": row[h], "predicted": hp.label, "confidence": round(hp.confidence, 4),
                    "gold_probability": round(hp.scores[row[h]], 4),
                    "gold_labels": {k: row[k] for k in HEADS},
                    "predicted_labels": {k: pred.heads[k].label for k in HEADS},
                    "needs_review": pred.needs_review, "review_reasons": pred.review_reasons,
                }, ensure_ascii=False) + "\n")


# --- several bundles side by side ---------------------------------------------------------------
def compare(bundles: Sequence[str | Path], data_files: Sequence[str | Path], out_dir: str | Path,
            plots: bool = False) -> tuple[dict, dict | None]:
    """Evaluate every bundle on every file into ``out_dir/<bundle>/<data>/``; write comparison.md/.json.
    Returns (metrics per file and bundle, the paired intervals per file when there are two bundles)."""
    out = Path(out_dir)
    names = _unique_names([Path(b).name for b in bundles])
    data_names = _unique_names([Path(d).stem for d in data_files])
    results: dict = {}
    for bundle, name in zip(bundles, names):
        clf = Classifier.load(bundle)
        for data, dname in zip(data_files, data_names):
            results.setdefault(dname, {})[name] = evaluate_bundle(bundle, data, out / name / dname, plots=plots, clf=clf)
    paired = paired_comparison(out, names, data_files, data_names) if len(names) == 2 else None
    if paired:
        (out / "paired_differences.json").write_text(json.dumps(paired, indent=1))
    (out / "comparison.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (out / "comparison.md").write_text(render_comparison(results, paired), encoding="utf-8")
    return results, paired


def predicted_labels(eval_dir: Path) -> dict[str, np.ndarray]:
    """Label indices per head that ``evaluate_bundle`` wrote to ``eval_dir`` (in the data file's order)."""
    with (eval_dir / "predictions.jsonl").open(encoding="utf-8") as fh:
        preds = [json.loads(line) for line in fh if line.strip()]
    return {h: np.array([label_index(h, p[h]["label"]) for p in preds]) for h in HEADS}


def paired_comparison(out: Path, names: Sequence[str], data_files: Sequence[str | Path],
                      data_names: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """Per file, the paired 95 % interval of (second bundle − first) macro-F1 per head, from the
    predictions ``compare`` wrote (training/stats.py: paired_differences)."""
    paired = {}
    for data, dname in zip(data_files, data_names):
        gold = {h: np.array([label_index(h, r[h]) for r in read_labelled(data)]) for h in HEADS}
        first, second = (predicted_labels(out / name / dname) for name in names)
        paired[dname] = paired_differences(gold, first, second)
    return paired


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


