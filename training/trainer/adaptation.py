"""Domain-adaptive pretraining: the pretrained encoder's masked-LM training continued on unlabelled
in-domain text before fine-tuning (Gururangan et al. 2020, "Don't Stop Pretraining").

Why: e5-small learned general multilingual text; our feedback is short, informal and full of banking
words (征信, 分期, 协商还款, 冻结) whose pieces the classifier must learn to read from ~11k labelled
rows. Continued masked-LM training on the unlabelled texts of the same sources shows the encoder those
words in context first, at no labelling cost.

How: ``adapt_encoder`` reads the base encoder of a training config (``ensure_base_model``: same trimmed
vocabulary, so every fold and the full run keep sharing one), puts a masked-LM head on it — the
decoder tied to the word embeddings, the transform freshly initialised, since e5's contrastive
training dropped BERT's head — and trains on the config's ``adapt:`` section's texts with
transformers' ``DataCollatorForLanguageModeling`` (15 % of pieces: 80 % ``<mask>``, 10 % random, 10 %
kept). It writes the encoder alone (the head is thrown away) with the tokenizer and a
``base_model.json`` saying what it was adapted from, to ``adapt.output_dir``; ``triage train`` on the
same config then fine-tunes it (``adapted_encoder``), and refuses (E608) when it is missing or was
adapted from another base or other texts.

The texts are guarded like every fitting input: none may be a text of a held-out split (E602). A
cross-fitting fold may share the adapted encoder, because its texts are unlabelled and disjoint from
every labelled file (data/unlabeled/make_unlabeled.py excludes them), so no fold's held-out rows were
seen.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from classifier.text.normalize import normalize_text
from training.config import AdaptConfig, TrainConfig
from training.data.splits import guard_fitting_rows
from training.errors import AdaptedEncoderMissing
from training.trainer.examples import batch_order, seed_everything

log = logging.getLogger(__name__)

SUMMARY_FILE = "base_model.json"


def read_texts(paths: list[str], limit: int | None = None) -> list[dict]:
    """Rows ``{"id", "text"}`` of JSONL files (the unlabelled format: ``id``, ``text``, optional ``source``)."""
    rows: list[dict] = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    record = json.loads(line)
                    rows.append({"id": str(record.get("id") or f"{Path(path).name}:{n}"), "text": str(record["text"])})
    return rows[:limit]


def _texts_sha256(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def _wanted(adapt: AdaptConfig, base_summary: dict, texts: list[str]) -> dict:
    """What an adapted encoder must record to be reused: its base (by the base's own record) and recipe."""
    recipe = {k: v for k, v in adapt.to_dict().items() if k not in ("output_dir", "files")}
    return {"base_texts_sha256": base_summary.get("texts_sha256"), "base_vocab_size": base_summary.get("vocab_size"),
            "base_num_layers": base_summary.get("num_layers"), "texts_sha256": _texts_sha256(texts), "recipe": recipe}


def _base_summary(base: Path) -> dict:
    return json.loads((base / SUMMARY_FILE).read_text(encoding="utf-8"))


def adapted_encoder(cfg: TrainConfig, base: Path) -> Path:
    """The adapted encoder a config's fine-tuning starts from, checked against its base and recipe (E608)."""
    adapt = cfg.adapt_config()
    out = Path(adapt.output_dir)
    summary_path = out / SUMMARY_FILE
    if not summary_path.is_file():
        raise AdaptedEncoderMissing(f"{out} holds no adapted encoder; run `triage base-model adapt --config CONFIG` "
                                    "with this training config first (or remove its adapt: section)")
    recorded = json.loads(summary_path.read_text(encoding="utf-8")).get("adapted", {})
    texts = [normalize_text(r["text"]) for r in read_texts(adapt.files, adapt.max_texts)]
    wanted = _wanted(adapt, _base_summary(base), texts)
    stale = sorted(k for k, v in wanted.items() if recorded.get(k) != v)
    if stale:
        raise AdaptedEncoderMissing(f"the adapted encoder in {out} was made from another base model, other texts or "
                                    f"another recipe ({', '.join(stale)} differ); run `triage base-model adapt "
                                    "--config CONFIG` again", details={"differ": stale})
    return out


def adapt_encoder(cfg: TrainConfig, base: Path) -> dict:
    """Masked-LM training of the encoder in ``base`` on the config's ``adapt:`` texts; returns the record
    written into ``adapt.output_dir/base_model.json`` (``adapted``: recipe, texts, steps, losses, time)."""
    adapt = cfg.adapt_config()
    rows = read_texts(adapt.files, adapt.max_texts)
    guard_fitting_rows(rows, "texts for domain-adaptive pretraining (adapt.files)")
    texts = [normalize_text(r["text"]) for r in rows]
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(adapt.seed)

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base))
    model = transformers.BertForMaskedLM.from_pretrained(str(base))  # encoder loaded; the head is new
    model.tie_weights()
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=adapt.mask_probability,
                                                            return_tensors="pt")
    encoded = tokenizer(texts, truncation=True, max_length=adapt.max_length)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    order_rng = random.Random(adapt.seed)
    steps_per_epoch = math.ceil(len(encoded) / adapt.batch_size)
    total = steps_per_epoch * adapt.epochs
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": adapt.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}], lr=adapt.learning_rate)
    schedule = transformers.get_linear_schedule_with_warmup(optim, int(adapt.warmup_ratio * total), total)
    model.train()
    started, step, losses = time.time(), 0, []
    for epoch in range(adapt.epochs):
        running = []
        for batch in batch_order(lengths, adapt.batch_size, order_rng, grouped=True):  # as fine-tuning batches
            inputs = collator([{"input_ids": encoded[i]} for i in batch])
            out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=inputs["labels"])
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            schedule.step()
            optim.zero_grad()
            running.append(out.loss.item())
            step += 1
            if step % 100 == 0:
                log.info("adapt epoch %d step %d/%d masked-LM loss %.3f", epoch + 1, step, total, np.mean(running[-100:]))
        losses.append(round(float(np.mean(running)), 4))
        log.info("adapt epoch %d: mean masked-LM loss %.4f", epoch + 1, losses[-1])

    out_dir = Path(adapt.output_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    model.bert.save_pretrained(out_dir)  # the encoder alone, as the base model directory holds it
    for path in base.iterdir():  # the base's tokenizer files, unchanged: the vocabulary is the same
        if path.is_file() and path.name not in ("config.json", "model.safetensors", SUMMARY_FILE):
            shutil.copy2(path, out_dir / path.name)
    summary = _base_summary(base)
    summary["adapted"] = {**_wanted(adapt, summary, texts), "base_model_dir": str(base), "files": list(adapt.files),
                          "texts": len(texts), "steps": step, "epoch_losses": losses,
                          "seconds": round(time.time() - started, 1)}
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary["adapted"]
