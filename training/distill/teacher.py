"""The teacher: an ensemble of training runs whose averaged probabilities are soft labels for a student.

Members are the full run and its cross-fitting folds (different data, same recipe and vocabulary),
each blended with its own TF-IDF model at the weight the bundle's calibration chose — or exported
bundles (``bundle_probs``): their calibrated, blended probabilities, run by ONNX Runtime. A bundle is
the teacher a team has when its training runs are gone (they do not survive a machine): the shipped
default bundle is what the service runs, so a student measured against it is measured against what
it would replace. It is slow — one forward pass per member — and is not what the service runs: its
job is to label texts (the labelled splits and unlabelled in-domain text) for distillation, and to
show what an ensemble buys on the test split (``triage teacher --data data/labeled/test.jsonl --evaluate``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.calibration import blend, softmax
from classifier.labels import HEADS, LABELS
from classifier.linear import LinearTfidfModel
from classifier.text.normalize import normalize_text
from training.config import TrainConfig
from training.modeling.inference import predict_logits
from training.modeling.model import load_model
from training.run_dir import BEST_DIR, CONFIG_FILE, LINEAR_FILE, PROVENANCE_FILE


def member_probs(run_dir: str | Path, texts: Sequence[str], blend_weights: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """One run's probabilities per head: its best transformer, blended with its TF-IDF model."""
    from transformers import AutoTokenizer

    run_dir = Path(run_dir)
    cfg = TrainConfig.from_yaml(run_dir / CONFIG_FILE)
    tokenizer = AutoTokenizer.from_pretrained(str(run_dir / BEST_DIR))
    normalized = [normalize_text(t) for t in texts]
    ids = tokenizer(normalized, truncation=True, max_length=cfg.max_length)["input_ids"]
    logits = predict_logits(load_model(run_dir / BEST_DIR), ids, tokenizer.pad_token_id)
    probs = {h: softmax(logits[h]) for h in HEADS}
    if blend_weights and (run_dir / LINEAR_FILE).is_file():
        linear = LinearTfidfModel.load(run_dir / LINEAR_FILE).predict_proba(normalized, normalized=True)
        probs = {h: blend(probs[h], linear[h], blend_weights.get(h, 0.0)) for h in HEADS}
    return probs


def bundle_probs(clf, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """A loaded bundle's (``Classifier``) probabilities per head, as the service computes them (blend +
    temperature)."""
    return clf.calibrated(clf.raw_scores(texts))


def ensemble(members: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The teacher's probabilities: the members' mean, per head."""
    return {h: np.mean([m[h] for m in members], axis=0) for h in HEADS}


def write_soft_labels(path: str | Path, rows: Sequence[dict], probs: dict[str, np.ndarray]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i, r in enumerate(rows):
            fh.write(json.dumps({"id": r.get("id"), "text": r["text"],
                                 "soft": {h: dict(zip(LABELS[h], np.round(probs[h][i], 5).tolist())) for h in HEADS}},
                                ensure_ascii=False) + "\n")


def write_provenance(out_dir: str | Path, runs: Sequence[str | Path], bundles: Sequence[str | Path]) -> None:
    members = {"runs": [str(Path(r).resolve()) for r in runs], "bundles": [str(Path(b).resolve()) for b in bundles]}
    (Path(out_dir) / PROVENANCE_FILE).write_text(json.dumps(members, indent=1), encoding="utf-8")
