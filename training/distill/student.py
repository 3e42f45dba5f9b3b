"""The student model: the teacher's (or the pretrained encoder's) encoder cut to some of its layers."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from torch import nn

from classifier.errors import ConfigError
from training.modeling.model import WEIGHTS_FILE, MultiHeadClassifier, load_model


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
