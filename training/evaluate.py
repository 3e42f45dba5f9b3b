"""Evaluation of a bundle on a labelled file: metrics.json, predictions.jsonl, plots and report.md."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from classifier.bundle import Calibration
from classifier.calibration import blend, expected_calibration_error
from classifier.labels import HEADS, LABELS, label_index
from classifier.runtime import Classifier, RawScores
from training.data import read_labelled


def head_metrics(probs_raw: np.ndarray, probs_final: np.ndarray, targets: np.ndarray, head: str, threshold: float) -> dict:
    labels = LABELS[head]
    pred = probs_final.argmax(1)
    p, r, f, s = precision_recall_fscore_support(targets, pred, labels=list(range(len(labels))), zero_division=0)
    conf = probs_final.max(1)
    accepted = conf >= threshold
    return {
        "accuracy": float(accuracy_score(targets, pred)),
        "macro_f1": float(f1_score(targets, pred, average="macro", labels=list(range(len(labels))), zero_division=0)),
        "per_class": {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, lab in enumerate(labels)},
        "ece_before_calibration": expected_calibration_error(probs_raw, targets),
        "ece_after_calibration": expected_calibration_error(probs_final, targets),
        "abstention": {
            "threshold": threshold,
            "coverage": float(accepted.mean()),
            "accuracy_on_covered": float((pred[accepted] == targets[accepted]).mean()) if accepted.any() else None,
        },
        "confusion_matrix": confusion_matrix(targets, pred, labels=list(range(len(labels)))).tolist(),
    }


def _raw_blended(raw: RawScores, cal: Calibration, head: str) -> np.ndarray:
    return blend(raw.transformer[head], raw.linear[head] if raw.linear else None, cal.blend[head])


def evaluate_bundle(bundle_dir: str | Path, data_file: str | Path, out_dir: str | Path, plots: bool = True) -> dict:
    clf = Classifier.load(bundle_dir)
    rows = read_labelled(data_file)
    texts = [r["text"] for r in rows]
    raw = clf.raw_scores(texts)
    preds = clf.finalize(raw)
    cal = clf.bundle.calibration
    targets = {h: np.array([label_index(h, r[h]) for r in rows]) for h in HEADS}
    final = {h: np.array([[p.heads[h].scores[lab] for lab in LABELS[h]] for p in preds]) for h in HEADS}

    blended = {h: _raw_blended(raw, cal, h) for h in HEADS}  # before temperature scaling
    metrics: dict = {"model_version": clf.model_version, "data_file": str(data_file), "rows": len(rows), "heads": {}}
    for h in HEADS:
        metrics["heads"][h] = head_metrics(blended[h], final[h], targets[h], h, cal.thresholds[h])
        metrics["heads"][h]["transformer_only_macro_f1"] = float(
            f1_score(targets[h], raw.transformer[h].argmax(1), average="macro", labels=list(range(len(LABELS[h]))), zero_division=0))
        if raw.linear is not None:
            metrics["heads"][h]["linear_only_macro_f1"] = float(
                f1_score(targets[h], raw.linear[h].argmax(1), average="macro", labels=list(range(len(LABELS[h]))), zero_division=0))
    metrics["needs_review_rate"] = float(np.mean([p.needs_review for p in preds]))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False))
    with open(out / "predictions.jsonl", "w", encoding="utf-8") as fh:
        for row, pred in zip(rows, preds):
            fh.write(json.dumps({"id": row["id"], **pred.to_dict()}, ensure_ascii=False) + "\n")
    if plots:
        write_plots(metrics, final, blended, targets, out)
    (out / "report.md").write_text(render_report(metrics, plots), encoding="utf-8")
    return metrics


def write_plots(metrics: dict, final: dict, raw: dict, targets: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for h in HEADS:
        labels = LABELS[h]
        cm = np.array(metrics["heads"][h]["confusion_matrix"])
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, cm[i, j], ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{h}: confusion matrix")
        fig.tight_layout()
        fig.savefig(out / f"confusion_{h}.png", dpi=110)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(4.5, 4))
        edges = np.linspace(0, 1, 11)
        for name, probs in (("before", raw[h]), ("after", final[h])):
            conf, correct = probs.max(1), probs.argmax(1) == targets[h]
            xs, ys = [], []
            for lo, hi in zip(edges[:-1], edges[1:]):
                sel = (conf > lo) & (conf <= hi)
                if sel.sum() >= 5:
                    xs.append(conf[sel].mean())
                    ys.append(correct[sel].mean())
            ax.plot(xs, ys, marker="o", label=f"{name} calibration")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{h}: reliability")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(out / f"reliability_{h}.png", dpi=110)
        plt.close(fig)


def render_report(metrics: dict, plots: bool = True) -> str:
    lines = [f"# Evaluation of `{metrics['model_version']}`", "",
             f"Data: `{metrics['data_file']}` ({metrics['rows']} rows). Items sent to review: "
             f"{metrics['needs_review_rate']:.1%}.", "",
             "| head | accuracy | macro-F1 | transformer only | TF-IDF only | ECE before → after | coverage at threshold | accuracy on covered |",
             "|---|---|---|---|---|---|---|---|"]
    for h, m in metrics["heads"].items():
        ab = m["abstention"]
        lin = m.get("linear_only_macro_f1")
        acc_cov = ab["accuracy_on_covered"]
        lines.append(
            f"| {h} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['transformer_only_macro_f1']:.3f} | "
            f"{'—' if lin is None else f'{lin:.3f}'} | {m['ece_before_calibration']:.3f} → {m['ece_after_calibration']:.3f} | "
            f"{ab['coverage']:.1%} (≥ {ab['threshold']:.2f}) | {'—' if acc_cov is None else f'{acc_cov:.3f}'} |")
    for h, m in metrics["heads"].items():
        lines += ["", f"## {h}", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for lab, c in m["per_class"].items():
            lines.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
        if plots:
            lines += ["", f"![confusion](confusion_{h}.png) ![reliability](reliability_{h}.png)"]
    return "\n".join(lines) + "\n"
