"""TF-IDF (jieba word n-grams + character n-grams) + logistic regression per head.

Two roles: the baseline the transformer is compared with in evaluation reports, and an optional
component of the shipped bundle (``export_linear`` writes the file that ``classifier.linear``
evaluates with numpy only).

Feature extraction deliberately uses the runtime's own analyzers (``classifier.linear``): texts are
normalized once with ``normalize_text``; the word vectorizer tokenizes with
``classifier.linear.WordTokenizer`` (jieba + financial dictionary, lower-cased after segmentation)
and the char vectorizer is sklearn's ``analyzer="char"`` with ``lowercase=True``, which
``classifier.linear.char_ngrams`` reproduces. ``tests/classifier/test_linear.py`` checks that the
exported model gives sklearn's probabilities.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from classifier.errors import InvalidData, require
from classifier.labels import HEADS, LABELS
from classifier.linear import FORMAT, FORMAT_VERSION, WordTokenizer, encode_vocab
from classifier.text.normalize import normalize_text
from classifier.text.segment import DEFAULT_USER_DICT
from training.stats import macro_f1

_sklearn_text = require("sklearn.feature_extraction.text", "train")
_sklearn_linear = require("sklearn.linear_model", "train")
_sklearn_metrics = require("sklearn.metrics", "train")
_sparse = require("scipy.sparse", "train")
_threadpoolctl = require("threadpoolctl", "train")  # a scikit-learn dependency

log = logging.getLogger(__name__)

DEFAULT_C_GRID: tuple[float, ...] = (1.0, 4.0, 10.0)


@dataclass
class BaselineConfig:
    word_ngram_range: tuple[int, int] = (1, 2)
    char_ngram_range: tuple[int, int] = (1, 3)
    min_df: int = 2
    sublinear_tf: bool = True
    max_features: int | None = 60000  # per vectorizer
    C: dict[str, float] = field(default_factory=lambda: {h: 4.0 for h in HEADS})
    class_weight: str | None = "balanced"
    max_iter: int = 2000
    user_dict: str | None = str(DEFAULT_USER_DICT)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["word_ngram_range"] = list(self.word_ngram_range)
        d["char_ngram_range"] = list(self.char_ngram_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BaselineConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown baseline config keys: {sorted(unknown)}")
        d = dict(d)
        for key in ("word_ngram_range", "char_ngram_range"):
            if key in d:
                d[key] = tuple(d[key])
        if "C" in d:
            d["C"] = {**{h: 4.0 for h in HEADS}, **{h: float(c) for h, c in d["C"].items()}}
        return cls(**d)


class BaselineModel:
    """Fitted vectorizers + one ``LogisticRegression`` per head."""

    def __init__(self, config: BaselineConfig, word_vectorizer, char_vectorizer, classifiers: dict):
        self.config = config
        self.word_vectorizer = word_vectorizer
        self.char_vectorizer = char_vectorizer
        self.classifiers = classifiers  # head -> LogisticRegression

    @property
    def n_features(self) -> int:
        return len(self.word_vectorizer.vocabulary_) + len(self.char_vectorizer.vocabulary_)

    def transform(self, texts: Sequence[str], normalized: bool = False):
        """CSR matrix (n, n_features): word tf-idf columns, then char tf-idf columns."""
        if not normalized:
            texts = [normalize_text(t) for t in texts]
        return _sparse.hstack(
            [self.word_vectorizer.transform(texts), self.char_vectorizer.transform(texts)], format="csr"
        )

    def predict_proba(self, texts: Sequence[str], normalized: bool = False) -> dict[str, np.ndarray]:
        """head → (n, n_labels) probabilities, columns in ``LABELS[head]`` order."""
        X = self.transform(texts, normalized)
        return {head: _proba_in_label_order(clf, X, head) for head, clf in self.classifiers.items()}

    def predict(self, texts: Sequence[str], normalized: bool = False) -> dict[str, list[str]]:
        return {h: [LABELS[h][i] for i in p.argmax(axis=1)] for h, p in self.predict_proba(texts, normalized).items()}


# --- fitting --------------------------------------------------------------------------------------
def _make_vectorizers(config: BaselineConfig):
    common = dict(min_df=config.min_df, max_features=config.max_features, sublinear_tf=config.sublinear_tf,
                  norm="l2", use_idf=True, smooth_idf=True, dtype=np.float64)
    word = _sklearn_text.TfidfVectorizer(
        tokenizer=WordTokenizer(config.user_dict), token_pattern=None, lowercase=False,
        ngram_range=tuple(config.word_ngram_range), **common,
    )
    char = _sklearn_text.TfidfVectorizer(
        analyzer="char", lowercase=True, ngram_range=tuple(config.char_ngram_range), **common,
    )
    return word, char


def _check_rows(rows: Sequence[dict], what: str) -> None:
    if not rows:
        raise InvalidData(f"no {what} rows")
    for head in HEADS:
        if len({r[head] for r in rows}) < 2:
            raise InvalidData(f"{what} rows have fewer than two {head} labels; cannot fit a classifier")


def _fit_head(X, y: Sequence[str], C: float, config: BaselineConfig):
    clf = _sklearn_linear.LogisticRegression(
        C=C, solver="lbfgs", max_iter=config.max_iter, class_weight=config.class_weight,
    )  # lbfgs: multinomial (softmax) for 3+ classes
    # These fits are small: one BLAS/OpenMP thread is much faster than several threads that spin
    # against each other (or against a training job on the same machine) — 50x measured on 2 cores.
    with _threadpoolctl.threadpool_limits(limits=1):
        clf.fit(X, list(y))
    return clf


def _fit_features(texts: list[str], config: BaselineConfig):
    word, char = _make_vectorizers(config)
    X = _sparse.hstack([word.fit_transform(texts), char.fit_transform(texts)], format="csr")
    return word, char, X


def fit_baseline(train_rows: Sequence[dict], config: BaselineConfig | None = None) -> BaselineModel:
    """Fit the vectorizers and one classifier per head with ``config.C[head]``."""
    config = config or BaselineConfig()
    _check_rows(train_rows, "training")
    texts = [normalize_text(r["text"]) for r in train_rows]
    word, char, X = _fit_features(texts, config)
    classifiers = {h: _fit_head(X, [r[h] for r in train_rows], config.C[h], config) for h in HEADS}
    return BaselineModel(config, word, char, classifiers)


def tune_baseline(
    train_rows: Sequence[dict],
    dev_rows: Sequence[dict],
    c_grid: Iterable[float] = DEFAULT_C_GRID,
    config: BaselineConfig | None = None,
    report: Callable[[str], None] | None = None,
) -> tuple[BaselineModel, list[dict]]:
    """Fit once per C in ``c_grid`` and head; keep, per head, the C with the best dev macro-F1.

    The features do not depend on C, so they are fitted once. Ties go to the smaller C. Returns the
    model (``config.C`` set to the chosen values) and one record per trial.
    """
    config = BaselineConfig.from_dict((config or BaselineConfig()).to_dict())
    _check_rows(train_rows, "training")
    if not dev_rows:
        raise InvalidData("no dev rows to tune on")
    c_grid = sorted({float(c) for c in c_grid})
    texts = [normalize_text(r["text"]) for r in train_rows]
    word, char, X = _fit_features(texts, config)
    dev_texts = [normalize_text(r["text"]) for r in dev_rows]
    X_dev = _sparse.hstack([word.transform(dev_texts), char.transform(dev_texts)], format="csr")
    trials: list[dict] = []
    classifiers = {}
    for head in HEADS:
        y, y_dev = [r[head] for r in train_rows], [r[head] for r in dev_rows]
        best = None
        for C in c_grid:
            clf = _fit_head(X, y, C, config)
            pred = _proba_in_label_order(clf, X_dev, head).argmax(axis=1)
            f1 = macro_f1(_indices(y_dev, head), pred, len(LABELS[head]))
            acc = float((_indices(y_dev, head) == pred).mean())
            trials.append({"head": head, "C": C, "dev_macro_f1": f1, "dev_accuracy": acc, "n_iter": int(clf.n_iter_.max())})
            msg = f"tune {head:9s} C={C:<6g} dev macro-F1={f1:.4f} acc={acc:.4f}"
            log.info(msg)
            if report:
                report(msg)
            if best is None or f1 > best[0]:
                best = (f1, C, clf)
        config.C[head] = best[1]
        classifiers[head] = best[2]
        for t in trials:
            if t["head"] == head:
                t["chosen"] = t["C"] == best[1]
    return BaselineModel(config, word, char, classifiers), trials


def _proba_in_label_order(clf, X, head: str) -> np.ndarray:
    with _threadpoolctl.threadpool_limits(limits=1):
        p = clf.predict_proba(X)
    out = np.zeros((X.shape[0], len(LABELS[head])), dtype=np.float64)
    out[:, [LABELS[head].index(c) for c in clf.classes_]] = p
    return out


# --- evaluation -----------------------------------------------------------------------------------
def _indices(labels: Sequence[str], head: str) -> np.ndarray:
    return np.array([LABELS[head].index(lab) for lab in labels], dtype=np.int64)


def evaluate_baseline(model: BaselineModel, rows: Sequence[dict]) -> dict:
    """Per head: accuracy, macro-F1 (over all of the head's labels: training/stats.py), per-class
    precision/recall/F1/support in ``LABELS`` order; plus the majority-class macro-F1."""
    preds = model.predict([r["text"] for r in rows])
    out: dict = {"n": len(rows)}
    for head in HEADS:
        y = [r[head] for r in rows]
        p = preds[head]
        labels = list(LABELS[head])
        prec, rec, f1, sup = _sklearn_metrics.precision_recall_fscore_support(y, p, labels=labels, zero_division=0)
        majority = max(set(y), key=y.count)
        y_idx, k = _indices(y, head), len(labels)
        out[head] = {
            "accuracy": float(_sklearn_metrics.accuracy_score(y, p)),
            "macro_f1": macro_f1(y_idx, _indices(p, head), k),
            "per_class": {
                lab: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(sup[i])}
                for i, lab in enumerate(labels)
            },
            "majority_macro_f1": macro_f1(y_idx, np.full(len(y), labels.index(majority)), k),
        }
    return out


# --- export ---------------------------------------------------------------------------------------
def _vectorizer_settings(name: str, vec) -> dict:
    return {
        "name": name,
        "analyzer": "char" if vec.analyzer == "char" else "word",
        "ngram_range": list(vec.ngram_range),
        "lowercase": bool(vec.lowercase),
        "lowercase_tokens": name == "word",  # WordTokenizer lower-cases after segmentation
        "sublinear_tf": bool(vec.sublinear_tf),
        "norm": vec.norm,
        "n_terms": len(vec.vocabulary_),
    }


def _head_weights(clf, head: str, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """(coef (n_labels, n_features), intercept (n_labels,)) in LABELS order, softmax-equivalent."""
    labels = LABELS[head]
    coef = np.zeros((len(labels), n_features), dtype=np.float64)
    intercept = np.full(len(labels), -np.inf)  # a label never seen in training gets probability 0
    rows = [labels.index(c) for c in clf.classes_]
    if len(clf.classes_) == 2:  # binary LR: p(class 1) = sigmoid(z) = softmax([0, z])[1]
        coef[rows[1]] = clf.coef_[0]
        intercept[rows[1]] = clf.intercept_[0]
        intercept[rows[0]] = 0.0
    else:
        coef[rows] = clf.coef_
        intercept[rows] = clf.intercept_
    return coef.astype(np.float32), intercept.astype(np.float32)


def export_linear(model: BaselineModel, path: str | Path, extra_meta: dict | None = None) -> Path:
    """Write the single ``.npz`` file that ``classifier.linear.LinearTfidfModel.load`` reads."""
    import sklearn

    path = Path(path)
    vecs = [("word", model.word_vectorizer), ("char", model.char_vectorizer)]
    arrays: dict[str, np.ndarray] = {}
    for name, vec in vecs:
        vocab = [None] * len(vec.vocabulary_)
        for term, col in vec.vocabulary_.items():
            vocab[col] = term
        arrays[f"{name}.vocab_bytes"], arrays[f"{name}.vocab_offsets"] = encode_vocab(vocab)
        arrays[f"{name}.idf"] = vec.idf_.astype(np.float32)
    n_features = model.n_features
    for head in HEADS:
        arrays[f"{head}.coef"], arrays[f"{head}.intercept"] = _head_weights(model.classifiers[head], head, n_features)
    config = model.config.to_dict()
    config["user_dict"] = Path(config["user_dict"]).name if config["user_dict"] else None
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "labels": {h: list(LABELS[h]) for h in HEADS},
        "vectorizers": [_vectorizer_settings(name, vec) for name, vec in vecs],
        "config": config,
        "sklearn_version": sklearn.__version__,
        **(extra_meta or {}),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8).copy()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)
    return path
