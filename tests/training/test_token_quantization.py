"""Per-token activation scales (training/export/token_quantization.py) on a small graph quantized the way the
export quantizes: a row's output must not depend on the other rows, before it did."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from classifier.bundle import load_bundle  # noqa: E402
from training.export.token_quantization import QUANTIZATION, convert_bundle, per_token_activations  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = 32


def fp32_graph(path: Path) -> None:
    """x (batch, seq, 32) -> two MatMuls sharing their input (as Q/K/V do) -> Relu -> MatMul, with biases."""
    rng = np.random.default_rng(0)
    w = {k: numpy_helper.from_array(rng.normal(0, 0.3, (HIDDEN, HIDDEN)).astype(np.float32), k) for k in "abc"}
    bias = numpy_helper.from_array(rng.normal(0, 0.1, HIDDEN).astype(np.float32), "bias")
    nodes = [helper.make_node("MatMul", ["x", "a"], ["ya"], name="mm_a"),
             helper.make_node("MatMul", ["x", "b"], ["yb"], name="mm_b"),
             helper.make_node("Add", ["ya", "bias"], ["za"]),
             helper.make_node("Add", ["za", "yb"], ["s"]),
             helper.make_node("Relu", ["s"], ["r"]),
             helper.make_node("MatMul", ["r", "c"], ["y"], name="mm_c")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", HIDDEN])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", HIDDEN])],
                              [*w.values(), bias])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = tmp_path_factory.mktemp("tq")
    fp32_graph(tmp / "fp32.onnx")
    quantize_dynamic(str(tmp / "fp32.onnx"), str(tmp / "int8.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])
    model, count = per_token_activations(onnx.load(str(tmp / "int8.onnx")))
    assert count == 2  # x (shared by two MatMuls) and r
    onnx.save(model, str(tmp / "token.onnx"))
    return {k: str(tmp / f"{k}.onnx") for k in ("fp32", "int8", "token")}


def session(path: str, optimized: bool = True):
    options = ort.SessionOptions()
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def inputs() -> np.ndarray:
    x = np.random.default_rng(1).normal(0, 1, (6, 5, HIDDEN)).astype(np.float32)
    x[3] *= 40  # one text with large activations: under a per-batch scale it coarsens the others
    return x


def test_a_row_gets_the_same_numbers_alone_as_in_any_batch(graphs):
    x = inputs()
    for name, invariant in (("int8", False), ("token", True)):
        sess = session(graphs[name])
        together = sess.run(None, {"x": x})[0]
        alone = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
        shorter = sess.run(None, {"x": x[:, :3]})[0]  # the same rows without the last two positions
        if invariant:
            np.testing.assert_allclose(alone, together, rtol=0, atol=1e-6)
            np.testing.assert_allclose(shorter, together[:, :3], rtol=0, atol=1e-6)
        else:  # what the audit saw: the old graph moves a text with its neighbours
            assert np.abs(alone - together).max() > 1e-2


def test_per_token_scales_track_fp32_closer_than_one_batch_scale(graphs):
    x = inputs()
    reference = session(graphs["fp32"]).run(None, {"x": x})[0]
    error = {k: np.abs(session(graphs[k]).run(None, {"x": x})[0] - reference).mean() for k in ("int8", "token")}
    assert error["token"] < error["int8"] / 2, error


def test_onnx_runtime_optimizations_keep_the_per_token_scales(graphs):
    """ONNX Runtime fuses ``MatMulInteger -> Cast -> Mul(a_scale * b_scale)`` into MatMulIntegerToFloat,
    whose kernel reads A's scale as one number; the rewritten graph must not match that pattern."""
    x = inputs()
    fused, plain = (session(graphs["token"], optimized).run(None, {"x": x})[0] for optimized in (True, False))
    np.testing.assert_allclose(fused, plain, rtol=0, atol=1e-5)


def test_a_graph_without_dynamic_quantizers_is_left_alone(graphs):
    for name in ("fp32", "token"):
        model = onnx.load(graphs[name])
        before = model.SerializeToString()
        assert per_token_activations(model)[1] == 0
        assert model.SerializeToString() == before


def test_a_converted_bundle_verifies_and_is_not_converted_twice(tmp_path):
    """The test bundle was converted with ``python -m training.export.token_quantization``: it verifies (every
    file's hash in its manifest) and converting it again writes nothing."""
    bundle = tmp_path / "b"
    shutil.copytree(ROOT / "tests" / "fixtures" / "tiny_bundle", bundle)
    assert json.loads((bundle / "config.json").read_text())["quantization"] == QUANTIZATION
    manifest = (bundle / "manifest.json").read_bytes()
    assert convert_bundle(bundle) == 0
    assert (bundle / "manifest.json").read_bytes() == manifest
    load_bundle(bundle)
