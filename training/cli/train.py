"""``triage train --config FILE [--fold K/N]``: fine-tune the three-head model (and the TF-IDF baseline)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tune the three-head transformer on labelled data")
    p.add_argument("--config", type=Path, required=True, help="training YAML (see configs/train.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from output_dir/last.pt")
    p.add_argument("--fold", type=fold, default=None, metavar="K/N",
                   help="cross-fitting: train without fold K of N of the training rows and score that fold "
                        "(output_dir gets the suffix -foldKofN); export --crossfit fits calibration and the "
                        "review policy on these out-of-fold scores")
    p.add_argument("--export", type=Path, default=None, help="also export a bundle to this directory")
    p.add_argument("--name", default="model", help="bundle name used in the model version (with --export)")
    p.set_defaults(func=run)


def fold(value: str) -> tuple[int, int]:
    """argparse type of ``--fold K/N`` (train and distill)."""
    k, sep, n = value.partition("/")
    try:
        k_i, n_i = int(k), int(n)
    except ValueError:
        k_i = n_i = -1
    if not sep or not (n_i >= 2 and 0 <= k_i < n_i):
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N and N >= 2, got {value!r}")
    return k_i, n_i


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from training import pipeline
    from training.config import TrainConfig
    from training.run_dir import fold_run_dir

    cfg = TrainConfig.from_yaml(args.config)
    if args.fold:
        cfg.cv_fold, cfg.cv_folds = args.fold
        cfg.output_dir = str(fold_run_dir(cfg.output_dir, *args.fold))
        cfg.__post_init__()
    pipeline.run(cfg, resume=args.resume, export=args.export, name=args.name)
    return 0
