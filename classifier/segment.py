"""jieba word segmentation with the financial user dictionary.

One ``jieba.Tokenizer`` per process, owned by this module: the global ``jieba`` instance would
leak user dictionaries between callers and rebuild its prefix dictionary in every worker.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from classifier.normalize import normalize_text

# The dictionary's home is data/lexicon/ in the repository; bundles carry their own copy.
DEFAULT_USER_DICT = Path(__file__).resolve().parent.parent / "data" / "lexicon" / "financial_dict.txt"

_lock = threading.Lock()
_segmenters: dict[str, "Segmenter"] = {}


class Segmenter:
    """Segments normalized text into words; thread-safe after construction."""

    def __init__(self, user_dict: str | Path | None = DEFAULT_USER_DICT):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self.user_dict = Path(user_dict) if user_dict else None
        if self.user_dict is not None:
            self._tokenizer.load_userdict(str(self.user_dict))

    def words(self, text: str, normalized: bool = False) -> list[str]:
        """Words of ``text`` (normalized first unless ``normalized``), whitespace dropped."""
        if not normalized:
            text = normalize_text(text)
        return [w for w in self._tokenizer.lcut(text, HMM=True) if w.strip()]

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Words of ``text`` exactly as given (not normalized), with their ``[start, end)`` offsets,
        whitespace dropped: for pointing at words in the text a person reads."""
        return [(w, start, end) for w, start, end in self._tokenizer.tokenize(text, HMM=True) if w.strip()]


def get_segmenter(user_dict: str | Path | None = DEFAULT_USER_DICT) -> Segmenter:
    """The process-wide segmenter for ``user_dict`` (built on first use)."""
    key = str(user_dict)
    seg = _segmenters.get(key)
    if seg is None:
        with _lock:
            seg = _segmenters.get(key)
            if seg is None:
                seg = _segmenters[key] = Segmenter(user_dict)
    return seg
