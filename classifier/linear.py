"""The TF-IDF + linear baseline at inference time, in numpy only (no sklearn, no scipy).

``training/fitting/baseline.py`` fits two sklearn ``TfidfVectorizer``s (jieba word n-grams and character
n-grams), one multinomial logistic regression per head over their concatenated features, and
exports everything to one ``.npz`` file. This module loads that file and reproduces sklearn's
``predict_proba`` exactly (to float32 rounding of the stored weights):

* word vectorizer: ``normalize_text`` → jieba words (whitespace tokens dropped) → each word
  lower-cased → word n-grams joined with a single space, as sklearn's ``_word_ngrams`` does.
  (Lower-casing after segmentation keeps dictionary words such as ``U盾`` intact.)
* char vectorizer: ``normalize_text`` → ``str.lower`` → runs of 2+ whitespace characters become one
  space → character n-grams, as sklearn's ``analyzer="char"`` does.
* term counts of known terms → ``1 + ln(tf)`` (sublinear tf) → ``× idf`` → l2-normalised per
  vectorizer → concatenated (word columns first) → ``logits = x @ coef.T + intercept`` → softmax.

The file format (all arrays, loaded with ``allow_pickle=False``):

``meta``                    utf-8 JSON (uint8): format, version, heads/labels, vectorizer settings
``{vec}.vocab_bytes``       uint8: the vocabulary's terms in column order, utf-8, concatenated
``{vec}.vocab_offsets``     int64 (n_terms + 1): term ``i`` is ``vocab_bytes[off[i]:off[i+1]]``
``{vec}.idf``               float32 (n_terms,)
``{head}.coef``             float32 (n_labels, n_features), rows in ``LABELS[head]`` order
``{head}.intercept``        float32 (n_labels,); ``-inf`` for a label absent from training
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from classifier.calibration import softmax
from classifier.errors import BundleLabelMismatch, BundleManifestInvalid, BundleMissingFile
from classifier.labels import LABELS
from classifier.text.normalize import normalize_text
from classifier.text.segment import DEFAULT_USER_DICT, get_segmenter

FORMAT = "feedback-triage/linear-tfidf"
FORMAT_VERSION = 1

# sklearn's ``_VectorizerMixin._white_spaces``
_WHITE_SPACES = re.compile(r"\s\s+")


# --- analyzers (shared with training so both sides build the same terms) -----------------------
def word_ngrams(tokens: Sequence[str], ngram_range: tuple[int, int]) -> list[str]:
    """sklearn's ``_word_ngrams`` without stop words: n-grams of ``tokens`` joined by one space."""
    min_n, max_n = ngram_range
    out: list[str] = list(tokens) if min_n == 1 else []
    n_tokens = len(tokens)
    for n in range(max(min_n, 2), min(max_n + 1, n_tokens + 1)):
        for i in range(n_tokens - n + 1):
            out.append(" ".join(tokens[i : i + n]))
    return out


def char_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """sklearn's ``_char_ngrams`` (``analyzer="char"``) on already-preprocessed text."""
    text = _WHITE_SPACES.sub(" ", text)
    min_n, max_n = ngram_range
    out: list[str] = list(text) if min_n == 1 else []
    text_len = len(text)
    for n in range(max(min_n, 2), min(max_n + 1, text_len + 1)):
        for i in range(text_len - n + 1):
            out.append(text[i : i + n])
    return out


class WordTokenizer:
    """jieba words of normalized text, lower-cased after segmentation (picklable).

    Training passes this as ``TfidfVectorizer(tokenizer=..., lowercase=False)``; inference calls it
    the same way, so both sides see identical tokens.
    """

    def __init__(self, user_dict: str | Path | None = DEFAULT_USER_DICT):
        self.user_dict = str(user_dict) if user_dict else None

    def __call__(self, normalized_text: str) -> list[str]:
        words = get_segmenter(self.user_dict).words(normalized_text, normalized=True)
        return [w.lower() for w in words]


# --- the model -----------------------------------------------------------------------------------
class _Vectorizer:
    def __init__(self, settings: dict, vocab: list[str], idf: np.ndarray):
        self.name = settings["name"]
        self.analyzer = settings["analyzer"]
        self.ngram_range = tuple(settings["ngram_range"])
        self.lowercase = bool(settings.get("lowercase", False))
        self.sublinear_tf = bool(settings["sublinear_tf"])
        self.norm = settings["norm"]
        if self.analyzer not in ("word", "char") or self.norm not in ("l2", None):
            raise BundleManifestInvalid(f"unsupported vectorizer settings {settings!r}")
        self.vocab = vocab
        self.index = {term: i for i, term in enumerate(vocab)}
        self.idf = idf.astype(np.float64)

    def terms(self, normalized_text: str, tokenizer: WordTokenizer) -> list[str]:
        text = normalized_text.lower() if self.lowercase else normalized_text
        if self.analyzer == "char":
            return char_ngrams(text, self.ngram_range)
        return word_ngrams(tokenizer(text), self.ngram_range)

    def transform(self, normalized_texts: Sequence[str], tokenizer: WordTokenizer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, tf-idf value) of every non-zero feature of the texts, sorted by row then column.

        Only the n-grams and their vocabulary lookup are per text; counting, tf, idf and the l2 norm are
        one array operation over all texts (the per-text version spent as long in numpy calls on tiny
        arrays as in jieba)."""
        index, lookup = self.index, []
        for row, text in enumerate(normalized_texts):
            lookup += [(row, index[t]) for t in self.terms(text, tokenizer) if t in index]
        if not lookup:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
        pairs = np.array(lookup, dtype=np.int64)
        keys, tf = np.unique(pairs[:, 0] * len(self.vocab) + pairs[:, 1], return_counts=True)
        rows, cols = np.divmod(keys, len(self.vocab))
        tf = tf.astype(np.float64)
        if self.sublinear_tf:
            tf = np.log(tf) + 1.0
        vals = tf * self.idf[cols]
        if self.norm == "l2":
            norms = np.sqrt(np.bincount(rows, weights=vals * vals, minlength=len(normalized_texts)))
            vals /= np.where(norms > 0, norms, 1.0)[rows]
        return rows, cols, vals


class LinearTfidfModel:
    """TF-IDF features + one linear softmax layer per head, loaded from ``linear.npz``."""

    def __init__(
        self,
        meta: dict,
        vectorizers: list[_Vectorizer],
        coef: dict[str, np.ndarray],
        intercept: dict[str, np.ndarray],
        user_dict: str | Path | None = DEFAULT_USER_DICT,
    ):
        self.meta = meta
        self.vectorizers = vectorizers
        self.labels: dict[str, tuple[str, ...]] = {h: tuple(v) for h, v in meta["labels"].items()}
        self.heads: tuple[str, ...] = tuple(self.labels)
        self.tokenizer = WordTokenizer(user_dict)
        self._offsets = np.cumsum([0] + [len(v.vocab) for v in vectorizers])
        self.n_features = int(self._offsets[-1])
        # all heads' weights side by side: (n_features, sum of n_labels) for one gather per text
        self._weights = np.concatenate([coef[h].T for h in self.heads], axis=1).astype(np.float32)
        self._bias = np.concatenate([intercept[h] for h in self.heads]).astype(np.float64)
        self._slices: dict[str, slice] = {}
        start = 0
        for h in self.heads:
            self._slices[h] = slice(start, start + len(self.labels[h]))
            start += len(self.labels[h])

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, user_dict: str | Path | None = DEFAULT_USER_DICT) -> "LinearTfidfModel":
        """Load an exported model; ``user_dict`` is the jieba dictionary (a bundle's own copy)."""
        path = Path(path)
        if not path.is_file():
            raise BundleMissingFile(f"linear model file {path} not found", details={"path": str(path)})
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise BundleManifestInvalid(f"{path} is not a linear model file: {exc}") from exc
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise BundleManifestInvalid(
                f"{path}: unsupported format {meta.get('format')!r} version {meta.get('version')!r}"
            )
        for head, labels in meta["labels"].items():
            if head not in LABELS or tuple(labels) != LABELS[head]:
                raise BundleLabelMismatch(
                    f"{path}: head {head!r} was trained with labels {labels}, this code expects "
                    f"{list(LABELS.get(head, ()))}",
                    details={"head": head, "model": labels, "code": list(LABELS.get(head, ()))},
                )
        try:
            vectorizers = [
                _Vectorizer(s, _decode_vocab(arrays[f"{s['name']}.vocab_bytes"], arrays[f"{s['name']}.vocab_offsets"]),
                            arrays[f"{s['name']}.idf"])
                for s in meta["vectorizers"]
            ]
            coef = {h: arrays[f"{h}.coef"] for h in meta["labels"]}
            intercept = {h: arrays[f"{h}.intercept"] for h in meta["labels"]}
        except KeyError as exc:
            raise BundleManifestInvalid(f"{path}: missing array {exc}") from exc
        n_features = sum(len(v.vocab) for v in vectorizers)
        for h in meta["labels"]:
            if coef[h].shape != (len(meta["labels"][h]), n_features) or intercept[h].shape != (len(meta["labels"][h]),):
                raise BundleManifestInvalid(f"{path}: {h} weights have shape {coef[h].shape}, expected "
                                            f"({len(meta['labels'][h])}, {n_features})")
        return cls(meta, vectorizers, coef, intercept, user_dict)

    # -- features -------------------------------------------------------------------------------
    def features(self, text: str, normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, values) of ``text``'s non-zero features in the concatenated space."""
        _, cols, vals = self.transform([text], normalized)
        return cols, vals

    def transform(self, texts: Sequence[str], normalized: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) of the texts' non-zero features in the concatenated space (word columns
        first), sorted by row then column: a CSR matrix without scipy."""
        if not normalized:
            texts = [normalize_text(t) for t in texts]
        parts = [vec.transform(texts, self.tokenizer) for vec in self.vectorizers]
        rows = np.concatenate([r for r, _, _ in parts])
        cols = np.concatenate([c + offset for (_, c, _), offset in zip(parts, self._offsets)])
        vals = np.concatenate([v for _, _, v in parts])
        order = np.argsort(rows, kind="stable")
        return rows[order], cols[order], vals[order]

    def term(self, column: int) -> str:
        """The n-gram of a feature column (word n-grams have their words separated by spaces)."""
        k = int(np.searchsorted(self._offsets, column, side="right")) - 1
        return self.vectorizers[k].vocab[column - int(self._offsets[k])]

    # -- prediction -----------------------------------------------------------------------------
    def logits(self, texts: Iterable[str], normalized: bool = False) -> np.ndarray:
        """(n, sum of n_labels) logits of all heads side by side, heads in ``self.heads`` order."""
        # Segmentation and n-grams are per text; everything after is one array operation over all
        # texts' non-zeros: a gather of weight rows and one segment sum per logit.
        texts = list(texts)
        if not texts:
            return np.empty((0, len(self._bias)))
        rows, cols, vals = self.transform(texts, normalized)
        contrib = self._weights[cols].astype(np.float64) * vals[:, None]
        out = np.stack([np.bincount(rows, weights=contrib[:, k], minlength=len(texts))
                        for k in range(contrib.shape[1])], axis=1)
        return out + self._bias

    def predict_proba(self, texts: Iterable[str], normalized: bool = False) -> dict[str, np.ndarray]:
        """head → (n, n_labels) float64 probabilities, columns in ``LABELS[head]`` order."""
        logits = self.logits(texts, normalized)
        return {h: softmax(logits[:, s]) for h, s in self._slices.items()}

    def top_terms(
        self, text: str, head: str, label: str, k: int = 5, normalized: bool = False
    ) -> list[tuple[str, float]]:
        """The ``k`` n-grams of ``text`` pushing hardest towards ``label`` of ``head``.

        The contribution of a feature is ``x_j * (w[label, j] - mean over labels of w[:, j])`` (the
        centring removes what does not discriminate between labels). The same n-gram in the word
        and char spaces is summed. Only positive contributions are returned, largest first.
        """
        if head not in self._slices:
            raise KeyError(f"unknown head {head!r}")
        s = self._slices[head]
        j = self.labels[head].index(label)
        cols, vals = self.features(text, normalized)
        if cols.size == 0:
            return []
        w = self._weights[cols, s].astype(np.float64)
        contrib = vals * (w[:, j] - w.mean(axis=1))
        merged: dict[str, float] = {}
        for col, c in zip(cols.tolist(), contrib.tolist()):
            t = self.term(col)
            merged[t] = merged.get(t, 0.0) + c
        ranked = sorted(((t, c) for t, c in merged.items() if c > 0), key=lambda tc: -tc[1])
        return ranked[:k]


# --- (de)serialisation helpers, also used by training/fitting/baseline.py --------------------------------
def encode_vocab(vocab: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Terms in column order → (uint8 utf-8 bytes, int64 offsets of length n + 1)."""
    encoded = [t.encode("utf-8") for t in vocab]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets


def _decode_vocab(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    raw = data.tobytes()
    off = offsets.tolist()
    return [raw[off[i] : off[i + 1]].decode("utf-8") for i in range(len(off) - 1)]
