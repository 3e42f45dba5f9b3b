"""``triage baseline``: fit the TF-IDF + logistic-regression baseline, report dev metrics, export it."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "baseline",
        help="fit the TF-IDF + logistic regression baseline and export linear.npz",
        description="Fit jieba-word + char n-gram TF-IDF and one logistic regression per head on --train, "
        "choose C per head by dev macro-F1, print dev metrics, write DIR/linear.npz and "
        "DIR/baseline_metrics.json.",
    )
    p.add_argument("--train", required=True, type=Path, help="labelled training file")
    p.add_argument("--dev", required=True, type=Path, help="labelled dev file (C selection and metrics)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--c-grid", default="1,4,10", help="comma-separated C values tried per head (default 1,4,10)")
    p.add_argument("--max-features", type=int, default=60000, help="max terms per vectorizer (default 60000)")
    p.add_argument("--min-df", type=int, default=2)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from classifier.labels import HEADS, LABELS
    from training.fitting.baseline import BaselineConfig, evaluate_baseline, export_linear, tune_baseline
    from training.data.schema import read_labelled

    start = time.perf_counter()
    from training.data.splits import guard_fitting_rows

    train_rows, dev_rows = read_labelled(args.train), read_labelled(args.dev)
    guard_fitting_rows(train_rows, "training data")
    guard_fitting_rows(dev_rows, "dev data (C selection)")
    c_grid = [float(c) for c in args.c_grid.split(",") if c.strip()]
    config = BaselineConfig(max_features=args.max_features, min_df=args.min_df)
    print(f"train {len(train_rows)} rows, dev {len(dev_rows)} rows; C grid {c_grid}")
    model, trials = tune_baseline(train_rows, dev_rows, c_grid, config, report=print)
    fit_s = time.perf_counter() - start
    metrics = evaluate_baseline(model, dev_rows)

    print(f"\nchosen C: {model.config.C}; {model.n_features} features")
    print(f"{'head':10s} {'acc':>7s} {'macroF1':>8s} {'majorityF1':>10s}   per-class F1")
    for head in HEADS:
        m = metrics[head]
        per = "  ".join(f"{lab}={m['per_class'][lab]['f1']:.3f}" for lab in LABELS[head])
        print(f"{head:10s} {m['accuracy']:7.4f} {m['macro_f1']:8.4f} {m['majority_macro_f1']:10.4f}   {per}")

    args.out.mkdir(parents=True, exist_ok=True)
    npz = export_linear(model, args.out / "linear.npz", extra_meta={"n_train": len(train_rows)})
    report = {
        "train_file": str(args.train),
        "dev_file": str(args.dev),
        "n_train": len(train_rows),
        "n_dev": len(dev_rows),
        "config": model.config.to_dict(),
        "n_features": model.n_features,
        "tuning": trials,
        "dev": metrics,
        "fit_seconds": round(fit_s, 1),
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    (args.out / "baseline_metrics.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nwrote {npz} ({npz.stat().st_size / 1e6:.1f} MB) and {args.out / 'baseline_metrics.json'} "
          f"in {report['total_seconds']}s")
    return 0
