"""The TF-IDF + logistic regression baseline: fitting, tuning, evaluation, export, CLI."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from classifier.labels import HEADS, LABELS  # noqa: E402
from classifier.linear import LinearTfidfModel  # noqa: E402
from training.fitting.baseline import (  # noqa: E402
    BaselineConfig,
    evaluate_baseline,
    export_linear,
    fit_baseline,
    tune_baseline,
)
from training.data.schema import read_labelled  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "data" / "labeled" / "train.jsonl"
DEV = ROOT / "data" / "labeled" / "dev.jsonl"


@pytest.fixture(scope="module")
def data():
    return read_labelled(TRAIN)[:1000], read_labelled(DEV)[:400]


@pytest.fixture(scope="module")
def model(data):
    return fit_baseline(data[0])


def test_beats_majority_class(model, data):
    metrics = evaluate_baseline(model, data[1])
    assert metrics["n"] == len(data[1])
    for head in HEADS:
        m = metrics[head]
        assert list(m["per_class"]) == list(LABELS[head])
        assert m["macro_f1"] > m["majority_macro_f1"] + 0.1, (head, m)
        assert 0 <= m["accuracy"] <= 1


def test_predict_proba_in_label_order(model, data):
    texts = [r["text"] for r in data[1][:20]]
    proba = model.predict_proba(texts)
    for head in HEADS:
        assert proba[head].shape == (20, len(LABELS[head]))
        np.testing.assert_allclose(proba[head].sum(axis=1), 1.0)
        clf = model.classifiers[head]
        # the label columns are the classifier's classes, permuted into LABELS order
        raw = clf.predict_proba(model.transform(texts))
        for j, label in enumerate(clf.classes_):
            np.testing.assert_array_equal(proba[head][:, LABELS[head].index(label)], raw[:, j])
    assert set(model.predict(texts)["urgency"]) <= set(LABELS["urgency"])


def test_export_round_trip(model, data, tmp_path):
    path = export_linear(model, tmp_path / "sub" / "linear.npz", extra_meta={"n_train": 1000})
    assert path.is_file() and path.stat().st_size < 5_000_000
    with np.load(path, allow_pickle=False) as npz:
        assert npz["category.coef"].dtype == np.float32
        assert npz["word.idf"].dtype == np.float32
    linear = LinearTfidfModel.load(path)
    assert linear.labels == {h: LABELS[h] for h in HEADS}
    assert linear.n_features == model.n_features
    assert linear.meta["n_train"] == 1000 and linear.meta["config"]["C"] == model.config.C
    assert linear.meta["config"]["user_dict"] == "financial_dict.txt"
    word_vocab = linear.vectorizers[0].vocab
    assert {t: i for i, t in enumerate(word_vocab)} == model.word_vectorizer.vocabulary_
    texts = [r["text"] for r in data[1][:50]]
    expected, got = model.predict_proba(texts), linear.predict_proba(texts)
    for head in HEADS:
        np.testing.assert_allclose(got[head], expected[head], atol=1e-5, rtol=0)


def test_missing_class_gets_zero_probability(data, tmp_path):
    # no "other" category (3-class softmax) and no positive sentiment (binary sklearn model)
    rows = [r for r in data[0] if r["category"] != "other" and r["sentiment"] != "positive"][:300]
    model = fit_baseline(rows)
    assert model.classifiers["sentiment"].coef_.shape[0] == 1
    texts = [r["text"] for r in data[1][:10]]
    proba = model.predict_proba(texts)
    assert (proba["category"][:, LABELS["category"].index("other")] == 0).all()
    assert (proba["sentiment"][:, LABELS["sentiment"].index("positive")] == 0).all()
    linear = LinearTfidfModel.load(export_linear(model, tmp_path / "linear.npz"))
    got = linear.predict_proba(texts)
    for head in HEADS:
        np.testing.assert_allclose(got[head], proba[head], atol=1e-5, rtol=0)


def test_config_round_trip():
    config = BaselineConfig(word_ngram_range=(1, 3), C={"category": 10.0, "sentiment": 1.0, "urgency": 4.0})
    again = BaselineConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert BaselineConfig.from_dict({"C": {"urgency": 1}}).C == {"category": 4.0, "sentiment": 4.0, "urgency": 1.0}
    with pytest.raises(ValueError):
        BaselineConfig.from_dict({"c": 1})


def test_tune_chooses_best_c_per_head(data):
    train, dev = data[0][:500], data[1][:200]
    model, trials = tune_baseline(train, dev, c_grid=(1, 10))
    assert len(trials) == 2 * len(HEADS)
    for head in HEADS:
        mine = [t for t in trials if t["head"] == head]
        chosen = [t for t in mine if t["chosen"]]
        assert len(chosen) == 1
        assert chosen[0]["dev_macro_f1"] == max(t["dev_macro_f1"] for t in mine)
        assert model.config.C[head] == chosen[0]["C"]
        assert model.classifiers[head].C == chosen[0]["C"]


def test_cli(tmp_path, data):
    from training.cli.baseline import register

    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data[0][:400]), encoding="utf-8")
    dev.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data[1][:100]), encoding="utf-8")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(["baseline", "--train", str(train), "--dev", str(dev), "--out", str(out), "--c-grid", "4"])
    assert args.func(args) == 0
    metrics = json.loads((out / "baseline_metrics.json").read_text(encoding="utf-8"))
    assert set(HEADS) <= set(metrics["dev"]) and metrics["n_train"] == 400
    assert LinearTfidfModel.load(out / "linear.npz").n_features == metrics["n_features"]
