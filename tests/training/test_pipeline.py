"""Tiny end-to-end run: train → export (ONNX, int8, parity, calibration) → load with the runtime."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")

from classifier.cli import main  # noqa: E402
from classifier.errors import ExportParityError  # noqa: E402
from classifier.labels import HEADS, LABELS  # noqa: E402
from classifier.runtime import Classifier  # noqa: E402
from training.export import export_bundle  # noqa: E402
from training.model import load_model  # noqa: E402
from training.trainer import BEST_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny-run")
    cfg = yaml.safe_load((ROOT / "configs/train-tiny.yaml").read_text())
    cfg.update(
        train_file=str(ROOT / cfg["train_file"]), dev_file=str(ROOT / cfg["dev_file"]),
        base_model_dir=str(tmp / "base"), output_dir=str(tmp / "run"), max_train_rows=96, max_dev_rows=48, epochs=1,
    )
    config = tmp / "train.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(config)]) == 0
    return tmp / "run"


def test_training_writes_resumable_checkpoint_and_history(tiny_run):
    summary = json.loads((tiny_run / "train_summary.json").read_text())
    assert summary["best_epoch"] == 1
    assert set(summary["history"][0]["dev_macro_f1"]) == {*HEADS, "mean"}
    assert (tiny_run / "last.pt").exists() and (tiny_run / BEST_DIR / "dev_logits.npz").exists()
    assert (tiny_run / "linear.npz").exists()


def test_export_then_load_with_runtime_only(tiny_run, tmp_path):
    out = tmp_path / "bundle"
    assert main(["export", "--run", str(tiny_run), "--out", str(out), "--name", "t", "--min-agreement", "0.5"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"model.onnx", "tokenizer.json", "labels.json", "calibration.json", "config.json", "metrics.json",
            "MODEL_CARD.md", "linear.npz", "lexicon/financial_dict.txt"} <= set(manifest["files"])
    assert manifest["model_version"].startswith("t-") and manifest["data_version"]
    clf = Classifier.load(out)
    texts = ["信用卡年费太贵了", "花呗怎么还款", "垃圾app天天闪退"]
    preds = clf.predict(texts)
    assert len(preds) == 3
    for p in preds:
        for h in HEADS:
            assert p.heads[h].label in LABELS[h]
            assert abs(sum(p.heads[h].scores.values()) - 1.0) < 1e-6
    # batching and length sorting never change a text's result
    alone = [clf.predict([t])[0] for t in texts]
    for a, b in zip(alone, preds):
        for h in HEADS:
            assert a.heads[h].confidence == pytest.approx(b.heads[h].confidence, abs=1e-2)  # per-batch int8 scales


def test_fp32_export_matches_pytorch_exactly_and_int8_is_reported(tiny_run, tmp_path):
    report = export_bundle(tiny_run / BEST_DIR, tmp_path / "fp32", dev_file=ROOT / "data/labeled/dev.jsonl",
                           quantize_int8=False, min_agreement=0.999, train_config={"max_length": 48})
    for h in HEADS:
        assert report["parity"][h]["label_agreement"] >= 0.999
        assert report["parity"][h]["max_prob_diff"] < 1e-3


def test_export_fails_loudly_when_parity_is_below_the_bar(tiny_run, tmp_path):
    with pytest.raises(ExportParityError) as err:
        export_bundle(tiny_run / BEST_DIR, tmp_path / "b", dev_file=ROOT / "data/labeled/dev.jsonl",
                      min_agreement=1.01, train_config={"max_length": 48})
    assert err.value.code == "E601"


def test_resume_continues_from_checkpoint(tiny_run, tmp_path):
    cfg = yaml.safe_load((tiny_run / "train_config.yaml").read_text())
    run2 = tmp_path / "run2"
    shutil.copytree(tiny_run, run2)
    cfg.update(output_dir=str(run2), epochs=2)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--resume"]) == 0
    history = json.loads((run2 / "train_summary.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    np.testing.assert_equal(load_model(run2 / BEST_DIR).heads["category"].weight.shape, (len(LABELS["category"]), 384))
