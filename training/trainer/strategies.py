"""What the training loop optimises, as a strategy: plain fine-tuning or distillation.

The loop (loop.py) is the same for both — optimizer, schedule, epochs, early stopping on dev
macro-F1, checkpoints, held-out scores. A strategy decides the rest:

- ``check``: refusals before anything is written (a student's fold without its own teacher: E606);
- ``base_model``: the directory the model and tokenizer come from;
- ``build``: the model, and the training examples (a student adds unlabelled soft-labelled texts);
- ``loss``: the loss of one batch.

``FineTuning`` trains the three heads on the gold labels; ``Distillation`` (a config's ``distill:``
section, training/distill/) a student cut from its teacher, on the teacher's soft labels as well.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from classifier.labels import HEADS, LABELS
from classifier.text.normalize import normalize_text
from training.config import DistillConfig, TrainConfig
from training.crossfit import check_fold_teacher
from training.data.splits import guard_fitting_rows
from training.distill.losses import feature_loss, kd_loss
from training.distill.soft_labels import SoftTargets, attach_soft_labels, read_soft_labels, soft_targets, teacher_features
from training.distill.student import build_student, student_layers
from training.modeling.base_encoder import ensure_base_model
from training.modeling.from_bundle import recover_model
from training.modeling.model import MultiHeadClassifier
from training.run_dir import FOLD_TEACHER_FILE, model_dir
from training.trainer.adaptation import adapted_encoder
from training.trainer.examples import Encoded, Rows

log = logging.getLogger(__name__)


def class_weights(targets: np.ndarray, n: int, scheme: str) -> torch.Tensor | None:
    if scheme == "none":
        return None
    counts = np.bincount(targets, minlength=n).astype(np.float64) + 1.0
    w = counts.sum() / counts
    if scheme == "sqrt_inverse":
        w = np.sqrt(w)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


class FocalLoss(nn.Module):
    """Class-weighted focal loss: the weighted cross-entropy of each example times (1 - p_true)^gamma,
    normalised like ``nn.CrossEntropyLoss`` (by the summed weights of the batch's targets), so gamma 0
    is exactly the weighted cross-entropy. Targets of -100 (unlabelled rows) are ignored."""

    def __init__(self, weight: torch.Tensor | None, gamma: float):
        super().__init__()
        self.register_buffer("weight", weight)
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        keep = target != -100
        logits, target = logits[keep], target[keep]
        if target.numel() == 0:
            return logits.sum() * 0.0
        log_p = torch.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
        w = self.weight[target] if self.weight is not None else torch.ones_like(log_p)
        focal = (1.0 - log_p.exp()).clamp(min=0.0) ** self.gamma
        return -(w * focal * log_p).sum() / w.sum()


def head_loss(weight: torch.Tensor | None, gamma: float) -> nn.Module:
    return FocalLoss(weight, gamma) if gamma > 0 else nn.CrossEntropyLoss(weight=weight)


class Objective:
    """The supervised terms both strategies share: class-weighted cross-entropy (or focal loss, with
    ``focal_gamma``) per head (weights from the labelled rows before oversampling) and the auxiliary
    secondary-category target."""

    def __init__(self, cfg: TrainConfig, enc: Encoded, labelled_rows: int):
        self.cfg = cfg
        self.losses = {
            h: head_loss(class_weights(enc.targets[h][:labelled_rows], len(LABELS[h]), cfg.class_weighting), cfg.focal_gamma)
            for h in HEADS
        }
        self.bce = nn.BCEWithLogitsLoss()

    def supervised(self, out_logits: dict, batch: list[int], enc: Encoded):
        loss = sum(
            self.cfg.loss_weights.get(h, 1.0) * self.losses[h](out_logits[h], torch.from_numpy(enc.targets[h][batch]))
            for h in HEADS
        )
        if self.cfg.secondary_loss_weight:
            loss = loss + self.cfg.secondary_loss_weight * self.bce(out_logits["secondary"],
                                                                    torch.from_numpy(enc.secondary[batch]))
        return loss


class FineTuning:
    """The pretrained encoder with new heads, trained on the gold labels."""

    with_pooled = False

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg

    def check(self, rows: Rows) -> None:
        pass

    def write_records(self, out: Path) -> None:
        pass

    def base_model(self, rows: Rows) -> Path:
        # every fold shares the full run's base model and vocabulary, so their scores are comparable
        base = ensure_base_model(self.cfg, rows.all_train, rows.dev)
        return adapted_encoder(self.cfg, base) if self.cfg.adapt else base

    def build(self, base: Path, rows: Rows, tokenizer, enc: Encoded) -> tuple[MultiHeadClassifier, Encoded]:
        return MultiHeadClassifier.from_encoder_dir(base, self.cfg.dropout), enc

    def loss(self, out_logits: dict, batch: list[int], enc: Encoded, objective: Objective):
        return objective.supervised(out_logits, batch, enc)


class Distillation:
    """A student cut from its teacher's model (or the pretrained encoder), trained on the teacher's soft
    labels of the training rows and of unlabelled texts together with the gold labels."""

    def __init__(self, cfg: TrainConfig, distill: DistillConfig):
        self.cfg, self.distill = cfg, distill
        self.fold_teacher: dict | None = None
        self.soft_rows: list[dict] | None = None
        self.soft: SoftTargets | None = None

    @property
    def with_pooled(self) -> bool:
        return self.soft is not None and self.soft.features is not None

    def check(self, rows: Rows) -> None:
        cfg = self.cfg
        if cfg.cv_folds:
            self.fold_teacher = check_fold_teacher(self.distill, [r["id"] for r in rows.heldout],
                                                   f"{cfg.cv_fold}/{cfg.cv_folds}")

    def write_records(self, out: Path) -> None:
        if self.fold_teacher:
            (out / FOLD_TEACHER_FILE).write_text(json.dumps(self.fold_teacher, indent=1), encoding="utf-8")

    def base_model(self, rows: Rows) -> Path:
        # a student starts from its teacher's model and vocabulary, or from the pretrained encoder with
        # a vocabulary that also covers the unlabelled texts it learns from
        distill = self.distill
        if distill.init == "teacher":
            return model_dir(distill.teacher_run)
        if distill.init == "bundle":
            return recover_model(distill.teacher_bundle, self.cfg.base_model_dir)
        self.soft_rows = read_soft_labels(distill.soft_labels)
        guard_fitting_rows(self.soft_rows, "soft-labelled texts (the student's vocabulary)")
        return ensure_base_model(self.cfg, rows.all_train + self.soft_rows, rows.dev)

    def build(self, base: Path, rows: Rows, tokenizer, enc: Encoded) -> tuple[MultiHeadClassifier, Encoded]:
        from transformers import BertConfig

        cfg, distill = self.cfg, self.distill
        teacher_layers = BertConfig.from_pretrained(str(base)).num_hidden_layers
        layers = student_layers(teacher_layers, distill.num_layers, distill.layers)
        model = build_student(base, layers, cfg.dropout)
        per_row, unlabelled = attach_soft_labels(rows.train, rows.all_train, rows.dev,
                                                 self.soft_rows or read_soft_labels(distill.soft_labels),
                                                 distill.max_unlabeled)
        self.soft = soft_targets(per_row, unlabelled)
        extra_ids = tokenizer([normalize_text(r["text"]) for r in unlabelled], truncation=True,
                              max_length=cfg.max_length)["input_ids"] if unlabelled else []
        enc = enc.extended(extra_ids)
        if distill.feature_weight:
            started = time.time()
            self.soft.features = teacher_features(base, enc.input_ids, tokenizer.pad_token_id)
            log.info("teacher features of %d examples from %s in %.0f s (variance %.4f)",
                     len(self.soft.features.features), base, time.time() - started, self.soft.features.variance)
        log.info("student (from the %s): layers %s of %d; %d labelled rows (%d with soft labels), %d unlabelled texts, "
                 "T=%s alpha=%s feature_weight=%s", distill.init, layers, teacher_layers, len(rows.train),
                 int(self.soft.has_soft[self.soft.labelled].sum()), len(unlabelled), distill.temperature, distill.alpha,
                 distill.feature_weight)
        return model, enc

    def loss(self, out_logits: dict, batch: list[int], enc: Encoded, objective: Objective):
        """Per head: alpha × KD on the rows with teacher soft labels + (1 − alpha) × cross-entropy on the
        rows with gold labels (unlabelled texts have only the former); the secondary target on labelled
        rows; with teacher features, feature_weight × their normalized MSE on every row."""
        cfg, distill, soft = self.cfg, self.distill, self.soft
        idx = np.asarray(batch)
        with_soft = torch.from_numpy(np.flatnonzero(soft.has_soft[idx]))
        labelled = torch.from_numpy(np.flatnonzero(soft.labelled[idx]))
        loss = torch.zeros(())
        for h in HEADS:
            term = torch.zeros(())
            if len(with_soft):
                term = term + distill.alpha * kd_loss(out_logits[h][with_soft], soft.probs[h][idx[with_soft.numpy()]],
                                                      distill.temperature)
            if len(labelled):
                gold = torch.from_numpy(enc.targets[h][idx[labelled.numpy()]])
                term = term + (1.0 - distill.alpha if len(with_soft) else 1.0) * objective.losses[h](out_logits[h][labelled], gold)
            loss = loss + cfg.loss_weights.get(h, 1.0) * term
        if cfg.secondary_loss_weight and len(labelled):
            loss = loss + cfg.secondary_loss_weight * objective.bce(out_logits["secondary"][labelled],
                                                                    torch.from_numpy(enc.secondary[idx[labelled.numpy()]]))
        if soft.features is not None:
            loss = loss + distill.feature_weight * feature_loss(out_logits["pooled"], soft.features.features[idx],
                                                                soft.features.variance)
        return loss


def strategy_for(cfg: TrainConfig) -> FineTuning | Distillation:
    distill = cfg.distill_config()
    return Distillation(cfg, distill) if distill else FineTuning(cfg)
