"""``triage export --run DIR --out BUNDLE``: ONNX int8 bundle from a training run."""
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = export_run(args.run, args.out, args.name, linear=not args.no_linear, min_agreement=args.min_agreement)
    print(json.dumps({"model_version": report["model_version"], "parity": report["parity"],
                      "dev_macro_f1": report["dev_macro_f1"], "bundle_mb": report["bundle_mb"]}, indent=1))
    return 0


def export_run(run_dir: Path, out: Path, name: str, linear: bool = True, min_agreement: float | None = None) -> dict:
    import logging

    from training.arguments import TrainConfig
    from training.export import MIN_AGREEMENT, export_bundle
    from training.train_cli import LINEAR_FILE
    from training.trainer import BEST_DIR

    logging.basicConfig(level=logging.WARNING)
    cfg = TrainConfig.from_yaml(run_dir / "train_config.yaml")
    linear_path = run_dir / LINEAR_FILE if linear and (run_dir / LINEAR_FILE).exists() else None
    return export_bundle(
        run_dir / BEST_DIR, out, dev_file=cfg.dev_file, train_files=cfg.train_files, linear_path=linear_path,
        name=name, train_config=cfg.to_dict(), min_agreement=MIN_AGREEMENT if min_agreement is None else min_agreement,
    )
