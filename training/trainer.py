"""Joint fine-tuning of the three heads, with early stopping on dev macro-F1 and resumable checkpoints."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoTokenizer, get_linear_schedule_with_warmup

from classifier.labels import HEADS, LABELS
from classifier.normalize import normalize_text
from training.config import TrainConfig
from training.data.folds import split_fold
from training.data.schema import read_labelled, read_labelled_files, to_dataset
from training.data.splits import guard_fitting_rows
from training.modeling.base_encoder import ensure_base_model
from training.modeling.inference import collate, predict_logits
from training.modeling.model import MultiHeadClassifier, load_model, save_model
from training.run_dir import BEST_DIR, CHECKPOINT, CONFIG_FILE, DEV_LOGITS_FILE, FOLD_TEACHER_FILE, HELDOUT_FILE, SUMMARY_FILE, model_dir
from training.stats import macro_f1

log = logging.getLogger(__name__)


@dataclass
class Encoded:
    input_ids: list[list[int]]
    targets: dict[str, np.ndarray]
    secondary: np.ndarray  # multi-hot over categories


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode_rows(rows: list[dict], tokenizer, max_length: int) -> Encoded:
    """Tokenize through a Hugging Face ``datasets.Dataset`` (label columns as ClassLabel ids)."""
    n_cat = len(LABELS["category"])

    def tokenize(batch):
        enc = tokenizer([normalize_text(t) for t in batch["text"]], truncation=True, max_length=max_length)
        secondary = []
        for primary, second in zip(batch["category"], batch["category_secondary"]):
            multi_hot = [0.0] * n_cat
            multi_hot[primary] = 1.0
            if second is not None:
                multi_hot[second] = 1.0
            secondary.append(multi_hot)
        return {"input_ids": enc["input_ids"], "secondary": secondary}

    ds = to_dataset(rows).map(tokenize, batched=True, batch_size=1024, desc="tokenizing")
    targets = {h: np.asarray(ds[h], dtype=np.int64) for h in HEADS}
    return Encoded(ds["input_ids"], targets, np.asarray(ds["secondary"], dtype=np.float32))


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


def class_weights(targets: np.ndarray, n: int, scheme: str) -> torch.Tensor | None:
    if scheme == "none":
        return None
    counts = np.bincount(targets, minlength=n).astype(np.float64) + 1.0
    w = counts.sum() / counts
    if scheme == "sqrt_inverse":
        w = np.sqrt(w)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


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


def repeats(row: dict, oversample: dict[str, int]) -> int:
    """How often a training row appears per epoch: the largest factor among its oversampled classes."""
    return max((times for key, times in oversample.items() if row[key.partition(".")[0]] == key.partition(".")[2]),
               default=1)


def train(cfg: TrainConfig, resume: bool = False) -> dict:
    """Fine-tune; returns the summary also written to ``output_dir/train_summary.json``."""
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    all_train_rows = read_labelled_files(cfg.train_files)[: cfg.max_train_rows]
    dev_rows = read_labelled(cfg.dev_file)[: cfg.max_dev_rows]
    guard_fitting_rows(all_train_rows, "training data")
    guard_fitting_rows(dev_rows, "dev data (early stopping)")
    distill = cfg.distill_config()
    train_rows, heldout_rows = split_fold(all_train_rows, cfg)
    fold_teacher = None
    if distill and cfg.cv_folds:  # before anything is written: a leaky student fold leaves no run (E606)
        from training.crossfit import check_fold_teacher

        fold_teacher = check_fold_teacher(distill, [r["id"] for r in heldout_rows], f"{cfg.cv_fold}/{cfg.cv_folds}")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / CONFIG_FILE)
    if fold_teacher:
        (out / FOLD_TEACHER_FILE).write_text(json.dumps(fold_teacher, indent=1), encoding="utf-8")
    soft_rows = None
    # every fold shares the full run's base model and vocabulary, so their scores are comparable;
    # a student starts from its teacher's model and vocabulary, or from the pretrained encoder with a
    # vocabulary that also covers the unlabelled texts it learns from
    if distill and distill.init == "teacher":
        base = model_dir(distill.teacher_run)
    elif distill and distill.init == "bundle":
        from training.modeling.from_bundle import recover_model

        base = recover_model(distill.teacher_bundle, cfg.base_model_dir)
    elif distill:
        from training.distill import read_soft_labels

        soft_rows = read_soft_labels(distill.soft_labels)
        guard_fitting_rows(soft_rows, "soft-labelled texts (the student's vocabulary)")
        base = ensure_base_model(cfg, all_train_rows + soft_rows, dev_rows)
    else:
        base = ensure_base_model(cfg, all_train_rows, dev_rows)
    # seeded once the base model is ready: building or recovering it in this process draws from torch's
    # generator, and the heads' initialisation, dropout and batch order must not depend on whether it was
    # cached (a first run of a config differed from every later one: reports/2026-12-06-student, seventh session)
    seed_everything(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    pad_id = tokenizer.pad_token_id
    train_enc = encode_rows(train_rows, tokenizer, cfg.max_length)
    dev_enc = encode_rows(dev_rows, tokenizer, cfg.max_length)

    soft = None
    if distill:
        from training.distill import attach_soft_labels, build_student, read_soft_labels, soft_targets, student_layers
        from transformers import BertConfig

        teacher_layers = BertConfig.from_pretrained(str(base)).num_hidden_layers
        layers = student_layers(teacher_layers, distill.num_layers, distill.layers)
        model = build_student(base, layers, cfg.dropout)
        per_row, unlabelled = attach_soft_labels(train_rows, all_train_rows, dev_rows,
                                                 soft_rows or read_soft_labels(distill.soft_labels), distill.max_unlabeled)
        soft = soft_targets(per_row, unlabelled)
        extra_ids = tokenizer([normalize_text(r["text"]) for r in unlabelled], truncation=True,
                              max_length=cfg.max_length)["input_ids"] if unlabelled else []
        n_cat = len(LABELS["category"])
        train_enc = Encoded(list(train_enc.input_ids) + list(extra_ids),
                            {h: np.concatenate([train_enc.targets[h], np.full(len(extra_ids), -100, np.int64)]) for h in HEADS},
                            np.concatenate([train_enc.secondary, np.zeros((len(extra_ids), n_cat), np.float32)]))
        if distill.feature_weight:
            from training.distill import teacher_features

            started = time.time()
            soft.features = teacher_features(base, train_enc.input_ids, pad_id)
            log.info("teacher features of %d examples from %s in %.0f s (variance %.4f)", len(soft.features.features),
                     base, time.time() - started, soft.features.variance)
        log.info("student (from the %s): layers %s of %d; %d labelled rows (%d with soft labels), %d unlabelled texts, "
                 "T=%s alpha=%s feature_weight=%s", distill.init, layers, teacher_layers, len(train_rows),
                 int(soft.has_soft[soft.labelled].sum()), len(unlabelled), distill.temperature, distill.alpha,
                 distill.feature_weight)
    else:
        model = MultiHeadClassifier.from_encoder_dir(base, cfg.dropout)
    if cfg.freeze_embeddings:
        model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    optimizer = torch.optim.AdamW(param_groups(model, cfg))
    # oversampling repeats rows of rare classes within each epoch (positions into the row list)
    epoch_rows = [i for i, r in enumerate(train_rows) for _ in range(repeats(r, cfg.oversample))]
    epoch_rows += list(range(len(train_rows), len(train_enc.input_ids)))  # unlabelled texts (distillation)
    steps_per_epoch = math.ceil(len(epoch_rows) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    losses = {
        h: nn.CrossEntropyLoss(weight=class_weights(train_enc.targets[h][: len(train_rows)], len(LABELS[h]), cfg.class_weighting))
        for h in HEADS
    }
    bce = nn.BCEWithLogitsLoss()

    history: list[dict] = []
    best, best_epoch, start_epoch = -1.0, -1, 0
    ckpt_path = out / CHECKPOINT
    lengths = [len(train_enc.input_ids[i]) for i in epoch_rows]
    rng = random.Random(cfg.seed)  # batch order; its state is checkpointed so a resumed run continues it
    if resume and ckpt_path.exists():
        # weights_only: the checkpoint holds tensors, numbers, lists and dicts only, so loading it
        # cannot run code from a tampered file (torch's unpickler allow-list).
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, best, best_epoch, history = ckpt["epoch"] + 1, ckpt["best"], ckpt["best_epoch"], ckpt["history"]
        rng.setstate(ckpt["py_rng"])
        torch.set_rng_state(ckpt["torch_rng"])
        log.info("resumed from %s at epoch %d", ckpt_path, start_epoch + 1)

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        started = time.time()
        batches = [[epoch_rows[j] for j in b] for b in batch_order(lengths, cfg.batch_size, rng, cfg.length_grouped)]
        running = 0.0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for step, batch in enumerate(bar, 1):
            ids, mask = collate([train_enc.input_ids[i] for i in batch], pad_id)
            out_logits = model(ids, mask, with_pooled=soft is not None and soft.features is not None)
            if soft is None:
                loss = sum(
                    cfg.loss_weights.get(h, 1.0) * losses[h](out_logits[h], torch.from_numpy(train_enc.targets[h][batch]))
                    for h in HEADS
                )
                if cfg.secondary_loss_weight:
                    loss = loss + cfg.secondary_loss_weight * bce(out_logits["secondary"], torch.from_numpy(train_enc.secondary[batch]))
            else:
                loss = distillation_loss(out_logits, batch, train_enc, soft, losses, bce, cfg, distill)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            running += loss.item()
            bar.set_postfix(loss=f"{running / step:.4f}")
        dev_logits = predict_logits(model, dev_enc.input_ids, pad_id)
        scores = head_scores(dev_logits, dev_enc.targets)
        record = {"epoch": epoch + 1, "train_loss": running / max(1, len(batches)), "dev_macro_f1": scores,
                  "seconds": round(time.time() - started, 1)}
        history.append(record)
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
        print(json.dumps(record), flush=True)
        if scores["mean"] > best:
            best, best_epoch = scores["mean"], epoch + 1
            save_model(model, out / BEST_DIR)
            tokenizer.save_pretrained(out / BEST_DIR)
            np.savez(out / BEST_DIR / DEV_LOGITS_FILE, **dev_logits)
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "epoch": epoch, "best": best, "best_epoch": best_epoch, "history": history,
             "py_rng": rng.getstate(), "torch_rng": torch.get_rng_state()},
            ckpt_path,
        )
        if epoch + 1 - best_epoch >= cfg.patience:
            log.info("early stopping: no dev improvement for %d epochs", cfg.patience)
            break
    summary = {"best_epoch": best_epoch, "best_dev_mean_macro_f1": best, "history": history,
               "model_dir": str(out / BEST_DIR)}
    if heldout_rows:
        held_enc = encode_rows(heldout_rows, tokenizer, cfg.max_length)
        logits = predict_logits(load_model(out / BEST_DIR), held_enc.input_ids, pad_id)
        np.savez(out / HELDOUT_FILE, ids=np.array([r["id"] for r in heldout_rows]), **logits)
        summary["heldout_rows"] = len(heldout_rows)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    return summary


def distillation_loss(out_logits: dict, batch: list[int], enc: Encoded, soft, losses: dict, bce, cfg: TrainConfig, distill):
    """Per head: alpha × KD on the rows with teacher soft labels + (1 − alpha) × cross-entropy on the
    rows with gold labels (unlabelled texts have only the former); the secondary target on labelled rows;
    with teacher features, feature_weight × their normalized MSE on every row."""
    from training.distill import feature_loss, kd_loss

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
            term = term + (1.0 - distill.alpha if len(with_soft) else 1.0) * losses[h](out_logits[h][labelled], gold)
        loss = loss + cfg.loss_weights.get(h, 1.0) * term
    if cfg.secondary_loss_weight and len(labelled):
        loss = loss + cfg.secondary_loss_weight * bce(out_logits["secondary"][labelled],
                                                      torch.from_numpy(enc.secondary[idx[labelled.numpy()]]))
    if soft.features is not None:
        loss = loss + distill.feature_weight * feature_loss(out_logits["pooled"], soft.features.features[idx],
                                                            soft.features.variance)
    return loss


def load_best(output_dir: str | Path) -> MultiHeadClassifier:
    return load_model(Path(output_dir) / BEST_DIR)
