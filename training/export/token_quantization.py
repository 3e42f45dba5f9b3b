"""Per-token activation scales for an int8 graph, so that a text's scores do not depend on its batch.

ONNX Runtime's dynamic quantization (``quantize_dynamic``) quantizes each MatMul input with one
``DynamicQuantizeLinear``: one scale and zero point for the whole activation tensor, i.e. for every
token of every text in the batch, padding included. A text's int8 inputs, and so its scores, then
depend on its neighbours: the audit of issue 26 saw confidences move by up to 0.15 and labels
change between a file scored whole and as shards.

This pass gives every token (every row of the last axis) its own symmetric int8 scale instead:
``s = max|x| / 127`` over the hidden axis, ``q = round(x / s)`` as int8 with zero point 0, then
``MatMulInteger`` (exact integer arithmetic, so one row's result is independent of the others) and
the float result scaled by ``s`` per row and the weight's scale per column. Nothing in a row's
arithmetic reads another row, so a text gets the same numbers alone, in any batch, at any position
and with any padding (padded positions are rows of their own and the attention mask keeps them out
of the real tokens). A token's scale is also tighter than the batch's, so the int8 graph tracks the
fp32 one more closely.

It rewrites a graph that ``quantize_dynamic`` wrote (weights stay as they are: int8 per output
channel), so it applies to a shipped bundle's ``model.onnx`` without the PyTorch model. Only
``onnx`` and ``numpy``; the runtime needs nothing new (standard opset-13+ operators).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Smallest per-token scale: a row of zeros would otherwise divide by zero.
MIN_SCALE = 1e-12
MARK = "_per_token"
QUANTIZATION = "int8-dynamic-per-token"  # config.json's "quantization" for a rewritten bundle


class NotDynamicInt8(ValueError):
    """The graph has a DynamicQuantizeLinear whose consumers are not the MatMulInteger pattern."""


def per_token_activations(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Rewrite every ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(a_scale * w_scale)``
    in ``model`` (in place) to per-token symmetric int8; returns the model and how many
    quantizers were rewritten (0: nothing to do, e.g. an fp32 graph or one already rewritten)."""
    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    zero = f"zero_point128{MARK}"
    rewritten = 0
    new_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            new_nodes.append(node)
            continue
        x = node.input[0]
        q, scale, zp = node.output
        _check_pattern(node, consumers)
        base = node.name or x
        absx, amax, guarded, s, scaled = (f"{x}{MARK}_{k}" for k in ("abs", "max", "guarded", "scale", "div"))
        new_nodes += [
            helper.make_node("Abs", [x], [absx], name=f"{base}{MARK}/Abs"),
            helper.make_node("ReduceMax", [absx], [amax], name=f"{base}{MARK}/ReduceMax", axes=[-1], keepdims=1),
            helper.make_node("Max", [amax, f"min_scale127{MARK}"], [guarded], name=f"{base}{MARK}/Max"),
            helper.make_node("Mul", [guarded, f"inv127{MARK}"], [s], name=f"{base}{MARK}/Scale"),
            helper.make_node("Div", [x, s], [scaled], name=f"{base}{MARK}/Div"),
            # round half to even, + 128, saturate: x / s in [-127, 127] becomes uint8 [1, 255]
            helper.make_node("QuantizeLinear", [scaled, f"one{MARK}", zero], [q], name=f"{base}{MARK}/Quantize"),
        ]
        for consumer in consumers[zp]:
            consumer.input[2] = zero
        for scales_mul in consumers[scale]:
            _scale_after(scales_mul, scale, s, consumers)
        rewritten += 1
    if not rewritten:
        return model, 0
    del graph.node[:]
    graph.node.extend(_topological(new_nodes, {i.name for i in graph.initializer} | {i.name for i in graph.input}))
    graph.initializer.extend([
        numpy_helper.from_array(np.array(128, dtype=np.uint8), zero),
        numpy_helper.from_array(np.array(1, dtype=np.float32), f"one{MARK}"),
        numpy_helper.from_array(np.array(MIN_SCALE * 127, dtype=np.float32), f"min_scale127{MARK}"),
        numpy_helper.from_array(np.array(1 / 127, dtype=np.float32), f"inv127{MARK}"),
    ])
    _drop_value_info(graph)
    onnx.checker.check_model(model)
    return model, rewritten


def _scale_after(scales_mul: onnx.NodeProto, scale: str, token_scale: str,
                 consumers: dict[str, list[onnx.NodeProto]]) -> None:
    """``Cast(acc) * (a_scale * w_scale)`` becomes ``(Cast(acc) * w_scale) * token_scale``.

    Multiplying the token scale (shape (..., 1)) into the weight scales first would build a full
    (..., N) scale tensor; and ONNX Runtime fuses the original shape into ``MatMulIntegerToFloat``,
    whose kernel takes A's scale as one number: given a per-token scale it silently uses the
    first (measured: logits off by up to 3.4). In this order no fusion pattern matches.
    """
    w_scale = scales_mul.input[1] if scales_mul.input[0] == scale else scales_mul.input[0]
    (product,) = scales_mul.output
    (out_mul,) = consumers[product]
    if out_mul.op_type != "Mul":
        raise NotDynamicInt8(f"{scales_mul.name}: its product feeds {out_mul.op_type}, not the output Mul")
    cast_out = out_mul.input[0] if out_mul.input[1] == product else out_mul.input[1]
    del scales_mul.input[:]
    scales_mul.input.extend([cast_out, w_scale])
    del out_mul.input[:]
    out_mul.input.extend([product, token_scale])


def _topological(nodes: list[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    """``nodes`` in an order where each comes after its inputs' producers (the scale Muls now read
    the Cast); otherwise the original order."""
    produced_by = {o: k for k, n in enumerate(nodes) for o in n.output}
    done: set[int] = set()
    order: list[onnx.NodeProto] = []

    def visit(k: int) -> None:
        stack = [(k, False)]
        while stack:
            j, expanded = stack.pop()
            if j in done:
                continue
            if expanded:
                done.add(j)
                order.append(nodes[j])
                continue
            stack.append((j, True))
            for name in reversed(nodes[j].input):
                p = produced_by.get(name)
                if p is not None and p not in done and name not in available:
                    stack.append((p, False))

    for k in range(len(nodes)):
        visit(k)
    return order


def _check_pattern(node: onnx.NodeProto, consumers: dict[str, list[onnx.NodeProto]]) -> None:
    q, scale, zp = node.output
    if any(c.op_type != "MatMulInteger" or c.input[0] != q for c in consumers.get(q, [])):
        raise NotDynamicInt8(f"{node.name}: its quantized output feeds something other than MatMulInteger's A")
    if any(c.op_type != "MatMulInteger" or c.input[2] != zp for c in consumers.get(zp, [])):
        raise NotDynamicInt8(f"{node.name}: its zero point feeds something other than MatMulInteger")
    if any(c.op_type != "Mul" for c in consumers.get(scale, [])):
        raise NotDynamicInt8(f"{node.name}: its scale feeds something other than Mul")


def _drop_value_info(graph: onnx.GraphProto) -> None:
    """Shapes recorded for the rewritten tensors are stale (the scales were scalars)."""
    keep = [v for v in graph.value_info if not (v.name.endswith("_scale") or v.name.endswith("scales_mul:0")
                                                or v.name.endswith("_zero_point"))]
    del graph.value_info[:]
    graph.value_info.extend(keep)


def rewrite_file(src: str | Path, dst: str | Path) -> int:
    """``per_token_activations`` on an ONNX file; writes ``dst`` (may be ``src``), returns the count."""
    model = onnx.load(str(src))
    model, count = per_token_activations(model)
    onnx.save(model, str(dst))
    return count


def convert_bundle(bundle_dir: str | Path) -> int:
    """Rewrite a bundle's ``model.onnx`` in place (a bundle exported before this pass), mark its
    config and rewrite its manifest through the bundle code; returns the number of quantizers
    rewritten (0: the bundle already had per-token scales or none at all, nothing written).

    The model version's last part is the graph's hash, as the export writes it: the scores change,
    so the version does too. Calibration and the review policy are kept (fitted on the old graph's
    scores; the labels move on few texts, see the bundle's report)."""
    import json

    from classifier.bundle import MANIFEST, sha256_file, write_manifest

    bundle = Path(bundle_dir)
    count = rewrite_file(bundle / "model.onnx", bundle / "model.onnx")
    if not count:
        return 0
    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    config["quantization"] = QUANTIZATION
    (bundle / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    fields = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    fields.pop("files", None)
    fields.pop("format_version", None)
    fields["model_version"] = f"{fields['model_version'].rsplit('-', 1)[0]}-{sha256_file(bundle / 'model.onnx')[:8]}"
    write_manifest(bundle, **fields)
    return count


if __name__ == "__main__":  # python -m training.export.token_quantization BUNDLE_DIR...
    import sys

    for path in sys.argv[1:]:
        print(f"{path}: {convert_bundle(path)} activation quantizers now per token")
