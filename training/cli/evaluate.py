"""``triage evaluate --bundle DIR [--bundle OLD] [--data FILE ...] --out DIR``."""
from __future__ import annotations

import argparse
from pathlib import Path

from classifier.resources import resource_path

DEFAULT_DATA = resource_path("data/labeled/test.jsonl")  # the checkout's, from any working directory


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate bundles on labelled files (metrics with intervals, seen recall, predictions, errors, report)",
        description="Evaluate one or more bundles on one or more labelled files. With several of either, each "
        "pair goes to OUT/<bundle>/<data>/ and OUT/comparison.md shows them side by side.",
    )
    p.add_argument("--bundle", type=Path, action="append", required=True, help="bundle directory (repeatable)")
    p.add_argument("--data", type=Path, action="append", default=None,
                   help=f"labelled file (JSONL/CSV/Excel/Parquet; repeatable); default {DEFAULT_DATA}, the held-out test split")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--card", action="store_true",
                   help="write the numbers into the bundle's model card: with one bundle and one file, its held-out "
                   "section and test_metrics.json; with two bundles (the previous first), the side-by-side tables "
                   "and paired intervals on every file into the second bundle's card")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from training.evaluation.evaluate import compare, evaluate_bundle
    from training.evaluation.model_card import attach_comparison_to_card, attach_to_card

    data = args.data or [DEFAULT_DATA]
    if args.card and not (len(args.bundle) == 2 or (len(args.bundle) == 1 and len(data) == 1)):
        print("triage evaluate: --card takes one --bundle and one --data file, or two bundles (the previous one "
              "first) and any files", file=sys.stderr)
        return 2
    if len(args.bundle) == 1 and len(data) == 1:
        results = {data[0].stem: {args.bundle[0].name: evaluate_bundle(args.bundle[0], data[0], args.out,
                                                                       plots=not args.no_plots)}}
        written = f"{args.out}/metrics.json, predictions.jsonl, errors.jsonl, report.md"
        if args.card:
            attach_to_card(args.bundle[0], results[data[0].stem][args.bundle[0].name])
            written += f"; {args.bundle[0]}/MODEL_CARD.md and test_metrics.json"
    else:
        results, paired = compare(args.bundle, data, args.out, plots=not args.no_plots)
        written = f"{args.out}/comparison.md and one folder per bundle and file"
        if args.card:
            attach_comparison_to_card(args.bundle[1], results, paired)
            written += f"; {args.bundle[1]}/MODEL_CARD.md"
    for dname, by_bundle in results.items():
        for bname, m in by_bundle.items():
            print(f"{bname} on {dname} ({m['rows']} rows): review share {m['review']['share']:.1%}")
            for head, h in m["heads"].items():
                lo, hi = h["macro_f1_ci95"]
                print(f"  {head:10s} macro-F1 {h['macro_f1']:.3f} [{lo:.3f}, {hi:.3f}]  accuracy {h['accuracy']:.3f}  "
                      f"ECE {h['ece_after_calibration']:.3f}")
            for key, s in m["review"]["seen_recall"].items():
                if s["value"] is not None:
                    lo, hi = s["ci95"]
                    print(f"  seen recall {key:24s} {s['value']:.3f} [{lo:.3f}, {hi:.3f}] "
                          f"({s['support'] - s['unseen']}/{s['support']})")
    print(f"wrote {written}")
    return 0
