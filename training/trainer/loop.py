"""The training loop: joint fine-tuning of the three heads, with early stopping on dev macro-F1 and
resumable checkpoints. What it optimises — plain fine-tuning or distillation — is a strategy
(strategies.py); ``train`` reads as the steps of a run, each a function below."""
from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoTokenizer, get_linear_schedule_with_warmup

from classifier.labels import HEADS, LABELS
from classifier.sources import source_tag, training_tags
from training.config import TrainConfig
from training.modeling.inference import collate, predict_logits
from training.modeling.model import MultiHeadClassifier, load_model, save_model
from training.run_dir import BEST_DIR, CHECKPOINT, CONFIG_FILE, DEV_LOGITS_FILE, HELDOUT_FILE, SUMMARY_FILE
from training.stats import macro_f1
from training.trainer.examples import Encoded, Rows, batch_order, encode_rows, load_rows, repeats, seed_everything
from training.trainer.strategies import FineTuning, Distillation, Objective, strategy_for

log = logging.getLogger(__name__)


def param_groups(model: MultiHeadClassifier, cfg: TrainConfig) -> list[dict]:
    """Encoder layers get lr × layer_decay^(depth from top); heads get their own rate."""
    n_layers = model.encoder.config.num_hidden_layers
    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("encoder."):
            if ".layer." in name:
                depth = int(name.split(".layer.")[1].split(".")[0]) + 1
            else:
                depth = 0  # embeddings
            lr = cfg.learning_rate * cfg.layer_decay ** (n_layers - depth)
        else:
            lr = cfg.head_learning_rate
        wd = 0.0 if p.ndim == 1 else cfg.weight_decay
        groups.setdefault((lr, wd), []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]


def head_scores(logits: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> dict[str, float]:
    """Dev macro-F1 per head and their mean (early stopping's criterion)."""
    scores = {h: macro_f1(targets[h], logits[h].argmax(1), len(LABELS[h])) for h in HEADS}
    scores["mean"] = float(np.mean([scores[h] for h in HEADS]))
    return scores


def row_tags(rows: list[dict], cfg: TrainConfig, training: bool = False) -> list[str] | None:
    """The source tags the model reads (``source_input``); training rows lose theirs at ``source_dropout``."""
    if not cfg.source_input:
        return None
    sources = [r.get("source") for r in rows]
    return training_tags(sources, cfg.source_dropout, cfg.seed) if training else [source_tag(s) for s in sources]


def train(cfg: TrainConfig, resume: bool = False) -> dict:
    """Fine-tune; returns the summary also written to ``output_dir/train_summary.json``."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    rows = load_rows(cfg)
    strategy = strategy_for(cfg)
    strategy.check(rows)  # before anything is written: a leaky student fold leaves no run (E606)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / CONFIG_FILE)
    strategy.write_records(out)
    base = strategy.base_model(rows)
    # seeded once the base model is ready: building or recovering it in this process draws from torch's
    # generator, and the heads' initialisation, dropout and batch order must not depend on whether it was
    # cached (a first run of a config differed from every later one: reports/2026-12-06-student/)
    seed_everything(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    train_enc = encode_rows(rows.train, tokenizer, cfg.max_length, row_tags(rows.train, cfg, training=True))
    dev_enc = encode_rows(rows.dev, tokenizer, cfg.max_length, row_tags(rows.dev, cfg))
    model, train_enc = strategy.build(base, rows, tokenizer, train_enc)
    if cfg.freeze_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    run = Optimisation.start(model, cfg, train_enc, rows)
    if resume and (out / CHECKPOINT).exists():
        run.resume(out / CHECKPOINT)
    run.fit(strategy, train_enc, dev_enc, tokenizer, out)
    summary = {"best_epoch": run.best_epoch, "best_dev_mean_macro_f1": run.best, "history": run.history,
               "model_dir": str(out / BEST_DIR), "encoder_dir": str(base)}
    if rows.heldout:
        summary["heldout_rows"] = score_heldout(rows.heldout, tokenizer, cfg, out)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    return summary


@dataclass
class Optimisation:
    """One run's optimisation state: model, optimizer and schedule, the epoch's examples, the best dev
    score so far and the history; all of it is checkpointed after each epoch."""

    model: MultiHeadClassifier
    cfg: TrainConfig
    optimizer: torch.optim.Optimizer
    scheduler: object
    objective: Objective
    epoch_rows: list[int]
    rng: random.Random
    history: list[dict] = field(default_factory=list)
    best: float = -1.0
    best_epoch: int = -1
    start_epoch: int = 0

    @classmethod
    def start(cls, model: MultiHeadClassifier, cfg: TrainConfig, enc: Encoded, rows: Rows) -> "Optimisation":
        optimizer = torch.optim.AdamW(param_groups(model, cfg))
        # oversampling repeats rows of rare classes within each epoch (positions into the row list)
        epoch_rows = [i for i, r in enumerate(rows.train) for _ in range(repeats(r, cfg.oversample))]
        epoch_rows += list(range(len(rows.train), len(enc.input_ids)))  # unlabelled texts (distillation)
        total_steps = math.ceil(len(epoch_rows) / cfg.batch_size) * cfg.epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
        rng = random.Random(cfg.seed)  # batch order; its state is checkpointed so a resumed run continues it
        return cls(model, cfg, optimizer, scheduler, Objective(cfg, enc, len(rows.train)), epoch_rows, rng)

    def resume(self, ckpt_path: Path) -> None:
        # weights_only: the checkpoint holds tensors, numbers, lists and dicts only, so loading it
        # cannot run code from a tampered file (torch's unpickler allow-list).
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.start_epoch, self.best, self.best_epoch, self.history = (ckpt["epoch"] + 1, ckpt["best"],
                                                                      ckpt["best_epoch"], ckpt["history"])
        self.rng.setstate(ckpt["py_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        log.info("resumed from %s at epoch %d", ckpt_path, self.start_epoch + 1)

    def checkpoint(self, epoch: int, ckpt_path: Path) -> None:
        torch.save(
            {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
             "scheduler": self.scheduler.state_dict(), "epoch": epoch, "best": self.best,
             "best_epoch": self.best_epoch, "history": self.history,
             "py_rng": self.rng.getstate(), "torch_rng": torch.get_rng_state()},
            ckpt_path,
        )

    def fit(self, strategy: FineTuning | Distillation, enc: Encoded, dev_enc: Encoded, tokenizer, out: Path) -> None:
        """Epochs until ``cfg.epochs`` or early stopping; the best dev epoch's model goes to ``best/``."""
        cfg = self.cfg
        pad_id = tokenizer.pad_token_id
        lengths = [len(enc.input_ids[i]) for i in self.epoch_rows]
        for epoch in range(self.start_epoch, cfg.epochs):
            started = time.time()
            train_loss = self.epoch(strategy, enc, lengths, pad_id, epoch)
            dev_logits = predict_logits(self.model, dev_enc.input_ids, pad_id)
            scores = head_scores(dev_logits, dev_enc.targets)
            record = {"epoch": epoch + 1, "train_loss": train_loss, "dev_macro_f1": scores,
                      "seconds": round(time.time() - started, 1)}
            self.history.append(record)
            log.info("epoch %d: %s", epoch + 1, json.dumps(record))
            print(json.dumps(record), flush=True)
            if scores["mean"] > self.best:
                self.best, self.best_epoch = scores["mean"], epoch + 1
                save_model(self.model, out / BEST_DIR)
                tokenizer.save_pretrained(out / BEST_DIR)
                np.savez(out / BEST_DIR / DEV_LOGITS_FILE, **dev_logits)
            self.checkpoint(epoch, out / CHECKPOINT)
            if epoch + 1 - self.best_epoch >= cfg.patience:
                log.info("early stopping: no dev improvement for %d epochs", cfg.patience)
                break

    def epoch(self, strategy: FineTuning | Distillation, enc: Encoded, lengths: list[int], pad_id: int,
              epoch: int) -> float:
        """One pass over the epoch's examples; returns the mean training loss."""
        cfg, model = self.cfg, self.model
        model.train()
        batches = [[self.epoch_rows[j] for j in b]
                   for b in batch_order(lengths, cfg.batch_size, self.rng, cfg.length_grouped)]
        running = 0.0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for step, batch in enumerate(bar, 1):
            ids, mask = collate([enc.input_ids[i] for i in batch], pad_id)
            out_logits = model(ids, mask, with_pooled=strategy.with_pooled)
            loss = strategy.loss(out_logits, batch, enc, self.objective)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            running += loss.item()
            bar.set_postfix(loss=f"{running / step:.4f}")
        return running / max(1, len(batches))


def score_heldout(heldout_rows: list[dict], tokenizer, cfg: TrainConfig, out: Path) -> int:
    """Cross-fitting: the best model's logits on the held-out fold (training/crossfit.py reads them)."""
    held_enc = encode_rows(heldout_rows, tokenizer, cfg.max_length, row_tags(heldout_rows, cfg))
    logits = predict_logits(load_model(out / BEST_DIR), held_enc.input_ids, tokenizer.pad_token_id)
    np.savez(out / HELDOUT_FILE, ids=np.array([r["id"] for r in heldout_rows]), **logits)
    return len(heldout_rows)
