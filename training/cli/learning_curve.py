"""``triage learning-curve --out DIR [--runs RUN ...]``: rare-class dev F1 against training examples."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("learning-curve", help="rare-class dev F1 against the number of training examples")
    p.add_argument("--train", type=Path, default=Path("data/labeled/train.jsonl"))
    p.add_argument("--dev", type=Path, default=Path("data/labeled/dev.jsonl"))
    p.add_argument("--runs", type=Path, nargs="*", default=[],
                   help="transformer runs to add as points (full run and cross-fitting folds)")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.data.schema import read_labelled
    from training.evaluation.learning_curve import linear_curve, render, run_points, write_report

    train_rows, dev_rows = read_labelled(args.train), read_labelled(args.dev)
    points = linear_curve(train_rows, dev_rows) + run_points(args.runs, train_rows, dev_rows)
    write_report(points, args.out)
    print(render(points))
    return 0
