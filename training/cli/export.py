"""``triage export --run DIR --out BUNDLE [--crossfit RUN ...]``: ONNX int8 bundle from a training run."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a training run to an ONNX int8 model bundle")
    p.add_argument("--run", type=Path, required=True, help="training output_dir (holds best/ and train_config.yaml)")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to write (replaced)")
    p.add_argument("--name", default="model", help="name used in the model version")
    p.add_argument("--no-linear", action="store_true", help="do not blend the run's TF-IDF model into the bundle")
    p.add_argument("--min-agreement", type=float, default=None, help="ONNX/PyTorch label agreement required (default 0.995)")
    p.add_argument("--crossfit", type=Path, nargs="*", default=[], metavar="RUN",
                   help="cross-fitting runs (triage train --fold K/N): fit calibration and the review policy on "
                        "their out-of-fold scores as well as on dev")
    p.add_argument("--review-config", type=Path, default=None,
                   help="review policy targets (default configs/review.yaml)")
    p.add_argument("--fuse", action="store_true",
                   help="run ONNX Runtime's transformer fusions (attention, skip-LayerNorm, bias-GELU) before quantization "
                        "(measured 0.90x the unfused int8 graph on CPU: bench/bench_fusion.py)")
    p.add_argument("--fp32-order", choices=("sensitivity", "fixed"), default="sensitivity",
                   help="which MatMuls stay fp32 first when int8 parity fails: measured per node (default) or the fixed "
                        "order (FFN output projections, then bottom-up)")
    g = p.add_argument_group("release rule (distilled students; distill.guard_* in the run's config)")
    g.add_argument("--guard-reference", type=Path, default=None, metavar="BUNDLE",
                   help="the default bundle the student must keep up with, scored on each guard file (paired intervals)")
    g.add_argument("--guard-teacher", type=Path, default=None, metavar="METRICS",
                   help="instead of a reference bundle, on one guard file: the teacher's metrics there (`triage teacher "
                        "--data data/labeled/test.jsonl` writes test.metrics.json); or distill.teacher_metrics")
    g.add_argument("--guard-ratio", type=float, default=None,
                   help="per head the student's macro-F1 must be at least this × the reference's "
                        "(default distill.guard_ratio, 0.97)")
    g.add_argument("--guard-data", type=Path, nargs="+", default=[], metavar="FILE",
                   help="the guard files, the rule applied on each (default data/labeled/test.jsonl and test_hard.jsonl)")
    g.add_argument("--no-guard", action="store_true", help="export a distilled run without the guard (not a default candidate)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.pipeline import export_run

    report = export_run(args.run, args.out, args.name, linear=not args.no_linear, min_agreement=args.min_agreement,
                        crossfit=args.crossfit, review_config=args.review_config, fuse=args.fuse,
                        guard_teacher=args.guard_teacher, guard_ratio=args.guard_ratio,
                        guard_data=args.guard_data, guard_reference=args.guard_reference, no_guard=args.no_guard,
                        fp32_order=args.fp32_order)
    policy = report["calibration"]["review_policy"]
    print(json.dumps({"model_version": report["model_version"], "parity": report["parity"],
                      "dev_macro_f1": report["dev_macro_f1"], "bundle_mb": report["bundle_mb"],
                      "review_policy": {k: policy[k] for k in ("thresholds", "watch", "review_share", "seen_recall",
                                                               "targets_met", "fitting_rows")},
                      **({"quality_guard": report["quality_guard"]} if "quality_guard" in report else {})}, indent=1))
    if policy.get("warning"):
        print("warning: " + policy["warning"])
    if "quality_guard" in report:
        from training.evaluation.release_guard import verdict_lines

        print("\n".join(verdict_lines(report["quality_guard"])))
    return 0
