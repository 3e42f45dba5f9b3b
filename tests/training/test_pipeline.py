"""Tiny end-to-end run: train (and cross-fitting folds) → export (ONNX, int8, parity, calibration,
review policy) → load with the runtime. Every file opened meanwhile is recorded: the test split must
not be among them."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")

from classifier.bundle import load_bundle  # noqa: E402
from classifier.cli import main  # noqa: E402
from classifier.labels import HEADS, LABELS  # noqa: E402
from classifier.runtime import Classifier  # noqa: E402
from training.errors import ExportParityError  # noqa: E402
from training.export.bundle import FittingData, export_bundle  # noqa: E402
from training.export.quantize import Quantization  # noqa: E402
from training.modeling.model import load_model  # noqa: E402
from training.run_dir import BEST_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEST_SPLIT = (ROOT / "data" / "labeled" / "test.jsonl").resolve()

# Files opened while a fitting step runs (an audit hook cannot be removed: it records only while on).
_OPENED: list[str] = []
_RECORDING = [False]


def _audit(event, args):
    if event == "open" and _RECORDING[0] and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(str(args[0] if not isinstance(args[0], bytes) else args[0].decode(errors="replace")))


sys.addaudithook(_audit)


class recording_opens:
    def __enter__(self):
        _OPENED.clear()
        _RECORDING[0] = True
        return _OPENED

    def __exit__(self, *exc):
        _RECORDING[0] = False


def opened_test_split(paths: list[str]) -> list[str]:
    return [p for p in paths if Path(p).name == TEST_SPLIT.name and Path(p).resolve() == TEST_SPLIT]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny-run")
    cfg = yaml.safe_load((ROOT / "configs/train-tiny.yaml").read_text())
    cfg.update(
        train_file=str(ROOT / cfg["train_file"]), dev_file=str(ROOT / cfg["dev_file"]),
        base_model_dir=str(tmp / "base"), output_dir=str(tmp / "run"), max_train_rows=96, max_dev_rows=48, epochs=1,
    )
    config = tmp / "train.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config


@pytest.fixture(scope="module")
def tiny_run(tiny_config):
    with recording_opens() as opened:
        assert main(["train", "--config", str(tiny_config)]) == 0
    assert opened and not opened_test_split(opened)
    return Path(yaml.safe_load(tiny_config.read_text())["output_dir"])


@pytest.fixture(scope="module")
def tiny_folds(tiny_config, tiny_run):
    with recording_opens() as opened:
        for k in (0, 1):
            assert main(["train", "--config", str(tiny_config), "--fold", f"{k}/2"]) == 0
    assert opened and not opened_test_split(opened)
    return [Path(f"{tiny_run}-fold{k}of2") for k in (0, 1)]


def test_training_writes_resumable_checkpoint_and_history(tiny_run):
    summary = json.loads((tiny_run / "train_summary.json").read_text())
    assert summary["best_epoch"] == 1
    assert set(summary["history"][0]["dev_macro_f1"]) == {*HEADS, "mean"}
    assert (tiny_run / "last.pt").exists() and (tiny_run / BEST_DIR / "dev_logits.npz").exists()
    assert (tiny_run / "linear.npz").exists()


def test_a_run_does_not_depend_on_whether_it_built_the_base_model(tiny_config, tiny_run, tmp_path):
    """tiny_run built its base model in-process (the cache was empty); this run finds it cached. Building
    it draws from torch's generator, so seeding before it made a first run differ from every later one
    of the same config (two replicates of the teacher did: reports/2026-12-06-student, seventh session)."""
    cfg = yaml.safe_load(tiny_config.read_text())
    cfg["output_dir"] = str(tmp_path / "again")
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(config)]) == 0
    first = json.loads((tiny_run / "train_summary.json").read_text())["history"]
    again = json.loads((tmp_path / "again" / "train_summary.json").read_text())["history"]
    assert [h["train_loss"] for h in again] == [h["train_loss"] for h in first]
    assert [h["dev_macro_f1"] for h in again] == [h["dev_macro_f1"] for h in first]


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
    # batching and length sorting never change a text's result: the int8 graph's activation scales are
    # per token (training/export/token_quantization.py), not per batch tensor
    assert json.loads((out / "config.json").read_text())["quantization"] == "int8-dynamic-per-token"
    alone = [clf.predict([t])[0] for t in texts]
    for a, b in zip(alone, preds):
        assert a.needs_review == b.needs_review
        for h in HEADS:
            assert a.heads[h].label == b.heads[h].label
            assert a.heads[h].confidence == pytest.approx(b.heads[h].confidence, abs=1e-4)


def test_fp32_export_matches_pytorch_exactly_and_int8_is_reported(tiny_run, tmp_path):
    report = export_bundle(tiny_run / BEST_DIR, tmp_path / "fp32", FittingData(ROOT / "data/labeled/dev.jsonl"),
                           quantization=Quantization(int8=False, min_agreement=0.999), train_config={"max_length": 48})
    for h in HEADS:
        assert report["parity"][h]["label_agreement"] >= 0.999
        assert report["parity"][h]["max_prob_diff"] < 1e-3


def test_export_fails_loudly_when_parity_is_below_the_bar(tiny_run, tmp_path):
    with pytest.raises(ExportParityError) as err:
        export_bundle(tiny_run / BEST_DIR, tmp_path / "b", FittingData(ROOT / "data/labeled/dev.jsonl"),
                      quantization=Quantization(min_agreement=1.01), train_config={"max_length": 48})
    assert err.value.code == "E601"


def test_sensitivity_order_keeps_the_most_damaging_matmul_fp32_first(tiny_run, tmp_path):
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from classifier.calibration import softmax
    from training.export.onnx import export_onnx
    from training.export.quantize import fp32_fallback_order, quantize, sensitivity_order
    from training.modeling.inference import collate, predict_logits

    model = load_model(tiny_run / BEST_DIR)
    tok = AutoTokenizer.from_pretrained(str(tiny_run / BEST_DIR))
    texts = [json.loads(line)["text"] for line in (ROOT / "data/labeled/dev.jsonl").read_text().splitlines()[:96]]
    ids = tok(texts, truncation=True, max_length=48)["input_ids"]
    reference = predict_logits(model, ids, tok.pad_token_id)
    fp32 = tmp_path / "fp32.onnx"
    export_onnx(model, fp32, tok.pad_token_id)
    nodes = fp32_fallback_order(fp32)
    order, damage = sensitivity_order(fp32, ids, tok.pad_token_id, reference, nodes)
    assert sorted(order) == sorted(nodes) and set(damage) == set(nodes)
    assert [damage[n] for n in order] == sorted(damage.values(), reverse=True) and damage[order[0]] > 0

    def deviation(keep):  # all int8 but ``keep``: mean total variation from PyTorch
        quantize(fp32, tmp_path / "q.onnx", keep)
        sess = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
        i, m = collate(ids, tok.pad_token_id)
        out = sess.run(None, {"input_ids": i.numpy(), "attention_mask": m.numpy()})
        return np.mean([0.5 * np.abs(softmax(out[k]) - softmax(reference[h])).sum(1).mean() for k, h in enumerate(HEADS)])

    # the node it ranks first matters more than the one it ranks last
    assert deviation([order[0]]) < deviation([order[-1]])


def test_walk_in_sensitivity_order_is_reported(tiny_run, tmp_path):
    report = export_bundle(tiny_run / BEST_DIR, tmp_path / "b", FittingData(ROOT / "data/labeled/dev.jsonl"),
                           quantization=Quantization(min_agreement=0.999), train_config={"max_length": 48})
    assert report["fp32_order"] == "sensitivity"
    if report["fp32_nodes"]:  # all-int8 parity failed: the walk went in measured order
        damage = report["int8_damage"]
        kept = [damage[n] for n in report["fp32_nodes"]]
        assert kept == sorted(kept, reverse=True) and min(kept) >= max(
            (d for n, d in damage.items() if n not in report["fp32_nodes"]), default=0.0)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["fp32_nodes"] == report["fp32_nodes"]
    card = (tmp_path / "b" / "MODEL_CARD.md").read_text()
    assert f"kept fp32 for parity: {len(report['fp32_nodes'])} of {report['weight_nodes']} (sensitivity order)" in card


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


def test_folds_hold_out_every_training_row_once(tiny_folds):
    held = [np.load(d / "heldout.npz") for d in tiny_folds]
    ids = [str(i) for h in held for i in h["ids"]]
    assert len(ids) == 96 and len(set(ids)) == 96
    for d in tiny_folds:
        lin = np.load(d / "heldout_linear.npz")
        assert lin["urgency"].shape == (len(lin["ids"]), len(LABELS["urgency"]))


def test_crossfit_export_fits_the_review_policy_without_reading_test(tiny_run, tiny_folds, tmp_path):
    out = tmp_path / "bundle"
    review = tmp_path / "review.yaml"
    review.write_text(yaml.safe_dump({"review": {"recall_targets": {"urgency.high": 0.9}, "recall_margin": 0.0,
                                                 "max_share": 0.5}}))
    with recording_opens() as opened:
        assert main(["export", "--run", str(tiny_run), "--out", str(out), "--name", "t", "--min-agreement", "0.5",
                     "--crossfit", *map(str, tiny_folds), "--review-config", str(review)]) == 0
    assert opened and not opened_test_split(opened)
    report = json.loads((out / "export_report.json").read_text())
    policy = report["calibration"]["review_policy"]
    dev_rows = sum(1 for line in (ROOT / "data/labeled/dev.jsonl").open(encoding="utf-8") if line.strip())
    assert report["calibration"]["fitting_scores"] == {"dev_rows": dev_rows, "oof_rows": 96, "selected_rows": 0,
                                                       "crossfit_runs": [str(d) for d in tiny_folds]}
    cal = json.loads((out / "calibration.json").read_text())
    assert set(cal["watch"]) == {"urgency.high"} and cal["watch"] == policy["watch"]
    assert policy["review_share"] <= 0.5
    if policy["targets_met"]:
        assert policy["seen_recall"]["urgency.high"]["value"] >= 0.9
    else:
        assert "cannot be met" in policy["warning"]
    preds = Classifier.load(out).predict(["卡里的钱莫名其妙没了", "花呗怎么还款"])
    assert all(p.needs_review == bool(p.review_reasons) for p in preds)


def test_training_on_the_test_split_is_refused(tiny_config, tmp_path):
    cfg = yaml.safe_load(tiny_config.read_text())
    cfg.update(extra_train_files=[str(TEST_SPLIT)], output_dir=str(tmp_path / "leak"), max_train_rows=None)
    (tmp_path / "leak.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(tmp_path / "leak.yaml")]) == 1


def test_teacher_writes_soft_labels_and_compares_members(tiny_run, tiny_folds, tmp_path):
    data = ROOT / "tests/fixtures/data/good.jsonl"
    assert main(["teacher", "--runs", str(tiny_run), *map(str, tiny_folds), "--data", str(data), "--out", str(tmp_path)]) == 0
    soft = [json.loads(line) for line in (tmp_path / "good.soft.jsonl").open(encoding="utf-8")]
    assert len(soft) == 6
    for s in soft:
        for h in HEADS:
            assert list(s["soft"][h]) == list(LABELS[h]) and abs(sum(s["soft"][h].values()) - 1) < 1e-3
    metrics = json.loads((tmp_path / "good.metrics.json").read_text())
    assert set(metrics) == {"ensemble", str(tiny_run), *map(str, tiny_folds)}
    assert set(metrics["ensemble"]["heads"]) == set(HEADS)


def test_evaluate_compares_bundles_and_writes_the_card(tmp_path, watched_bundle):
    bundle = tmp_path / "b"
    shutil.copytree(watched_bundle, bundle)
    data = ROOT / "tests/fixtures/data/good.jsonl"
    out = tmp_path / "cmp"
    assert main(["evaluate", "--bundle", str(ROOT / "tests/fixtures/tiny_bundle"), "--bundle", str(bundle),
                 "--data", str(data), "--data", str(ROOT / "data/labeled/dev.jsonl"), "--out", str(out), "--no-plots"]) == 0
    comparison = (out / "comparison.md").read_text(encoding="utf-8")
    assert "seen recall `urgency.high`" in comparison and "review share" in comparison
    m = json.loads((out / "b" / "dev" / "metrics.json").read_text())
    high = m["review"]["seen_recall"]["urgency.high"]
    # the watched copy sends every item not predicted high to review: nothing urgent goes unseen
    assert high["value"] == 1.0 and high["unseen"] == 0 and m["review"]["share"] == 1.0
    lo, hi = m["heads"]["urgency"]["per_class"]["high"]["f1_ci95"]
    assert 0.0 <= lo <= m["heads"]["urgency"]["per_class"]["high"]["f1"] <= hi <= 1.0
    for row in m["heads"]["category"]["confusion_matrix_row_normalised"]:
        assert sum(row) == pytest.approx(1.0, abs=1e-3) or sum(row) == 0
    errors = [json.loads(line) for line in (out / "b" / "dev" / "errors.jsonl").open(encoding="utf-8")]
    assert errors and all(e["gold"] != e["predicted"] and e["text"] for e in errors)
    preds = [json.loads(line) for line in (out / "b" / "dev" / "predictions.jsonl").open(encoding="utf-8")]
    assert all("review_reasons" in p and p["needs_review"] for p in preds)
    assert set(m["by_source"]) >= {"icbc_app_review", "ccf_bank_review"}
    # two bundles: the paired interval of the difference per file, and the tables in the second one's card
    paired = json.loads((out / "paired_differences.json").read_text())
    assert set(paired) == {"good", "dev"} and all(lo <= hi for d in paired.values() for lo, hi in d.values())
    assert "Paired 95 % interval of `b` − `tiny_bundle` macro-F1" in comparison
    assert main(["evaluate", "--bundle", str(ROOT / "tests/fixtures/tiny_bundle"), "--bundle", str(bundle),
                 "--data", str(ROOT / "data/labeled/dev.jsonl"), "--out", str(tmp_path / "cmp2"), "--no-plots", "--card"]) == 0
    card = (bundle / "MODEL_CARD.md").read_text(encoding="utf-8")
    beside = card.split("## Beside the previous bundle", 1)[1]
    assert "### `" in beside and "Paired 95 % interval" in beside and "truly P1 items" in beside
    load_bundle(bundle)  # the manifest follows the card
    assert main(["evaluate", "--bundle", str(bundle), "--bundle", str(bundle), "--bundle", str(bundle),
                 "--out", str(tmp_path / "three"), "--card"]) == 2

    assert main(["evaluate", "--bundle", str(bundle), "--data", str(data), "--out", str(tmp_path / "one"),
                 "--no-plots", "--card"]) == 0
    card = (bundle / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Held-out test split" in card and "good.jsonl" in card
    Classifier.load(bundle)  # the manifest was rewritten: the bundle still verifies
