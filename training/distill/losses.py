"""The distillation terms (torch): temperature-scaled KL to the teacher's soft labels, and the
normalized MSE of the pooled representation to the teacher model's."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def feature_loss(student_pooled, teacher_pooled, variance: float):
    """Normalized MSE: the mean squared error per dimension over the teacher features' variance
    (1.0 = no better than predicting their mean)."""
    t = torch.as_tensor(teacher_pooled, dtype=torch.float32)
    return ((student_pooled - t) ** 2).mean() / variance


def kd_loss(student_logits, teacher_probs, temperature: float):
    """Mean over rows of T² · KL(teacher_T ‖ student_T), teacher_T ∝ p^(1/T) (Hinton et al., 2015)."""
    t = torch.as_tensor(teacher_probs, dtype=torch.float32).clamp_min(1e-8)
    target = F.softmax(torch.log(t) / temperature, dim=-1)
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(log_student, target, reduction="batchmean") * temperature ** 2
