"""A bundle's model rebuilt in PyTorch from its ONNX weights (the student's starting point when the
teacher is a shipped bundle) computes what the bundle computes."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from classifier.errors import BundleError  # noqa: E402
from classifier.labels import HEADS  # noqa: E402
from classifier.text.normalize import normalize_text  # noqa: E402
from classifier.runtime import Classifier  # noqa: E402
from tests.conftest import TINY_BUNDLE  # noqa: E402
from training.modeling.from_bundle import recover_model  # noqa: E402
from training.modeling.model import load_model  # noqa: E402
from training.modeling.inference import predict_logits  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_the_recovered_model_agrees_with_the_bundle(tmp_path):
    out = recover_model(TINY_BUNDLE, tmp_path / "teacher")
    texts = [json.loads(line)["text"] for line in (ROOT / "data/labeled/dev.jsonl").open(encoding="utf-8")][:200]
    clf = Classifier.load(TINY_BUNDLE)
    ids = clf.encode([normalize_text(t) for t in texts])
    onnx_logits = clf.logits(ids)
    torch_logits = predict_logits(load_model(out), ids, clf.pad_id)
    for h in HEADS:  # int8 weights are dequantized exactly; int8 activations are what remains
        agreement = (torch_logits[h].argmax(1) == onnx_logits[f"logits_{h}"].argmax(1)).mean()
        assert agreement >= 0.97, (h, agreement)
        assert np.abs(torch_logits[h] - onnx_logits[f"logits_{h}"]).mean() < 0.1
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok(normalize_text(texts[0]))["input_ids"] == ids[0]  # the bundle's own vocabulary
    marker = (out / "recovered_from.json").stat().st_mtime_ns
    recover_model(TINY_BUNDLE, out)  # the same bundle again: reused
    assert (out / "recovered_from.json").stat().st_mtime_ns == marker


def test_a_graph_that_is_not_the_classifier_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    bundle = tmp_path / "b"
    shutil.copytree(TINY_BUNDLE, bundle)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(bundle / "model.onnx"))
    from training.evaluation.model_card import refresh_manifest

    refresh_manifest(bundle)
    with pytest.raises(BundleError):
        recover_model(bundle, tmp_path / "out")
