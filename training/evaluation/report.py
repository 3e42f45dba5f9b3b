"""What an evaluation writes for people: report.md of one bundle on one file, comparison.md of several
side by side, and the confusion and reliability plots."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.labels import HEADS, LABELS


def ci_text(ci: list[float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def priority_lines(p: dict | None) -> list[str]:
    if not p:
        return []
    causes = ", ".join(f"{k} {v}" for k, v in p["causes"].items()) or "—"
    return [f"Priority matrix (text alone, configs/priority.yaml): {p['gold_p1']} items are P1 by their true labels; "
            f"{p['placed_lower']} are placed lower by the predicted labels (wrong head: {causes}), "
            f"{p['placed_lower_seen']} of those sent to review."]


def render_comparison(results: dict, paired: dict | None = None) -> str:
    return "\n".join(["# Bundles side by side", "", *comparison_lines(results, paired, level="##")]) + "\n"


def comparison_lines(results: dict, paired: dict | None = None, level: str = "##") -> list[str]:
    """The side-by-side tables (one per file, headings at ``level``); with ``paired`` (two bundles), each
    file's paired interval of the second bundle's macro-F1 minus the first's, and where the truly P1
    items land."""
    lines = ["Per-class F1 with bootstrap 95 % intervals; *seen recall*: predicted as the class or sent to review "
             "(exact binomial 95 % interval).", ""]
    for dname, by_bundle in results.items():
        first = next(iter(by_bundle.values()))
        lines += [f"{level} `{first['data_file']}` ({first['rows']} rows)", ""]
        names = list(by_bundle)
        lines += ["| | " + " | ".join(f"`{n}` ({by_bundle[n]['model_version']})" for n in names) + " |",
                  "|---|" + "---|" * len(names)]

        def row(label, fn):
            lines.append(f"| {label} | " + " | ".join(fn(by_bundle[n]) for n in names) + " |")

        for h in HEADS:
            row(f"**{h}** macro-F1", lambda m, h=h: f"**{m['heads'][h]['macro_f1']:.3f}** {ci_text(m['heads'][h]['macro_f1_ci95'])}")
            for lab in LABELS[h]:
                row(f"{h} `{lab}` F1", lambda m, h=h, lab=lab: (
                    f"{m['heads'][h]['per_class'][lab]['f1']:.3f} {ci_text(m['heads'][h]['per_class'][lab]['f1_ci95'])} "
                    f"(n={m['heads'][h]['per_class'][lab]['support']})"))
            row(f"{h} ECE", lambda m, h=h: f"{m['heads'][h]['ece_after_calibration']:.3f}")
        for key in dict.fromkeys(k for m in by_bundle.values() for k in m["review"]["seen_recall"]):
            def seen(m, key=key):
                s = m["review"]["seen_recall"].get(key)
                if not s or s["value"] is None:
                    return "—"
                return (f"**{s['value']:.3f}** {ci_text(s['ci95'])} ({s['support'] - s['unseen']}/{s['support']}; "
                        f"without review {s['recall_without_review']:.3f})")
            row(f"seen recall `{key}`", seen)
        row("review share", lambda m: f"{m['review']['share']:.1%} {ci_text([100 * x for x in m['review']['share_ci95']]).replace(']', ' %]')}")
        lines.append("")
        if paired and dname in paired:
            diff = ", ".join(f"{h} {lo:+.3f} … {hi:+.3f}" for h, (lo, hi) in paired[dname].items())
            lines += [f"Paired 95 % interval of `{names[1]}` − `{names[0]}` macro-F1 (the same resampled rows): {diff}.", ""]
        for n in names:
            p = by_bundle[n].get("priority")
            if p and p.get("gold_p1"):
                causes = ", ".join(f"{k} {v}" for k, v in p.get("causes", {}).items()) or "none"
                lines.append(f"- `{n}`: {p['placed_lower']} of {p['gold_p1']} truly P1 items placed lower by the predicted "
                             f"labels (wrong head: {causes}), {p['placed_lower_seen']} of those sent to review.")
        lines.append("")
    return lines


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
             f"{review['share']:.1%} {ci_text([100 * x for x in review['share_ci95']])} %; reasons: "
             + (", ".join(f"{k} {v}" for k, v in review["reasons"].items()) or "none") + ".", "",
             "Intervals: bootstrap 95 % over the rows of this file; for seen recall the exact binomial 95 % interval.", "",
             "## Urgent and regulatory items", "",
             "| class | seen recall (predicted or reviewed) | recall without review | support | unseen | caught by watch | caught by a rule signal |",
             "|---|---|---|---|---|---|---|"]
    for key, s in review["seen_recall"].items():
        if s["value"] is None:
            lines.append(f"| `{key}` | — | — | 0 | 0 | 0 | 0 |")
            continue
        lines.append(f"| `{key}` | {s['value']:.3f} {ci_text(s['ci95'])} | {s['recall_without_review']:.3f} | {s['support']} | "
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
            f"| {h} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} {ci_text(m['macro_f1_ci95'])} | {m['transformer_only_macro_f1']:.3f} | "
            f"{'—' if lin is None else f'{lin:.3f}'} | {m['ece_before_calibration']:.3f} → {m['ece_after_calibration']:.3f} | "
            f"{ab['coverage']:.1%} (≥ {ab['threshold']:.2f}) | {'—' if acc_cov is None else f'{acc_cov:.3f}'} |")
    for h, m in metrics["heads"].items():
        labels = LABELS[h]
        lines += ["", f"### {h}", "", "| class | precision | recall | F1 (95 % interval) | support |", "|---|---|---|---|---|"]
        for lab, c in m["per_class"].items():
            lines.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} {ci_text(c['f1_ci95'])} | {c['support']} |")
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
