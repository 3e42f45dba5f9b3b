"""Running the model on token ids: padding a batch (``collate``) and batched, length-sorted
inference (``predict_logits``). Shared by the training loop (dev scores), the teacher, the student's
feature targets and the export's parity check — which is why they live below all of them."""
from __future__ import annotations

import numpy as np
import torch

from classifier.labels import HEADS
from training.modeling.model import MultiHeadClassifier


def collate(input_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in input_ids)
    ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long)
    for i, x in enumerate(input_ids):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return ids, mask


@torch.no_grad()
def predict_logits(model: MultiHeadClassifier, input_ids: list[list[int]], pad_id: int, batch_size: int = 64,
                   keys: tuple[str, ...] = (*HEADS, "secondary")) -> dict[str, np.ndarray]:
    """The model's outputs named in ``keys`` (logits per head, ``secondary``, or ``pooled``)."""
    model.eval()
    order = sorted(range(len(input_ids)), key=lambda i: len(input_ids[i]))
    outs: dict[str, list] = {k: [] for k in keys}
    for s in range(0, len(order), batch_size):
        chunk = order[s : s + batch_size]
        ids, mask = collate([input_ids[i] for i in chunk], pad_id)
        out = model(ids, mask, with_pooled="pooled" in keys)
        for k in outs:
            outs[k].append(out[k].float().numpy())
    inverse = np.argsort(order)
    return {k: np.concatenate(v)[inverse] for k, v in outs.items()}
