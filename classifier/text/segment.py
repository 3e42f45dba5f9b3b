"""jieba word segmentation with the financial user dictionary.

One ``jieba.Tokenizer`` per process, owned by this module: the global ``jieba`` instance would
leak user dictionaries between callers and rebuild its prefix dictionary in every worker.
"""
from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import threading
from importlib import resources
from pathlib import Path

from classifier.text.normalize import normalize_text


def _shipped_dictionary() -> Path:
    """The financial dictionary shipped inside the package (``classifier/text/lexicon/``).

    Package data, read through ``importlib.resources``, so that a regular (non-editable) install
    and the Docker image find it wherever they are started from; it used to sit in the checkout's
    ``data/lexicon/``, which an installed package cannot see (500 on /v1/insights, ``triage report``
    failing). jieba wants a file name: a zipped install gets a temporary copy kept for the process.
    """
    ref = resources.files("classifier.text") / "lexicon" / "financial_dict.txt"
    if isinstance(ref, Path):
        return ref
    stack = contextlib.ExitStack()
    atexit.register(stack.close)
    return stack.enter_context(resources.as_file(ref))


# Bundles carry their own copy (taken from this one when they are exported).
DEFAULT_USER_DICT = _shipped_dictionary()

_lock = threading.Lock()
_segmenters: dict[str, "Segmenter"] = {}  # by the dictionary's sha256
_digests: dict[tuple[str, int, int], str] = {}


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


def _key(user_dict: str | Path | None) -> str:
    """Segmenters are shared by the dictionary's content, not its path: every bundle carries its own
    copy of the same dictionary, and a jieba tokenizer costs ~70 MB, so keying by path added one per
    bundle directory a service was reloaded from (issue 28)."""
    if not user_dict:
        return ""
    path = str(user_dict)
    try:
        st = os.stat(path)
    except OSError:  # Segmenter raises the clear error for a missing dictionary
        return path
    stamp = (path, st.st_size, st.st_mtime_ns)  # the digest once per file version, not per text
    digest = _digests.get(stamp)
    if digest is None:
        with open(path, "rb") as fh:
            digest = _digests[stamp] = hashlib.sha256(fh.read()).hexdigest()
    return digest


def get_segmenter(user_dict: str | Path | None = DEFAULT_USER_DICT) -> Segmenter:
    """The process-wide segmenter for ``user_dict``'s content (built on first use)."""
    key = _key(user_dict)
    seg = _segmenters.get(key)
    if seg is None:
        with _lock:
            seg = _segmenters.get(key)
            if seg is None:
                seg = _segmenters[key] = Segmenter(user_dict)
    return seg
