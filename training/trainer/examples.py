"""What the training loop trains on: rows read and guarded (``Rows``), tokenized examples with their
targets (``Encoded``), and how they are drawn per epoch (oversampling, length-grouped batches)."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from classifier.labels import HEADS, LABELS
from classifier.text.normalize import normalize_text
from training.config import TrainConfig
from training.data.folds import split_fold
from training.data.schema import read_labelled, read_labelled_files, to_dataset
from training.data.splits import guard_fitting_rows


@dataclass
class Rows:
    """A config's labelled rows: every training row, the ones this run trains on and holds out
    (cross-fitting), and dev (early stopping)."""

    all_train: list[dict]
    train: list[dict]
    heldout: list[dict]
    dev: list[dict]


def load_rows(cfg: TrainConfig) -> Rows:
    all_train_rows = read_labelled_files(cfg.train_files)[: cfg.max_train_rows]
    dev_rows = read_labelled(cfg.dev_file)[: cfg.max_dev_rows]
    guard_fitting_rows(all_train_rows, "training data")
    guard_fitting_rows(dev_rows, "dev data (early stopping)")
    train_rows, heldout_rows = split_fold(all_train_rows, cfg)
    return Rows(all_train_rows, train_rows, heldout_rows, dev_rows)


@dataclass
class Encoded:
    input_ids: list[list[int]]
    targets: dict[str, np.ndarray]
    secondary: np.ndarray  # multi-hot over categories

    def extended(self, input_ids: list[list[int]]) -> "Encoded":
        """These examples followed by unlabelled ones (no gold targets: -100, which the losses ignore)."""
        n, n_cat = len(input_ids), len(LABELS["category"])
        return Encoded(list(self.input_ids) + list(input_ids),
                       {h: np.concatenate([self.targets[h], np.full(n, -100, np.int64)]) for h in HEADS},
                       np.concatenate([self.secondary, np.zeros((n, n_cat), np.float32)]))


def encode_rows(rows: list[dict], tokenizer, max_length: int, source_tags: list[str] | None = None) -> Encoded:
    """Tokenize through a Hugging Face ``datasets.Dataset`` (label columns as ClassLabel ids). With
    ``source_tags`` (one per row, classifier/sources.py) each text is the second of a pair after its tag."""
    n_cat = len(LABELS["category"])
    if source_tags is not None and len(source_tags) != len(rows):
        raise ValueError(f"{len(source_tags)} source tags for {len(rows)} rows")

    def tokenize(batch, indices):
        texts = [normalize_text(t) for t in batch["text"]]
        if source_tags is not None:
            enc = tokenizer([source_tags[i] for i in indices], texts, truncation="only_second", max_length=max_length)
        else:
            enc = tokenizer(texts, truncation=True, max_length=max_length)
        secondary = []
        for primary, second in zip(batch["category"], batch["category_secondary"]):
            multi_hot = [0.0] * n_cat
            multi_hot[primary] = 1.0
            if second is not None:
                multi_hot[second] = 1.0
            secondary.append(multi_hot)
        return {"input_ids": enc["input_ids"], "secondary": secondary}

    ds = to_dataset(rows).map(tokenize, batched=True, with_indices=True, batch_size=1024, desc="tokenizing")
    targets = {h: np.asarray(ds[h], dtype=np.int64) for h in HEADS}
    return Encoded(ds["input_ids"], targets, np.asarray(ds["secondary"], dtype=np.float32))


def repeats(row: dict, oversample: dict[str, int]) -> int:
    """How often a training row appears per epoch: the largest factor among its oversampled classes."""
    return max((times for key, times in oversample.items() if row[key.partition(".")[0]] == key.partition(".")[2]),
               default=1)


def seed_everything(seed: int) -> None:
    """Python's, numpy's and torch's generators: batch order, dropout and new weights follow the seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batch_order(lengths: list[int], batch_size: int, rng: random.Random, grouped: bool) -> list[list[int]]:
    """Shuffled batches; when ``grouped``, each batch holds texts of similar length.

    Indices are shuffled, cut into pools of 50 batches, sorted by length inside a pool and the
    resulting batches shuffled: nearly no padding while keeping the epoch random.
    """
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    if grouped:
        pool = batch_size * 50
        idx = [i for s in range(0, len(idx), pool) for i in sorted(idx[s : s + pool], key=lengths.__getitem__)]
    batches = [idx[s : s + batch_size] for s in range(0, len(idx), batch_size)]
    rng.shuffle(batches)
    return batches
