"""Every file name of a training run, in one place (and of a teacher's output folder).

A run directory (``TrainConfig.output_dir``) is written by ``triage train`` / ``triage distill`` and
read by the baseline fit, the export, the teacher and the learning curve; each of them names its files
through these constants instead of spelling them. Layout::

    train_config.yaml      the TrainConfig the run used
    train_summary.json     best epoch, dev history
    best/                  the model with the best dev mean macro-F1 (+ tokenizer, dev_logits.npz)
    last.pt                resumable checkpoint
    linear.npz             the jieba + TF-IDF model fitted on the same training rows
    baseline_metrics.json  its dev metrics
    heldout.npz            cross-fitting runs only: held-out fold ids and transformer logits
    heldout_linear.npz     cross-fitting runs only: the TF-IDF model's probabilities on that fold
    fold_teacher.json      a distilled student's fold only: the checked fold teacher (training/crossfit.py)

A fold K of N of a run lives beside it, in ``OUTPUT_DIR-foldKofN`` (``fold_run_dir``).
"""
from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "train_config.yaml"
SUMMARY_FILE = "train_summary.json"
BEST_DIR = "best"
DEV_LOGITS_FILE = "dev_logits.npz"  # inside BEST_DIR
CHECKPOINT = "last.pt"
LINEAR_FILE = "linear.npz"
BASELINE_METRICS_FILE = "baseline_metrics.json"
HELDOUT_FILE = "heldout.npz"  # cross-fitting: the held-out fold's ids and logits per head
HELDOUT_LINEAR_FILE = "heldout_linear.npz"
FOLD_TEACHER_FILE = "fold_teacher.json"  # in a student fold's run: the checked fold teacher

# Written by `triage teacher` beside its soft-label files: which runs and bundles labelled them, so
# that a student fold can show that its teacher never saw its held-out rows (training/crossfit.py).
PROVENANCE_FILE = "teacher.json"


def fold_run_dir(output_dir: str | Path, fold: int, folds: int) -> Path:
    return Path(f"{output_dir}-fold{fold}of{folds}")


def model_dir(run_or_model: str | Path) -> Path:
    """A run's trained model (``best/``); a path that is itself a model directory is returned as is."""
    run = Path(run_or_model)
    return run / BEST_DIR if (run / BEST_DIR).is_dir() else run
