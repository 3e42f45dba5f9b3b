"""Evaluation of bundles on labelled files: metrics.json, predictions.jsonl, errors.jsonl, plots, report.md.

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
from training.stats import (BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, class_f1, class_f1_bootstrap, clopper_pearson, interval,
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


# --- the bundle's model card ----------------------------------------------------------------------
def attach_to_card(bundle_dir: str | Path, metrics: dict) -> None:
    """Write the held-out numbers into the bundle: ``test_metrics.json`` and the model card's test
    section; the manifest is rewritten (the model version, which hashes model.onnx, stays)."""
    from training.export import TEST_SECTION_END, TEST_SECTION_START
    from training.model_card import replace_card_section

    bundle = Path(bundle_dir)
    summary = {k: v for k, v in metrics.items() if k != "by_source"}
    (bundle / "test_metrics.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    replace_card_section(bundle, TEST_SECTION_START, TEST_SECTION_END, _card_section(metrics))


def _card_section(m: dict) -> list[str]:
    review = m["review"]
    lines = ["## Held-out test split", "",
             f"`{m['data_file']}`, {m['rows']} rows that no fitting step read; bootstrap 95 % intervals (seen recall: exact binomial).", "",
             "| head | macro-F1 | per-class F1 | ECE |", "|---|---|---|---|"]
    for h, hm in m["heads"].items():
        per = ", ".join(f"{lab} {c['f1']:.2f} {_ci(c['f1_ci95'])} (n={c['support']})" for lab, c in hm["per_class"].items())
        lines.append(f"| {h} | {hm['macro_f1']:.3f} {_ci(hm['macro_f1_ci95'])} | {per} | {hm['ece_after_calibration']:.3f} |")
    lines += ["", f"Review share {review['share']:.1%} {_ci([100 * x for x in review['share_ci95']])} %. Seen recall "
              "(predicted as the class or sent to review):", ""]
    for key, s in review["seen_recall"].items():
        if s["value"] is not None:
            lines.append(f"- `{key}`: {s['value']:.3f} {_ci(s['ci95'])} ({s['support'] - s['unseen']}/{s['support']}; "
                         f"{s['recall_without_review']:.3f} without review)")
    lines += ["", *priority_lines(m.get("priority"))]
    return lines


def priority_lines(p: dict | None) -> list[str]:
    if not p:
        return []
    causes = ", ".join(f"{k} {v}" for k, v in p["causes"].items()) or "—"
    return [f"Priority matrix (text alone, configs/priority.yaml): {p['gold_p1']} items are P1 by their true labels; "
            f"{p['placed_lower']} are placed lower by the predicted labels (wrong head: {causes}), "
            f"{p['placed_lower_seen']} of those sent to review."]


# --- several bundles side by side ---------------------------------------------------------------
def compare(bundles: Sequence[str | Path], data_files: Sequence[str | Path], out_dir: str | Path, plots: bool = False) -> dict:
    """Evaluate every bundle on every file into ``out_dir/<bundle>/<data>/``; write comparison.md/.json."""
    out = Path(out_dir)
    names = _unique_names([Path(b).name for b in bundles])
    data_names = _unique_names([Path(d).stem for d in data_files])
    results: dict = {}
    for bundle, name in zip(bundles, names):
        clf = Classifier.load(bundle)
        for data, dname in zip(data_files, data_names):
            results.setdefault(dname, {})[name] = evaluate_bundle(bundle, data, out / name / dname, plots=plots, clf=clf)
    (out / "comparison.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (out / "comparison.md").write_text(render_comparison(results), encoding="utf-8")
    return results


def _unique_names(names: list[str]) -> list[str]:
    seen: Counter = Counter()
    out = []
    for n in names:
        seen[n] += 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def _ci(ci: list[float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def render_comparison(results: dict) -> str:
    lines = ["# Bundles side by side", "",
             "Per-class F1 with bootstrap 95 % intervals; *seen recall*: predicted as the class or sent to review "
             "(exact binomial 95 % interval).", ""]
    for dname, by_bundle in results.items():
        first = next(iter(by_bundle.values()))
        lines += [f"## `{first['data_file']}` ({first['rows']} rows)", ""]
        names = list(by_bundle)
        lines += ["| | " + " | ".join(f"`{n}` ({by_bundle[n]['model_version']})" for n in names) + " |",
                  "|---|" + "---|" * len(names)]

        def row(label, fn):
            lines.append(f"| {label} | " + " | ".join(fn(by_bundle[n]) for n in names) + " |")

        for h in HEADS:
            row(f"**{h}** macro-F1", lambda m, h=h: f"**{m['heads'][h]['macro_f1']:.3f}** {_ci(m['heads'][h]['macro_f1_ci95'])}")
            for lab in LABELS[h]:
                row(f"{h} `{lab}` F1", lambda m, h=h, lab=lab: (
                    f"{m['heads'][h]['per_class'][lab]['f1']:.3f} {_ci(m['heads'][h]['per_class'][lab]['f1_ci95'])} "
                    f"(n={m['heads'][h]['per_class'][lab]['support']})"))
            row(f"{h} ECE", lambda m, h=h: f"{m['heads'][h]['ece_after_calibration']:.3f}")
        for key in dict.fromkeys(k for m in by_bundle.values() for k in m["review"]["seen_recall"]):
            def seen(m, key=key):
                s = m["review"]["seen_recall"].get(key)
                if not s or s["value"] is None:
                    return "—"
                return (f"**{s['value']:.3f}** {_ci(s['ci95'])} ({s['support'] - s['unseen']}/{s['support']}; "
                        f"without review {s['recall_without_review']:.3f})")
            row(f"seen recall `{key}`", seen)
        row("review share", lambda m: f"{m['review']['share']:.1%} {_ci([100 * x for x in m['review']['share_ci95']]).replace(']', ' %]')}")
        lines.append("")
    return "\n".join(lines) + "\n"


# --- plots and report -----------------------------------------------------------------------------
def write_plots(metrics: dict, final: dict, raw: dict, targets: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for h in HEADS:
        labels = LABELS[h]
        cm = np.array(metrics["heads"][h]["confusion_matrix_row_normalised"])
        counts = np.array(metrics["heads"][h]["confusion_matrix"])
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{cm[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true (rows sum to 1)")
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
    review = metrics["review"]
    lines = [f"# Evaluation of `{metrics['model_version']}`", "",
             f"Data: `{metrics['data_file']}` ({metrics['rows']} rows). Items sent to review: "
             f"{review['share']:.1%} {_ci([100 * x for x in review['share_ci95']])} %; reasons: "
             + (", ".join(f"{k} {v}" for k, v in review["reasons"].items()) or "none") + ".", "",
             "Intervals: bootstrap 95 % over the rows of this file; for seen recall the exact binomial 95 % interval.", "",
             "## Urgent and regulatory items", "",
             "| class | seen recall (predicted or reviewed) | recall without review | support | unseen | caught by watch | caught by a rule signal |",
             "|---|---|---|---|---|---|---|"]
    for key, s in review["seen_recall"].items():
        if s["value"] is None:
            lines.append(f"| `{key}` | — | — | 0 | 0 | 0 | 0 |")
            continue
        lines.append(f"| `{key}` | {s['value']:.3f} {_ci(s['ci95'])} | {s['recall_without_review']:.3f} | {s['support']} | "
                     f"{s['unseen']} | {s['caught_by_watch']} | {s.get('caught_by_rule', 0)} |")
    lines += ["", "Ranking: share of the class's items among the items with the highest probability of it "
              "(what reviewing that share by this score alone would catch):", ""]
    for key, s in review["seen_recall"].items():
        if s.get("catch_at_share") and s["value"] is not None:
            lines.append(f"- `{key}`: " + ", ".join(f"top {float(k):.0%} → {v:.2f}" for k, v in s["catch_at_share"].items()))
    lines += ["", *priority_lines(metrics.get("priority"))]
    lines += ["", "## Heads", "",
              "| head | accuracy | macro-F1 | transformer only | TF-IDF only | ECE before → after | coverage at threshold | accuracy on covered |",
              "|---|---|---|---|---|---|---|---|"]
    for h, m in metrics["heads"].items():
        ab = m["abstention"]
        lin = m.get("linear_only_macro_f1")
        acc_cov = ab["accuracy_on_covered"]
        lines.append(
            f"| {h} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} {_ci(m['macro_f1_ci95'])} | {m['transformer_only_macro_f1']:.3f} | "
            f"{'—' if lin is None else f'{lin:.3f}'} | {m['ece_before_calibration']:.3f} → {m['ece_after_calibration']:.3f} | "
            f"{ab['coverage']:.1%} (≥ {ab['threshold']:.2f}) | {'—' if acc_cov is None else f'{acc_cov:.3f}'} |")
    for h, m in metrics["heads"].items():
        labels = LABELS[h]
        lines += ["", f"### {h}", "", "| class | precision | recall | F1 (95 % interval) | support |", "|---|---|---|---|---|"]
        for lab, c in m["per_class"].items():
            lines.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} {_ci(c['f1_ci95'])} | {c['support']} |")
        lines += ["", "Confusion (rows: true, normalised; columns: predicted)", "",
                  "| true \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        for lab, r in zip(labels, m["confusion_matrix_row_normalised"]):
            lines.append(f"| {lab} | " + " | ".join(f"{v:.2f}" for v in r) + " |")
        if plots:
            lines += ["", f"![confusion](confusion_{h}.png) ![reliability](reliability_{h}.png)"]
    lines += ["", "## By source", "", "| source | rows | category F1 | sentiment F1 | urgency F1 | high seen | review share |",
              "|---|---|---|---|---|---|---|"]
    for source, e in metrics["by_source"].items():
        high = f"{e['high_seen_recall']:.2f} (n={e['high_support']})" if "high_seen_recall" in e else "—"
        lines.append(f"| {source} | {e['rows']} | {e['category_macro_f1']:.3f} | {e['sentiment_macro_f1']:.3f} | "
                     f"{e['urgency_macro_f1']:.3f} | {high} | {e['review_share']:.1%} |")
    return "\n".join(lines) + "\n"
