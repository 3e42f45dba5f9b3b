"""The PyTorch model as an ONNX graph (``export_onnx``), optionally with ONNX Runtime's transformer
fusions (``fuse``)."""
from __future__ import annotations

from pathlib import Path

import torch

from classifier.labels import HEADS
from training.modeling.inference import collate
from training.modeling.model import ExportWrapper

OPSET = 17
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
