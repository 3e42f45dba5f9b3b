"""A training run's lifecycle: train → fit its TF-IDF model → export a bundle, on one run directory
(training/run_dir.py). The CLI modules (training/cli/) only parse arguments and call these.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from training.config import GuardRule, TrainConfig
from training.data.folds import split_fold
from training.data.schema import read_labelled, read_labelled_files
from training.data.splits import guard_fitting_rows
from training.errors import GuardMissing
from training.export.bundle import FittingData, export_bundle
from training.export.quantize import MIN_AGREEMENT, Quantization
from training.fitting.baseline import evaluate_baseline, export_linear, tune_baseline
from training.run_dir import BASELINE_METRICS_FILE, BEST_DIR, CONFIG_FILE, HELDOUT_LINEAR_FILE, LINEAR_FILE
from training.trainer.loop import train

log = logging.getLogger(__name__)


def run(cfg: TrainConfig, resume: bool = False, export: Path | None = None, name: str = "model",
        report=print) -> dict:
    """`triage train` / `triage distill`: train, fit the TF-IDF model (``cfg.baseline``), export
    (``export``, a bundle directory). Returns the training summary; ``report`` prints progress."""
    summary = train(cfg, resume=resume)
    report(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))
    if cfg.baseline:
        metrics = fit_run_baseline(cfg)
        report("baseline dev macro-F1: " + json.dumps({h: round(m["macro_f1"], 4) for h, m in metrics.items() if h != "n"}))
    if export:
        export_run(Path(cfg.output_dir), export, name)
    return summary


def fit_run_baseline(cfg: TrainConfig) -> dict:
    """Fit (C tuned on dev) the run's TF-IDF model on its training rows; in a cross-fitting run also
    score the held-out fold. Returns the dev metrics."""

    all_rows = read_labelled_files(cfg.train_files)[: cfg.max_train_rows]
    dev_rows = read_labelled(cfg.dev_file)[: cfg.max_dev_rows]
    guard_fitting_rows(all_rows, "training data")
    guard_fitting_rows(dev_rows, "dev data (baseline tuning)")
    train_rows, heldout_rows = split_fold(all_rows, cfg)
    model, _ = tune_baseline(train_rows, dev_rows, tuple(cfg.baseline_c_grid))
    out = Path(cfg.output_dir)
    export_linear(model, out / LINEAR_FILE)
    if heldout_rows:
        probs = model.predict_proba([r["text"] for r in heldout_rows])
        np.savez(out / HELDOUT_LINEAR_FILE, ids=np.array([r["id"] for r in heldout_rows]), **probs)
    metrics = evaluate_baseline(model, dev_rows)
    (out / BASELINE_METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    return metrics


def export_run(run_dir: Path, out: Path, name: str, linear: bool = True, min_agreement: float | None = None,
               crossfit: Sequence[Path] = (), review_config: Path | None = None, fuse: bool = False,
               guard_teacher: Path | None = None, guard_ratio: float | None = None,
               guard_data: Path | Sequence[Path] = (),
               guard_reference: Path | None = None, no_guard: bool = False, fp32_order: str = "sensitivity") -> dict:
    """Export a run. A distilled run (``distill:`` in its config) is guarded: after fitting, its bundle is
    evaluated on the guard files (``guard_data``; test and test_hard by default) under the release rule
    (``GuardRule``: the distill section, ``guard_ratio`` overriding its ratio) against the reference bundle
    (``guard_reference``) or the teacher's metrics (``guard_teacher`` or ``distill.teacher_metrics``);
    ``no_guard`` skips that (the bundle is then not a release candidate)."""
    logging.basicConfig(level=logging.WARNING)
    cfg = TrainConfig.from_yaml(run_dir / CONFIG_FILE)
    linear_path = run_dir / LINEAR_FILE if linear and (run_dir / LINEAR_FILE).exists() else None
    guard = None
    guard_data = [guard_data] if isinstance(guard_data, (str, Path)) else list(guard_data)
    distill = cfg.distill_config()
    if (distill or guard_teacher) and not no_guard:
        teacher = guard_teacher or (distill.teacher_metrics if distill else None)
        if not teacher and not guard_reference:
            raise GuardMissing(f"{run_dir} is a distilled student: its export checks it against the default bundle on "
                               "the test splits; give --guard-reference models/default (or --guard-teacher "
                               "TEACHER_DIR/test.metrics.json from `triage teacher --data data/labeled/test.jsonl`, "
                               "or distill.teacher_metrics); --no-guard skips the check")
        if not guard_reference and len(guard_data) > 1:
            raise GuardMissing("the teacher's metrics cover one file; to guard on several (test and test_hard) give "
                               "--guard-reference BUNDLE, the default bundle scored on each")
        rule = distill.guard_rule(guard_ratio) if distill else GuardRule(ratio=GuardRule.ratio if guard_ratio is None
                                                                          else guard_ratio)
        guard = {"teacher_metrics": str(teacher) if teacher else None, "rule": rule,
                 "test_files": [str(f) for f in guard_data],
                 "reference_bundle": str(guard_reference) if guard_reference else None}
    quantization = Quantization(min_agreement=MIN_AGREEMENT if min_agreement is None else min_agreement, fuse=fuse,
                                fp32_order=fp32_order)
    fitting = FittingData(dev_file=cfg.dev_file, train_files=cfg.train_files, crossfit_runs=list(crossfit),
                          review_config=review_config)
    return export_bundle(run_dir / BEST_DIR, out, fitting, name=name, linear_path=linear_path,
                         train_config=cfg.to_dict(), quantization=quantization, guard=guard)
