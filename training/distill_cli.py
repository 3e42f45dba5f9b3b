"""``triage distill --config FILE [--teacher SOFT.jsonl ...]``: train a student on a teacher's soft labels.

The config is a training config with a ``distill:`` section (configs/distill.yaml; options in
training/distill.py). Everything else — the TF-IDF baseline, `--resume` — works as in `triage train`; folds are
refused (``E606``: a student's held-out scores are in-sample, training/distill.py),
and `triage export --run` on the student's run fits its calibration and review policy and runs the
quality guard against the teacher on the test split.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from training.train_cli import _fold

    p = subparsers.add_parser("distill", help="train a smaller student on the teacher ensemble's soft labels (triage teacher)")
    p.add_argument("--config", type=Path, required=True, help="training YAML with a distill: section (configs/distill.yaml)")
    p.add_argument("--teacher", type=Path, nargs="+", default=None, metavar="SOFT",
                   help="soft-label files from `triage teacher` (replace distill.soft_labels): the training split "
                        "and unlabelled in-domain texts; never dev or test")
    p.add_argument("--resume", action="store_true", help="continue from output_dir/last.pt")
    p.add_argument("--fold", type=_fold, default=None, metavar="K/N",
                   help="refused (E606): a student's held-out scores would be in-sample, its teacher trained on every row")
    p.add_argument("--export", type=Path, default=None, help="also export a bundle to this directory (guarded)")
    p.add_argument("--name", default="student", help="bundle name used in the model version (with --export)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import tempfile

    import yaml

    from classifier.errors import ConfigError
    from training.arguments import TrainConfig
    from training.train_cli import run as train_run

    cfg = TrainConfig.from_yaml(args.config)
    if not cfg.distill:
        raise ConfigError(f"{args.config} has no distill: section (see configs/distill.yaml)")
    if args.teacher:
        cfg.distill = {**cfg.distill, "soft_labels": [str(p) for p in args.teacher]}
        cfg.__post_init__()
    if not cfg.distill.get("soft_labels"):
        raise ConfigError("no soft labels: give --teacher SOFT.jsonl … (from `triage teacher`) or distill.soft_labels")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "distill.yaml"
        cfg.save(config)
        return train_run(argparse.Namespace(config=config, resume=args.resume, fold=args.fold, export=args.export,
                                            name=args.name))
