"""Distillation: a smaller student from the teacher ensemble's soft labels, and the export's quality guard.

The student is the teacher's own fine-tuned model (a training run's ``best/``: embeddings, heads and
vocabulary) cut to ``num_layers`` of its encoder layers — evenly spaced, ending at the top layer, or the
``layers`` listed. With ``init: bundle`` the fine-tuned model comes from an exported bundle instead (its
ONNX weights dequantized, ``training/modeling/from_bundle.py``: runs do not survive a machine, the shipped
bundle does); with ``init: base`` the student is the pretrained encoder cut the same way, its vocabulary
trimmed to the training, dev and unlabelled texts, with new heads (measured much worse: README). It is
trained by ``triage distill`` (``trainer.train`` with a ``distill:`` section):

- labelled training rows: ``alpha`` × temperature-scaled KL to the teacher's soft labels (when the
  soft-label files hold the text) + (1 − ``alpha``) × the usual class-weighted cross-entropy on the gold
  labels, and the auxiliary secondary-category target;
- unlabelled in-domain texts scored by the teacher (``triage teacher --data data/unlabeled/…``): the
  KL term alone;
- with ``feature_weight`` > 0, on every row: the student's mean-pooled encoder output regressed on the
  teacher model's (``teacher_features``; normalized MSE, the share of the teacher features' variance the
  student misses). Soft labels give three probability vectors per text; the pooled representation that
  the heads read gives 384 numbers, and on the unlabelled texts it is the only rich signal. The teacher
  model is the one the student starts from: the fold teacher's ``best/`` or the bundle's model rebuilt.

Soft-label files are ``triage teacher``'s ``*.soft.jsonl`` (``{"id", "text", "soft": {head: {label: p}}}``),
matched to training rows by normalized text. A soft-labelled text that is neither a training row nor
new — a dev text (early stopping, calibration) or a test text — is refused, and so is every text of
the test split (``guard_fitting_rows``). Held-out texts of a labelled row never become unlabelled rows.

A student's fold is cross-fitted only from a teacher per fold (``check_fold_teacher``, else
``E606``). With the student's own teacher — trained on every training row, as were its starting
weights with ``init: bundle`` or ``teacher`` — a fold student's "held-out" scores are in-sample.
Measured on the 6-layer student (2026-12-06): its three folds scored 0.85 / 0.92 / 0.82 macro-F1 on
their held-out rows against 0.76 / 0.88 / 0.73 on dev; fitted on them, the blend dropped the TF-IDF
model (0 for category, where dev wants 0.4) and the review policy believed it saw 0.93 of
`contract_legal` items, then saw 0.81 on test. So fold K of a student learns only from fold K of the
teacher: `triage train --fold K/N` with the teacher's config, its soft labels (`triage teacher
--runs` that run alone; the provenance file beside them says so), and its weights (``init:
teacher``; ``bundle`` is refused). The run's held-out rows must be the student fold's. A fold that
passed the check keeps the record (``FOLD_TEACHER_FILE``), and the export takes only such student
folds for ``--crossfit``. Without folds, a student's calibration and review policy are fitted on
dev, which neither model trained on.

The quality guard (``check_student``) runs at the end of a student's export, after calibration and the
review policy are fitted: on the test split the student's macro-F1 per head must be within
``tolerance`` of the teacher's (from ``triage teacher --data data/labeled/test.jsonl``) or above, and its
seen recall per watched class must meet the review targets. Otherwise the export fails (``E603``) and
the bundle is moved aside to ``OUT.rejected``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.errors import ConfigError
from classifier.labels import HEADS, LABELS, label_index
from training.config import DEFAULT_TOLERANCE, DistillConfig
from training.errors import GuardMissing, SoftLabelError, leaky_crossfit
from training.run_dir import FOLD_TEACHER_FILE, HELDOUT_FILE, PROVENANCE_FILE

log = logging.getLogger(__name__)

def student_layers(teacher_layers: int, num_layers: int, layers: Sequence[int] | None = None) -> list[int]:
    """Teacher layers the student keeps: ``layers``, or ``num_layers`` evenly spaced ending at the top
    one (12 → 4: 2, 5, 8, 11; 12 → 6: 1, 3, 5, 7, 9, 11)."""
    if layers is not None:
        chosen = sorted(set(layers))
        if chosen[-1] >= teacher_layers:
            raise ConfigError(f"distill.layers {list(layers)}: the teacher has {teacher_layers} layers")
        return chosen
    n = min(num_layers, teacher_layers)
    return [round((i + 1) * teacher_layers / n) - 1 for i in range(n)]


def build_student(source_dir: str | Path, layers: Sequence[int], dropout: float = 0.1):
    """A model with only ``layers`` of the source's encoder: a trained model directory (embeddings and
    heads kept) or a pretrained encoder directory (new heads)."""
    from torch import nn

    from training.modeling.model import WEIGHTS_FILE, MultiHeadClassifier, load_model

    if (Path(source_dir) / WEIGHTS_FILE).is_file():
        model = load_model(source_dir)
    else:
        model = MultiHeadClassifier.from_encoder_dir(source_dir, dropout)
    encoder = model.encoder
    encoder.encoder.layer = nn.ModuleList(encoder.encoder.layer[i] for i in layers)
    encoder.config.num_hidden_layers = len(layers)
    model.dropout.p = dropout
    for i, layer in enumerate(encoder.encoder.layer):  # transformers keeps the index for its KV caches
        if hasattr(layer.attention.self, "layer_idx"):
            layer.attention.self.layer_idx = i
    return model.train()


# --- soft labels -------------------------------------------------------------------------------


def read_soft_labels(paths: Sequence[str | Path]) -> list[dict]:
    """``[{"text", "soft": {head: np.ndarray}}]`` from `triage teacher` files, first file wins per text."""
    from training.data.splits import text_key

    out, seen = [], set()
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    soft = {h: np.array([float(record["soft"][h][lab]) for lab in LABELS[h]], dtype=np.float32) for h in HEADS}
                    text = str(record["text"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise SoftLabelError(f"{path} line {n}: not a soft label of every head and label ({exc!r})",
                                         details={"file": str(path), "line": n}) from None
                key = text_key(text)
                if key in seen:
                    continue
                seen.add(key)
                out.append({"id": record.get("id") or f"soft:{key}", "text": text, "soft": soft})
    return out


def attach_soft_labels(train_rows: list[dict], all_train_rows: list[dict], dev_rows: list[dict], soft_rows: list[dict],
                       max_unlabeled: int | None = None) -> tuple[list[dict | None], list[dict]]:
    """(soft labels per training row or None, unlabelled rows with soft labels).

    Unlabelled rows are soft-labelled texts that are no labelled training row (of any fold) and no dev
    row; a dev text among them is refused, and so is any test text (E602).
    """
    from training.data.splits import guard_fitting_rows, text_key

    by_key = {text_key(r["text"]): r["soft"] for r in soft_rows}
    labelled_keys = {text_key(r["text"]) for r in all_train_rows}
    dev_keys = {text_key(r["text"]) for r in dev_rows}
    in_dev = [r["id"] for r in soft_rows if text_key(r["text"]) in dev_keys]
    if in_dev:
        raise SoftLabelError(f"{len(in_dev)} soft-labelled texts are dev texts (early stopping and calibration "
                             f"read dev; the student must not train on it): leave the dev file out of --teacher",
                             details={"rows": len(in_dev), "ids": in_dev[:20]})
    unlabelled = [r for r in soft_rows if text_key(r["text"]) not in labelled_keys][:max_unlabeled]
    guard_fitting_rows(unlabelled, "unlabelled distillation texts")
    return [by_key.get(text_key(r["text"])) for r in train_rows], unlabelled


@dataclass
class SoftTargets:
    """Per training example (labelled rows first, then unlabelled): teacher probabilities, whether
    there are any, and whether the gold labels exist."""

    probs: dict[str, np.ndarray]
    has_soft: np.ndarray
    labelled: np.ndarray
    features: "TeacherFeatures | None" = None  # with feature_weight: the teacher model's pooled outputs


def soft_targets(per_row: list[dict | None], unlabelled: list[dict]) -> SoftTargets:
    rows = list(per_row) + [r["soft"] for r in unlabelled]
    probs = {h: np.stack([s[h] if s is not None else np.full(len(LABELS[h]), 1.0 / len(LABELS[h]), np.float32)
                          for s in rows]) if rows else np.zeros((0, len(LABELS[h])), np.float32) for h in HEADS}
    has_soft = np.array([s is not None for s in rows], dtype=bool)
    labelled = np.arange(len(rows)) < len(per_row)
    return SoftTargets(probs, has_soft, labelled)


@dataclass
class TeacherFeatures:
    """The teacher model's mean-pooled encoder output per training example (labelled rows first, then
    unlabelled, as ``SoftTargets``)."""

    features: np.ndarray  # (examples, hidden) float32
    variance: float  # mean over dimensions of the per-dimension variance: the loss's scale


def teacher_features(teacher_dir: str | Path, input_ids: list[list[int]], pad_id: int) -> TeacherFeatures:
    """The teacher model's mean-pooled encoder output for every training example (``feature_weight``),
    computed once before training: the teacher is frozen, so its features do not change per epoch."""
    from training.modeling.model import load_model
    from training.modeling.inference import predict_logits

    pooled = predict_logits(load_model(teacher_dir), input_ids, pad_id, keys=("pooled",))["pooled"]
    return TeacherFeatures(pooled.astype(np.float32), float(pooled.var(axis=0).mean()) or 1.0)


def feature_loss(student_pooled, teacher_pooled, variance: float):
    """Normalized MSE: the mean squared error per dimension over the teacher features' variance
    (1.0 = no better than predicting their mean)."""
    import torch

    t = torch.as_tensor(teacher_pooled, dtype=torch.float32)
    return ((student_pooled - t) ** 2).mean() / variance


def kd_loss(student_logits, teacher_probs, temperature: float):
    """Mean over rows of T² · KL(teacher_T ‖ student_T), teacher_T ∝ p^(1/T) (Hinton et al., 2015)."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(teacher_probs, dtype=torch.float32).clamp_min(1e-8)
    target = F.softmax(torch.log(t) / temperature, dim=-1)
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(log_student, target, reduction="batchmean") * temperature ** 2


# --- the quality guard ---------------------------------------------------------------------------
def teacher_test_metrics(path: str | Path) -> dict:
    """Per-head macro-F1 of the teacher: `triage teacher`'s ``*.metrics.json`` (its ``ensemble``) or a
    bundle's ``metrics.json`` from `triage evaluate`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GuardMissing(f"cannot read the teacher's test metrics {path}: {exc}") from None
    data = data.get("ensemble", data)
    try:
        return {"rows": data.get("rows"), "macro_f1": {h: float(data["heads"][h]["macro_f1"]) for h in HEADS}}
    except (KeyError, TypeError):
        raise GuardMissing(f"{path} holds no per-head macro_f1 (expected `triage teacher` or `triage evaluate` metrics)") from None


def teacher_test_labels(teacher_metrics: str | Path) -> dict[str, dict[str, int]] | None:
    """The teacher's label per test row and head (argmax of its probabilities, as its metrics count them),
    from the soft-label file `triage teacher` writes beside ``NAME.metrics.json`` (``NAME.soft.jsonl``);
    None when there is none (then the guard reports no interval)."""
    path = Path(teacher_metrics)
    soft = path.with_name(path.name.replace(".metrics.json", ".soft.jsonl"))
    if soft == path or not soft.exists():
        return None
    labels: dict[str, dict[str, int]] = {h: {} for h in HEADS}
    for record in read_soft_labels([soft]):
        for h in HEADS:
            labels[h][str(record["id"])] = int(record["soft"][h].argmax())
    return labels


def paired_differences(gold: dict[str, np.ndarray], teacher: dict[str, np.ndarray],
                       student: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """95 % bootstrap interval of student − teacher macro-F1 per head, both scored on the same resampled
    rows (evaluate's resamples: 1,000, fixed seed). On the 1,797-row test split it is ~±0.025 wide for
    category: the guard's 0.01 tolerance is inside the noise, and the verdict shows how far."""
    from training.stats import class_f1_bootstrap, interval, resamples

    samples = resamples(len(gold[HEADS[0]]))
    out = {}
    for h in HEADS:
        k = len(LABELS[h])
        diff = (class_f1_bootstrap(gold[h], student[h], k, samples)["macro"]
                - class_f1_bootstrap(gold[h], teacher[h], k, samples)["macro"])
        out[h] = interval(diff)
    return out


def check_student(student: dict, teacher: dict, recall_targets: dict[str, float], tolerance: float = DEFAULT_TOLERANCE,
                  reference_recall: dict[str, float] | None = None,
                  differences: dict[str, list[float]] | None = None) -> dict:
    """The guard's verdict from the student's test metrics (``evaluate_bundle``) and the teacher's
    (``teacher_test_metrics``). A recall target that the reference (the teacher's served bundle) also
    misses on test counts at the reference's value: the student must not see fewer than what ships.
    ``differences`` (``paired_differences``) adds each head's interval to the verdict and its message;
    the rule is the point difference against ``tolerance`` either way."""
    heads = {}
    for h in HEADS:
        s, t = float(student["heads"][h]["macro_f1"]), teacher["macro_f1"][h]
        heads[h] = {"student": round(s, 4), "teacher": round(t, 4), "delta": round(s - t, 4), "ok": s >= t - tolerance}
        if differences and h in differences:
            heads[h]["delta_ci95"] = differences[h]
    recall = {}
    for key, target in recall_targets.items():
        seen = student["review"]["seen_recall"].get(key, {})
        value = seen.get("value")
        required = min(target, reference_recall[key]) if reference_recall and key in reference_recall else target
        recall[key] = {"student": value, "target": target, "required": round(required, 4),
                       "support": seen.get("support"), "ok": value is None or value >= required - 1e-9}
    failures = [f"{h} macro-F1 {v['student']:.4f} < teacher {v['teacher']:.4f} - {tolerance}"
                + (f" (paired 95 % interval of the difference {v['delta_ci95'][0]:+.3f} … {v['delta_ci95'][1]:+.3f})"
                   if "delta_ci95" in v else "")
                for h, v in heads.items() if not v["ok"]]
    failures += [f"seen recall {k} {v['student']:.3f} < {v['required']:.3f}" for k, v in recall.items() if not v["ok"]]
    return {"tolerance": tolerance, "rows": student.get("rows"), "heads": heads, "seen_recall": recall,
            "passed": not failures, "failures": failures}


def guard_student_bundle(bundle_dir: Path, teacher_metrics: str | Path, test_file: str | Path, recall_targets: dict[str, float],
                         tolerance: float = DEFAULT_TOLERANCE, reference_bundle: str | Path | None = None) -> dict:
    """Evaluate the finished student bundle on the test split (evaluation only: every fitting step is
    done) and return ``check_student``'s verdict (the caller raises)."""
    import tempfile

    from training.data.schema import read_labelled
    from training.evaluate import evaluate_bundle

    teacher = teacher_test_metrics(teacher_metrics)
    with tempfile.TemporaryDirectory() as tmp:
        student = evaluate_bundle(bundle_dir, test_file, Path(tmp) / "student", plots=False)
        reference = None
        if reference_bundle:
            ref = evaluate_bundle(reference_bundle, test_file, Path(tmp) / "reference", plots=False)
            reference = {k: v["value"] for k, v in ref["review"]["seen_recall"].items() if v["value"] is not None}
        with (Path(tmp) / "student" / "predictions.jsonl").open(encoding="utf-8") as fh:
            predicted = [json.loads(line) for line in fh if line.strip()]  # in the test file's order
    if teacher.get("rows") is not None and teacher["rows"] != student["rows"]:
        raise GuardMissing(f"the teacher's metrics cover {teacher['rows']} rows, the guard's file {test_file} "
                           f"{student['rows']}: score the same test split with `triage teacher`")
    differences = None
    teacher_labels = teacher_test_labels(teacher_metrics)
    rows = read_labelled(test_file)
    ids = [str(r["id"]) for r in rows]
    if teacher_labels and all(i in teacher_labels[h] for h in HEADS for i in ids):
        gold = {h: np.array([label_index(h, r[h]) for r in rows]) for h in HEADS}
        differences = paired_differences(
            gold, {h: np.array([teacher_labels[h][i] for i in ids]) for h in HEADS},
            {h: np.array([label_index(h, p[h]["label"]) for p in predicted]) for h in HEADS})
    verdict = check_student(student, teacher, recall_targets, tolerance, reference, differences)
    verdict.update(test_file=str(test_file), teacher_metrics=str(teacher_metrics),
                   reference_bundle=str(reference_bundle) if reference_bundle else None)
    return verdict
