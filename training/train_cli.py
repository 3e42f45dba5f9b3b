"""``triage train --config FILE``: fine-tune the three-head model (and the TF-IDF baseline)."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

LINEAR_FILE = "linear.npz"


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tune the three-head transformer on labelled data")
    p.add_argument("--config", type=Path, required=True, help="training YAML (see configs/train.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from output_dir/last.pt")
    p.add_argument("--export", type=Path, default=None, help="also export a bundle to this directory")
    p.add_argument("--name", default="model", help="bundle name used in the model version (with --export)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from training.arguments import TrainConfig
    from training.trainer import train

    cfg = TrainConfig.from_yaml(args.config)
    summary = train(cfg, resume=args.resume)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    if cfg.baseline:
        fit_run_baseline(cfg)
    if args.export:
        from training.export_cli import export_run

        export_run(Path(cfg.output_dir), args.export, args.name)
    return 0


def fit_run_baseline(cfg) -> None:
    from training.baseline import evaluate_baseline, export_linear, tune_baseline
    from training.data import read_labelled, read_labelled_files

    train_rows = read_labelled_files(cfg.train_files)[: cfg.max_train_rows]
    dev_rows = read_labelled(cfg.dev_file)[: cfg.max_dev_rows]
    model, _ = tune_baseline(train_rows, dev_rows, tuple(cfg.baseline_c_grid))
    export_linear(model, Path(cfg.output_dir) / LINEAR_FILE)
    metrics = evaluate_baseline(model, dev_rows)
    (Path(cfg.output_dir) / "baseline_metrics.json").write_text(json.dumps(metrics, indent=1))
    print("baseline dev macro-F1: " + json.dumps({h: round(m["macro_f1"], 4) for h, m in metrics.items() if h != "n"}))
