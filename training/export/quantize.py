"""int8 dynamic quantization and the parity walk: the shipped graph must give PyTorch's labels.

``walk_to_parity`` quantizes the graph and compares it with the PyTorch fp32 model on the dev texts;
when the label agreement is below the bar, weight MatMuls stay fp32 one at a time — in the order
measured per node (``sensitivity_order``) or the fixed order (``fp32_fallback_order``) — until it holds.
(Bisection over the number of fp32 MatMuls was tried: agreement is not monotonic in it — it moves by
single texts around the bar — and it settled on 50 nodes where this walk finds 34.)
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from classifier.calibration import softmax
from classifier.errors import ConfigError
from classifier.labels import HEADS
from classifier.text.normalize import normalize_text
from classifier.runtime import Classifier
from training.export.onnx import OUTPUT_NAMES
from training.export.token_quantization import rewrite_file as per_token_file
from training.modeling.inference import collate, predict_logits

log = logging.getLogger(__name__)

MIN_AGREEMENT = 0.995
FP32_ORDERS = ("sensitivity", "fixed")
SENSITIVITY_TEXTS = 256  # dev texts (every k-th) on which each node's int8 damage is measured


@dataclass
class Quantization:
    """How the shipped graph is quantized. ``fuse``: ONNX Runtime's transformer fusions before
    quantization (off by default: measured with bench/bench_fusion.py, the fused int8 graph is 0.90× as
    fast as the unfused int8 graph on a quiet machine (0.65–0.72× under load) and fused fp32 0.98×
    unfused fp32: ONNX Runtime fuses the unfused graph itself at load time, and its int8 QAttention is
    slower than the unfused int8 projections). ``fp32_order``: which MatMuls stay fp32 first when int8
    parity fails — ``"sensitivity"`` (measured per node) or ``"fixed"`` (FFN output projections, then
    bottom-up)."""

    int8: bool = True
    min_agreement: float = MIN_AGREEMENT
    fuse: bool = False
    fp32_order: str = "sensitivity"

    def __post_init__(self):
        if self.fp32_order not in FP32_ORDERS:
            raise ConfigError(f"fp32_order must be one of {', '.join(FP32_ORDERS)}, not {self.fp32_order!r}")


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
    # not depend on its batch (training/export/token_quantization.py).
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


@dataclass
class ParityWalk:
    """Where the walk stopped: the last parity report and bundle, the nodes kept fp32, how many
    weight nodes there were to choose from, each node's measured int8 damage, every attempt."""

    result: dict
    clf: Classifier
    fp32_nodes: list[str]
    weight_nodes: int
    damage: dict[str, float] = field(default_factory=dict)
    attempts: list[dict] = field(default_factory=list)


def walk_to_parity(fp32: Path, shipped: Path, model, texts: list[str], pad_id: int, options: Quantization,
                   load: Callable[[list[str]], Classifier]) -> ParityWalk:
    """Quantize ``fp32`` into ``shipped`` (int8 unless ``options.int8`` is off), keeping more MatMuls
    fp32 until the label agreement with PyTorch on ``texts`` reaches ``options.min_agreement`` or every
    weight node is fp32. ``load(fp32_nodes)`` writes the rest of the provisional bundle and loads it.
    Parity is measured on the shipped (quantized) model; the caller decides what a miss means."""
    fallback = fp32_fallback_order(fp32) if options.int8 else []
    reference = None  # PyTorch logits, computed once
    damage: dict[str, float] = {}
    keep_fp32: list[str] = []
    attempts = []
    while True:
        if options.int8:
            quantize(fp32, shipped, keep_fp32)
        clf = load(list(keep_fp32))
        result, reference = parity(model, clf, texts, pad_id, reference)
        attempts.append({"fp32_nodes": len(keep_fp32), "min_label_agreement": result["min_label_agreement"]})
        log.info("parity with %d MatMuls kept fp32: %s", len(keep_fp32), json.dumps(result))
        if result["min_label_agreement"] >= options.min_agreement or len(keep_fp32) == len(fallback):
            break
        if not keep_fp32 and options.fp32_order == "sensitivity":  # measured only when all-int8 parity fails
            # every k-th dev text, with the PyTorch logits the parity check already computed for it
            step = max(1, len(texts) // SENSITIVITY_TEXTS)
            sample_ids = clf.encode([normalize_text(t) for t in texts[::step]])
            fallback, damage = sensitivity_order(fp32, sample_ids, pad_id, {h: reference[h][::step] for h in HEADS},
                                                 fallback)
        keep_fp32.append(fallback[len(keep_fp32)])
    return ParityWalk(result, clf, keep_fp32, len(fallback), damage, attempts)
