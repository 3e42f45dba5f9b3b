"""``triage evaluate --bundle DIR --data FILE --out DIR``."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate a bundle on a labelled file (metrics, predictions, plots, report)")
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="labelled file (JSONL/CSV/Excel/Parquet)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_bundle

    metrics = evaluate_bundle(args.bundle, args.data, args.out, plots=not args.no_plots)
    for head, m in metrics["heads"].items():
        print(f"{head:10s} accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
              f"ECE {m['ece_before_calibration']:.3f} -> {m['ece_after_calibration']:.3f}  "
              f"coverage {m['abstention']['coverage']:.1%}")
    print(f"wrote {args.out}/metrics.json, predictions.jsonl, report.md")
    return 0
