"""classifier.linear reproduces the sklearn baseline's probabilities with numpy only."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifier.errors import BundleLabelMismatch, BundleManifestInvalid, BundleMissingFile
from classifier.labels import HEADS, LABELS
from classifier.linear import LinearTfidfModel, char_ngrams, word_ngrams

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "data" / "labeled" / "train.jsonl"
DEV = ROOT / "data" / "labeled" / "dev.jsonl"

SPECIAL_TEXTS = [
    "我的帳戶被凍結了，銀行客服態度很差，要向銀保監投訴",  # traditional Chinese
    "ＡＰＰ登錄不了，Ｕ盾無法使用！！１２３",  # full-width letters, digits, punctuation
    "U盾 u盾 POS机 pos机 ATM",  # dictionary word with upper case; case folding
    "The app keeps CRASHING after the update, please fix it",  # English only
    "😡😡 转账失败了 👎👎 🙏",  # emoji
    "zxqvw 龘龘龘 𠀀𠀁",  # unseen vocabulary, astral-plane characters
    "转账   失败\t\t了\n\n怎么办\u3000\u3000？",  # whitespace runs of every kind
    "",  # empty
    " \u200b\ufeff ",  # empty after normalization
    "好",  # single character
]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from training.fitting.baseline import BaselineConfig, export_linear, fit_baseline
    from training.data.schema import read_labelled

    rows = read_labelled(TRAIN)[:600]
    model = fit_baseline(rows, BaselineConfig())
    path = export_linear(model, tmp_path_factory.mktemp("linear") / "linear.npz")
    return model, path, LinearTfidfModel.load(path)


@pytest.fixture(scope="module")
def heldout_texts():
    from training.data.schema import read_labelled

    return [r["text"] for r in read_labelled(DEV)[:150]] + SPECIAL_TEXTS


def test_probabilities_match_sklearn(fitted, heldout_texts):
    model, _, linear = fitted
    expected = model.predict_proba(heldout_texts)
    got = linear.predict_proba(heldout_texts)
    assert set(got) == set(HEADS)
    for head in HEADS:
        assert got[head].shape == (len(heldout_texts), len(LABELS[head]))
        np.testing.assert_allclose(got[head], expected[head], atol=1e-5, rtol=0)
        np.testing.assert_allclose(got[head].sum(axis=1), 1.0, atol=1e-9)


def test_features_match_sklearn_tfidf(fitted, heldout_texts):
    model, _, linear = fitted
    X = model.transform(heldout_texts).toarray()
    for i, text in enumerate(heldout_texts):
        cols, vals = linear.features(text)
        row = np.zeros(linear.n_features)
        row[cols] = vals
        np.testing.assert_allclose(row, X[i], atol=1e-6, rtol=0)


def test_normalized_flag(fitted):
    from classifier.text.normalize import normalize_text

    _, _, linear = fitted
    raw = SPECIAL_TEXTS[:3]
    a = linear.predict_proba(raw)
    b = linear.predict_proba([normalize_text(t) for t in raw], normalized=True)
    for head in HEADS:
        np.testing.assert_array_equal(a[head], b[head])


@pytest.mark.parametrize("text", ["ab  cd\t\tef\n g", "Ab C", "", "x", "零一二三四 五  六"])
@pytest.mark.parametrize("ngram_range", [(1, 3), (2, 4), (1, 1)])
def test_analyzers_match_sklearn(text, ngram_range):
    from sklearn.feature_extraction.text import TfidfVectorizer

    char = TfidfVectorizer(analyzer="char", lowercase=True, ngram_range=ngram_range).build_analyzer()
    assert char_ngrams(text.lower(), ngram_range) == char(text)
    words = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False,
                            ngram_range=ngram_range).build_analyzer()
    assert word_ngrams(text.split(), ngram_range) == words(text)


def test_empty_batch(fitted):
    _, _, linear = fitted
    out = linear.predict_proba([])
    assert {h: p.shape for h, p in out.items()} == {h: (0, len(LABELS[h])) for h in HEADS}


def test_top_terms(fitted):
    _, _, linear = fitted
    text = "银行客服态度太差了，乱扣手续费"
    terms = linear.top_terms(text, "sentiment", "negative", k=5)
    assert 0 < len(terms) <= 5
    weights = [w for _, w in terms]
    assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
    lowered = text.lower()
    for term, _ in terms:
        assert all(part in lowered for part in term.split(" "))
    assert linear.top_terms("", "category", "fees") == []
    with pytest.raises(ValueError):
        linear.top_terms(text, "category", "nope")


def test_load_errors(fitted, tmp_path):
    _, path, _ = fitted
    with pytest.raises(BundleMissingFile):
        LinearTfidfModel.load(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(BundleManifestInvalid):
        LinearTfidfModel.load(tmp_path / "junk.npz")

    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    meta["labels"]["urgency"] = ["low", "medium", "high"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    np.savez(tmp_path / "relabelled.npz", **arrays)
    with pytest.raises(BundleLabelMismatch):
        LinearTfidfModel.load(tmp_path / "relabelled.npz")


def test_runtime_imports_no_training_stack():
    code = (
        "import sys, classifier.linear\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'torch', 'training'})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
