"""``triage distill --config FILE [--teacher SOFT.jsonl ...]``: train a student on a teacher's soft labels.

The config is a training config with a ``distill:`` section (configs/distill.yaml; options in
training/config.py: DistillConfig). Everything else — the TF-IDF baseline, `--resume` — works as in `triage train`. A fold
(``--fold K/N``) learns from fold K of the teacher alone (``--fold-teacher``: its weights and, through
``--teacher``, its soft labels), else ``E606`` (training/crossfit.py: ``check_fold_teacher``). `triage export
--run` on the student's run fits its calibration and review policy (on dev, or with ``--crossfit`` on such
folds) and runs the quality guard against the teacher on the test split.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from training.cli.train import fold

    p = subparsers.add_parser("distill", help="train a smaller student on the teacher ensemble's soft labels (triage teacher)")
    p.add_argument("--config", type=Path, required=True, help="training YAML with a distill: section (configs/distill.yaml)")
    p.add_argument("--teacher", type=Path, nargs="+", default=None, metavar="SOFT",
                   help="soft-label files from `triage teacher` (replace distill.soft_labels): the training split "
                        "and unlabelled in-domain texts; never dev or test")
    p.add_argument("--resume", action="store_true", help="continue from output_dir/last.pt")
    p.add_argument("--fold", type=fold, default=None, metavar="K/N",
                   help="cross-fitting fold of the student: needs --fold-teacher and soft labels from that run alone "
                        "(E606 otherwise: its held-out scores would be in-sample)")
    p.add_argument("--fold-teacher", type=Path, default=None, metavar="RUN",
                   help="with --fold: the teacher's own fold run (`triage train --fold K/N` with the teacher's config); "
                        "the student fold starts from its weights (init: teacher)")
    p.add_argument("--export", type=Path, default=None, help="also export a bundle to this directory (guarded)")
    p.add_argument("--name", default="student", help="bundle name used in the model version (with --export)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import tempfile

    from classifier.errors import ConfigError
    from training.cli.train import run as train_run
    from training.config import TrainConfig

    cfg = TrainConfig.from_yaml(args.config)
    if not cfg.distill:
        raise ConfigError(f"{args.config} has no distill: section (see configs/distill.yaml)")
    if args.fold_teacher and not args.fold:
        raise ConfigError("--fold-teacher is for a cross-fitting fold: give --fold K/N too")
    overrides = {}
    if args.teacher:
        overrides["soft_labels"] = [str(p) for p in args.teacher]
    if args.fold_teacher:
        overrides.update(init="teacher", teacher_run=str(args.fold_teacher))
    if overrides:
        cfg.distill = {**cfg.distill, **overrides}
        cfg.__post_init__()
    if not cfg.distill.get("soft_labels"):
        raise ConfigError("no soft labels: give --teacher SOFT.jsonl … (from `triage teacher`) or distill.soft_labels")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "distill.yaml"
        cfg.save(config)
        return train_run(argparse.Namespace(config=config, resume=args.resume, fold=args.fold, export=args.export,
                                            name=args.name))
