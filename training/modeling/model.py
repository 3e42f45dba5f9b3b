"""The three-head classifier: one shared e5 encoder, mean pooling, a linear head per task."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel

from classifier.labels import HEADS, LABELS

WEIGHTS_FILE = "heads_and_encoder.pt"


class MultiHeadClassifier(nn.Module):
    def __init__(self, encoder: BertModel, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(hidden, len(LABELS[h])) for h in HEADS})
        # auxiliary multi-label head: which categories (primary or secondary) the text is about
        self.secondary = nn.Linear(hidden, len(LABELS["category"]))

    @classmethod
    def from_encoder_dir(cls, encoder_dir: str | Path, dropout: float = 0.1) -> "MultiHeadClassifier":
        encoder = BertModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
        return cls(encoder, dropout)

    @classmethod
    def from_config(cls, config: BertConfig) -> "MultiHeadClassifier":
        return cls(BertModel(config, add_pooling_layer=False))

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                with_pooled: bool = False) -> dict[str, torch.Tensor]:
        """Logits per head and the secondary logits; ``with_pooled`` adds the encoder's mean-pooled
        output before dropout (``"pooled"``), which a distilled student regresses on the teacher's."""
        pooled = self.pooled(input_ids, attention_mask)
        features = self.dropout(pooled)
        out = {h: head(features) for h, head in self.heads.items()}
        out["secondary"] = self.secondary(features)
        if with_pooled:
            out["pooled"] = pooled
        return out


class ExportWrapper(nn.Module):
    """Fixed output order for ONNX: logits per head in HEADS order, then the secondary logits."""

    def __init__(self, model: MultiHeadClassifier):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.model(input_ids, attention_mask)
        return tuple(out[h] for h in HEADS) + (out["secondary"],)


def save_model(model: MultiHeadClassifier, directory: str | Path) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.encoder.config.save_pretrained(directory)
    torch.save(model.state_dict(), directory / WEIGHTS_FILE)


def load_model(directory: str | Path) -> MultiHeadClassifier:
    directory = Path(directory)
    model = MultiHeadClassifier.from_config(BertConfig.from_pretrained(str(directory)))
    model.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.eval()
